"""sqz: Python bindings for libsqz, a SqueezeNet inference engine.

    import sqz
    model = sqz.Model.load("v10.sqzw")            # or Model.builtin("squeezenet1_1")
    with model.engine(backend="cpu", max_batch=8) as engine:
        logits = engine.run(batch)                 # float32 (N, 3, H, W) -> (N, classes)
        top5 = engine.classify(["photo.jpg"])      # [(index, label, prob), ...] per image

The bindings are pure Python over ctypes; libsqz is found through
SQZ_LIBRARY, a build/ tree, or an installed library (see sqz._library).
"""

from __future__ import annotations

from . import _capi
from .batcher import Batcher
from .engine import Engine, Prediction, top_k
from .errors import (Cancelled, DeviceError, Error, FormatError, InternalError, InvalidArgument,
                     IOError, NoDevice, OutOfMemory, QueueFull, Timeout, Unsupported)
from .images import decode_image, formats as image_formats, load_image, resize_image
from .model import Model
from .types import Bypass, LayerInfo, LayerKind, MemoryReport, Preprocess

__version__ = "0.1.0"

__all__ = [
    "Batcher", "Bypass", "Cancelled", "DeviceError", "Engine", "Error", "FormatError", "IOError",
    "InternalError", "InvalidArgument", "LayerInfo", "LayerKind", "MemoryReport", "Model",
    "NoDevice", "OutOfMemory", "Prediction", "Preprocess", "QueueFull", "Timeout", "Unsupported",
    "backend_is_built", "decode_image", "image_formats", "library_path", "library_version",
    "load_image", "resize_image", "top_k",
]


def library_version() -> str:
    """The loaded libsqz's version, "MAJOR.MINOR.PATCH"."""
    return _capi.api().sqz_version().decode()


def library_path() -> str:
    """Where the loaded libsqz came from."""
    return _capi.api().path


def backend_is_built(backend: str) -> bool:
    """Whether the loaded library contains a backend's code ("cpu", "fused", ...)."""
    import ctypes

    value = ctypes.c_int()
    _capi.check(_capi.api().sqz_backend_parse(backend.encode(), ctypes.byref(value)))
    return bool(_capi.api().sqz_backend_is_built(value.value))
