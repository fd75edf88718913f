"""GPU arrays from other frameworks, without a copy.

Reads a CUDA array's pointer, shape, dtype and strides from the
``__cuda_array_interface__`` (CuPy, PyTorch, Numba) or from a DLPack capsule
(``__dlpack__`` / ``__dlpack_device__``), and allocates outputs with the
input's own framework. Nothing here copies or moves data.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .errors import InvalidArgument, Unsupported

# DLPack device types (dlpack.h).
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13
# DLPack dtype codes.
_DL_INT, _DL_UINT, _DL_FLOAT = 0, 1, 2


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


_capsule_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_get_pointer.restype = ctypes.c_void_p
_capsule_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


@dataclass
class DeviceArray:
    """A borrowed view of a GPU array: valid while ``owner`` (and ``keepalive``) live."""

    pointer: int
    shape: Tuple[int, ...]
    dtype: np.dtype
    device: int
    contiguous: bool
    owner: Any
    keepalive: Any = None  # e.g. the DLPack capsule whose deleter frees the view


def _has_cuda_array_interface(x: Any) -> bool:
    """hasattr() that also counts a CUDA array refusing to export itself (PyTorch
    raises RuntimeError for tensors that require grad) as one: describe() then
    reports the refusal."""
    try:
        getattr(x, "__cuda_array_interface__")
    except AttributeError:
        return False
    except Exception:
        return True
    return True


def is_device_array(x: Any) -> bool:
    """True for objects that describe CUDA memory (and are not numpy arrays)."""
    if isinstance(x, np.ndarray):
        return False
    if _has_cuda_array_interface(x):
        return True
    device_of = getattr(x, "__dlpack_device__", None)
    if device_of is None:
        return False
    try:
        kind, _ = device_of()
    except Exception:
        return False
    return int(kind) in (_DL_CUDA, _DL_CUDA_MANAGED)


def _c_contiguous(shape: Tuple[int, ...], strides: Optional[Tuple[int, ...]],
                  unit: int = 1) -> bool:
    """Row-major without gaps; strides in multiples of `unit` (1: elements, as in
    DLPack; the item size: bytes, as in the CUDA array interface). The stride of
    an axis of size 1 does not matter."""
    if strides is None:
        return True
    expected = unit
    for size, stride in zip(reversed(shape), reversed(strides)):
        if size != 1 and stride != expected:
            return False
        expected *= size
    return True


def _from_cuda_array_interface(x: Any) -> DeviceArray:
    try:
        cai = x.__cuda_array_interface__
    except Exception as exc:  # e.g. torch refuses tensors that require grad
        raise InvalidArgument(f"cannot read the GPU array's __cuda_array_interface__: {exc}") \
            from exc
    shape = tuple(int(s) for s in cai["shape"])
    dtype = np.dtype(cai["typestr"])
    pointer = int(cai["data"][0] or 0)
    strides = cai.get("strides")
    contiguous = _c_contiguous(shape, None if strides is None else tuple(map(int, strides)),
                               dtype.itemsize)
    return DeviceArray(pointer, shape, dtype, _device_ordinal(x), contiguous, x)


def _device_ordinal(x: Any) -> int:
    """The CUDA device of an array, from DLPack or the framework's attributes."""
    device_of = getattr(x, "__dlpack_device__", None)
    if device_of is not None:
        try:
            return int(device_of()[1])
        except Exception:
            pass
    device = getattr(x, "device", None)
    for attr in ("index", "id"):  # torch.device.index, cupy Device.id
        value = getattr(device, attr, None)
        if isinstance(value, int):
            return value
    return 0


_DTYPES: Dict[Tuple[int, int], np.dtype] = {
    (_DL_FLOAT, 32): np.dtype(np.float32), (_DL_FLOAT, 64): np.dtype(np.float64),
    (_DL_FLOAT, 16): np.dtype(np.float16), (_DL_UINT, 8): np.dtype(np.uint8),
    (_DL_INT, 32): np.dtype(np.int32), (_DL_INT, 64): np.dtype(np.int64),
}


def _from_dlpack(x: Any, stream: Optional[int]) -> DeviceArray:
    # With `stream`, the producer orders its pending work before that stream.
    try:
        capsule = x.__dlpack__() if stream is None else x.__dlpack__(stream=stream)
    except Exception as exc:
        raise InvalidArgument(f"cannot export the GPU array through DLPack: {exc}") from exc
    address = _capsule_get_pointer(capsule, b"dltensor")
    managed = _DLManagedTensor.from_address(address)
    t = managed.dl_tensor
    shape = tuple(int(t.shape[i]) for i in range(t.ndim))
    key = (int(t.dtype.code), int(t.dtype.bits))
    if t.dtype.lanes != 1 or key not in _DTYPES:
        raise InvalidArgument(f"unsupported DLPack dtype code {key[0]} bits {key[1]} "
                              f"lanes {t.dtype.lanes}")
    strides = None if not t.strides else tuple(int(t.strides[i]) for i in range(t.ndim))
    pointer = int(t.data or 0) + int(t.byte_offset)
    # The capsule is not renamed "used_dltensor": its own destructor calls
    # the producer's deleter when we drop it after the run.
    return DeviceArray(pointer, shape, _DTYPES[key], int(t.device.device_id),
                       _c_contiguous(shape, strides), x, keepalive=capsule)


def describe(x: Any, stream: Optional[int] = None) -> DeviceArray:
    """The pointer, shape, dtype and device of a CUDA array, without copying it."""
    if _has_cuda_array_interface(x):
        return _from_cuda_array_interface(x)
    return _from_dlpack(x, stream)


def framework_of(x: Any) -> str:
    """"torch", "cupy" or the name of the array's top-level module."""
    return type(x).__module__.split(".")[0]


def current_stream(x: Any) -> Optional[Tuple[int, Any]]:
    """The framework's current CUDA stream for x's device: (handle, stream object)."""
    framework = framework_of(x)
    if framework == "torch":
        import torch  # type: ignore[import-not-found]

        s = torch.cuda.current_stream(x.device)
        return int(s.cuda_stream), s
    if framework == "cupy":
        import cupy  # type: ignore[import-not-found]

        with cupy.cuda.Device(_device_ordinal(x)):
            s = cupy.cuda.get_current_stream()
        return int(s.ptr), s
    return None


def empty_like_framework(x: Any, shape: Tuple[int, ...]) -> Any:
    """A new float32 GPU array of `shape` on x's device, from x's framework."""
    framework = framework_of(x)
    if framework == "torch":
        import torch  # type: ignore[import-not-found]

        return torch.empty(shape, dtype=torch.float32, device=x.device)
    if framework == "cupy":
        import cupy  # type: ignore[import-not-found]

        with cupy.cuda.Device(_device_ordinal(x)):
            return cupy.empty(shape, dtype=cupy.float32)
    raise Unsupported(
        f"cannot allocate the output for a {type(x).__module__}.{type(x).__name__} input: "
        f"pass out= (a float32 GPU array of shape {shape})")
