"""Images through the library's decoders and resizer, as numpy arrays.

An image here is a numpy uint8 array of shape (height, width, 3), RGB,
rows top to bottom: the layout of sqz_image. The library decodes PPM/PGM
always and JPEG/PNG when it was built with them.
"""

from __future__ import annotations

import ctypes
import os
from typing import List, Union

import numpy as np

from . import _capi
from .errors import InvalidArgument

PathLike = Union[str, "os.PathLike[str]"]
#: What classify() and prepare() accept as one image: a file path, the
#: encoded bytes of a file, or a decoded uint8 (H, W, 3) array.
ImageSource = Union[PathLike, bytes, np.ndarray]


def formats() -> List[str]:
    """The image formats this build of the library reads."""
    lib = _capi.api()
    return [f for f in ("ppm", "pgm", "jpeg", "png")
            if lib.sqz_image_format_is_built(f.encode())]


def _take(ptr: "ctypes._Pointer[_capi.SqzImage]") -> np.ndarray:
    """Copies an sqz_image into a numpy array and frees the image."""
    lib = _capi.api()
    try:
        img = ptr.contents
        size = img.width * img.height * 3
        buf = ctypes.string_at(img.pixels, size)
        return np.frombuffer(buf, dtype=np.uint8).reshape(img.height, img.width, 3).copy()
    finally:
        lib.sqz_image_free(ptr)


def load_image(path: PathLike) -> np.ndarray:
    """Reads an image file (format recognised by content) as (H, W, 3) uint8 RGB."""
    lib = _capi.api()
    out = ctypes.POINTER(_capi.SqzImage)()
    _capi.check(lib.sqz_image_load(os.fsencode(path), ctypes.byref(out)))
    return _take(out)


def decode_image(data: bytes) -> np.ndarray:
    """Decodes an encoded image held in memory, as :func:`load_image`."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidArgument(f"expected bytes, got {type(data).__name__}")
    lib = _capi.api()
    raw = bytes(data)
    out = ctypes.POINTER(_capi.SqzImage)()
    _capi.check(lib.sqz_image_decode(raw, len(raw), ctypes.byref(out)))
    return _take(out)


def check_image_array(image: np.ndarray) -> np.ndarray:
    """A C-contiguous (H, W, 3) uint8 array, or InvalidArgument saying what is wrong."""
    if not isinstance(image, np.ndarray):
        raise InvalidArgument(f"expected a numpy image array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InvalidArgument(f"an image must be uint8 (H, W, 3) RGB, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise InvalidArgument(f"an image must have shape (H, W, 3), got {image.shape}")
    # A host image is ours to copy: decoded pixels are always contiguous and
    # this only affects views such as img[:, ::-1].
    return np.ascontiguousarray(image)


def as_c_image(image: np.ndarray) -> _capi.SqzImage:
    """An sqz_image that borrows the pixels of a checked contiguous array."""
    c = _capi.SqzImage()
    c.height, c.width = int(image.shape[0]), int(image.shape[1])
    c.pixels = _capi.uint8_ptr(image.ctypes.data)
    return c


def to_array(source: ImageSource) -> np.ndarray:
    """Any ImageSource as a decoded (H, W, 3) uint8 array."""
    if isinstance(source, np.ndarray):
        return check_image_array(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_image(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        return load_image(source)
    raise InvalidArgument(
        f"an image is a file path, encoded bytes or a uint8 (H, W, 3) array; "
        f"got {type(source).__name__}")


def resize_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize (pixel centres aligned, no antialiasing) to (height, width, 3)."""
    src = check_image_array(image)
    out = np.empty((height, width, 3), dtype=np.uint8)
    c = as_c_image(src)
    _capi.check(_capi.api().sqz_image_resize(ctypes.byref(c), int(width), int(height),
                                              _capi.uint8_ptr(out.ctypes.data)))
    return out
