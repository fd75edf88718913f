"""ctypes declarations of include/sqz.h: structures and function prototypes.

Only this module knows the C layout. Every function gets explicit argtypes
and restype so that a wrong call raises in Python instead of corrupting
memory. Enums are C ints.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any
from ctypes import (
    POINTER,
    Structure,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_size_t,
    c_uint8,
    c_uint64,
    c_void_p,
)

from . import _library

c_int_p = POINTER(c_int)
c_float_p = POINTER(c_float)
c_uint8_p = POINTER(c_uint8)


class SqzMetaparams(Structure):
    _fields_ = [
        ("base_e", c_int),
        ("incr_e", c_int),
        ("freq", c_int),
        ("pct_3x3", c_double),
        ("squeeze_ratio", c_double),
        ("bypass", c_int),
        ("num_classes", c_int),
        ("input_size", c_int),
    ]


class SqzLayerInfo(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("kind", c_int),
        ("in_channels", c_int),
        ("in_height", c_int),
        ("in_width", c_int),
        ("out_channels", c_int),
        ("out_height", c_int),
        ("out_width", c_int),
        ("kernel", c_int),
        ("stride", c_int),
        ("pad", c_int),
        ("relu", c_int),
        ("squeeze", c_int),
        ("expand1x1", c_int),
        ("expand3x3", c_int),
        ("bypass", c_int),
        ("params", c_uint64),
        ("macs", c_uint64),
    ]


class SqzTensorInfo(Structure):
    _fields_ = [
        ("name", c_char_p),
        ("ndim", c_int),
        ("dims", c_int * 4),
        ("count", c_size_t),
    ]


class SqzPreprocess(Structure):
    _fields_ = [
        ("resize_mode", c_int),
        ("resize_size", c_int),
        ("channel_order", c_int),
        ("mean", c_float * 3),
        ("scale", c_float * 3),
    ]


class SqzEngineOptions(Structure):
    _fields_ = [
        ("backend", c_int),
        ("precision", c_int),
        ("device", c_int),
        ("max_batch", c_int),
        ("stream", c_void_p),
        ("cuda_graphs", c_int),
        ("cpu_threads", c_int),
        ("allow_tf32", c_int),
        ("workspace_limit", c_size_t),
    ]


class SqzMemoryReport(Structure):
    _fields_ = [
        ("weight_bytes", c_size_t),
        ("activation_bytes", c_size_t),
        ("workspace_bytes", c_size_t),
        ("staging_bytes", c_size_t),
    ]


class SqzIo(Structure):
    _fields_ = [
        ("batch", c_int),
        ("input_format", c_int),
        ("input", c_void_p),
        ("output_kind", c_int),
        ("output", c_void_p),
    ]


MAX_PREFERRED_BATCH_SIZES = 8


class SqzBatcherOptions(Structure):
    _fields_ = [
        ("engine", SqzEngineOptions),
        ("instances", c_int),
        ("max_batch", c_int),
        ("max_delay_us", c_int),
        ("preferred_batch_sizes", c_int * MAX_PREFERRED_BATCH_SIZES),
        ("max_queue", c_int),
        ("output_kind", c_int),
    ]


class SqzRequest(Structure):
    _fields_ = [
        ("kind", c_int),
        ("data", c_void_p),
        ("size", c_size_t),
        ("output", c_void_p),
        ("timeout_us", ctypes.c_int64),
        ("done", c_void_p),
        ("user_data", c_void_p),
    ]


class SqzBatcherStats(Structure):
    _fields_ = [
        ("accepted", c_uint64),
        ("refused", c_uint64),
        ("succeeded", c_uint64),
        ("failed", c_uint64),
        ("timed_out", c_uint64),
        ("cancelled", c_uint64),
        ("batches", c_uint64),
        ("queued", c_int),
        ("running", c_int),
        ("queue_us_p50", c_double),
        ("queue_us_p99", c_double),
        ("run_us_p50", c_double),
        ("run_us_p99", c_double),
    ]


class SqzImage(Structure):
    _fields_ = [
        ("width", c_int),
        ("height", c_int),
        ("pixels", c_uint8_p),
    ]


# Enum values, as in sqz.h.
INPUT_F32_NCHW, INPUT_F32_NHWC, INPUT_U8_RGB = 0, 1, 2
OUTPUT_LOGITS, OUTPUT_PROBS = 0, 1
REQUEST_F32_NCHW, REQUEST_F32_NHWC, REQUEST_U8_RGB, REQUEST_ENCODED = 0, 1, 2, 3

_P = c_void_p  # opaque handles: sqz_model *, sqz_engine *
_PP = POINTER(c_void_p)

# name: (restype, argtypes)
_PROTOTYPES = {
    "sqz_status_string": (c_char_p, [c_int]),
    "sqz_last_error": (c_char_p, []),
    "sqz_version": (c_char_p, []),
    "sqz_metaparams_default": (SqzMetaparams, []),
    "sqz_model_builtin": (c_int, [c_char_p, c_uint64, _PP]),
    "sqz_model_builtin_names": (POINTER(c_char_p), []),
    "sqz_model_from_metaparams": (c_int, [POINTER(SqzMetaparams), c_uint64, _PP]),
    "sqz_model_load": (c_int, [c_char_p, _PP]),
    "sqz_model_save": (c_int, [_P, c_char_p]),
    "sqz_model_free": (None, [_P]),
    "sqz_model_load_labels": (c_int, [_P, c_char_p]),
    "sqz_model_set_input_size": (c_int, [_P, c_int, c_int]),
    "sqz_model_set_labels": (c_int, [_P, POINTER(c_char_p), POINTER(c_char_p)]),
    "sqz_model_name": (c_char_p, [_P]),
    "sqz_model_input_shape": (None, [_P, c_int_p, c_int_p, c_int_p]),
    "sqz_model_num_classes": (c_int, [_P]),
    "sqz_model_param_count": (c_uint64, [_P]),
    "sqz_model_macs": (c_uint64, [_P]),
    "sqz_model_label": (c_char_p, [_P, c_int]),
    "sqz_model_label_id": (c_char_p, [_P, c_int]),
    "sqz_model_find_label_id": (c_int, [_P, c_char_p]),
    "sqz_model_num_layers": (c_int, [_P]),
    "sqz_model_layer": (c_int, [_P, c_int, POINTER(SqzLayerInfo)]),
    "sqz_model_create": (c_int, [c_char_p, c_int, c_int, POINTER(SqzLayerInfo), c_int, _PP]),
    "sqz_model_num_tensors": (c_int, [_P]),
    "sqz_model_tensor": (c_int, [_P, c_int, POINTER(SqzTensorInfo), POINTER(c_float_p)]),
    "sqz_model_set_tensor": (c_int, [_P, c_char_p, c_float_p, c_size_t]),
    "sqz_model_preprocess": (None, [_P, POINTER(SqzPreprocess)]),
    "sqz_model_set_preprocess": (c_int, [_P, POINTER(SqzPreprocess)]),
    "sqz_backend_name": (c_char_p, [c_int]),
    "sqz_backend_parse": (c_int, [c_char_p, c_int_p]),
    "sqz_precision_name": (c_char_p, [c_int]),
    "sqz_precision_parse": (c_int, [c_char_p, c_int_p]),
    "sqz_backend_is_built": (c_int, [c_int]),
    "sqz_engine_options_default": (SqzEngineOptions, []),
    "sqz_engine_create": (c_int, [_P, POINTER(SqzEngineOptions), _PP]),
    "sqz_engine_free": (None, [_P]),
    "sqz_engine_backend": (c_int, [_P]),
    "sqz_engine_describe": (c_char_p, [_P]),
    "sqz_engine_memory": (c_int, [_P, POINTER(SqzMemoryReport)]),
    "sqz_engine_set_stream": (c_int, [_P, c_void_p]),
    "sqz_engine_run_async": (c_int, [_P, POINTER(SqzIo)]),
    "sqz_engine_synchronize": (c_int, [_P]),
    "sqz_top_k": (c_int, [c_float_p, c_int, c_int, c_int_p, c_float_p]),
    "sqz_image_load": (c_int, [c_char_p, POINTER(POINTER(SqzImage))]),
    "sqz_image_decode": (c_int, [c_void_p, c_size_t, POINTER(POINTER(SqzImage))]),
    "sqz_image_free": (None, [POINTER(SqzImage)]),
    "sqz_image_format_is_built": (c_int, [c_char_p]),
    "sqz_image_resize": (c_int, [POINTER(SqzImage), c_int, c_int, c_uint8_p]),
    "sqz_image_prepare": (c_int, [_P, POINTER(SqzImage), c_uint8_p]),
    "sqz_batcher_options_default": (SqzBatcherOptions, []),
    "sqz_batcher_create": (c_int, [_P, POINTER(SqzBatcherOptions), _PP]),
    "sqz_batcher_submit": (c_int, [_P, POINTER(SqzRequest)]),
    "sqz_batcher_close": (c_int, [_P, c_int]),
    "sqz_batcher_free": (None, [_P]),
    "sqz_batcher_get_stats": (c_int, [_P, POINTER(SqzBatcherStats)]),
    "sqz_batcher_batch_sizes": (c_int, [_P, POINTER(c_uint64), c_int]),
    "sqz_batcher_get_options": (SqzBatcherOptions, [_P]),
    "sqz_batcher_describe": (c_char_p, [_P]),
}


class _Api:
    """The loaded library's functions as attributes, prototypes applied."""

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any: ...

    def __init__(self) -> None:
        self.lib, self.path = _library.load()
        for name, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(self.lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name, fn)


_api = None


def api() -> _Api:
    """The library, loaded on first use (so importing sqz never fails)."""
    global _api
    if _api is None:
        _api = _Api()
    return _api


def float_ptr(address: int) -> ctypes._Pointer:  # type: ignore[name-defined]
    return ctypes.cast(c_void_p(address), c_float_p)


def uint8_ptr(address: int) -> ctypes._Pointer:  # type: ignore[name-defined]
    return ctypes.cast(c_void_p(address), c_uint8_p)


def check(status: int, context: str = "") -> None:
    """Raises the sqz exception for a failed call, with the library's message."""
    if status == 0:
        return
    from .errors import error_for_status

    raw = api().sqz_last_error()
    detail = raw.decode("utf-8", "replace") if raw else ""
    if not detail:
        detail = api().sqz_status_string(status).decode()
    raise error_for_status(status, f"{context}: {detail}" if context else detail)


def text(raw: "bytes | None") -> "str | None":
    """A C string owned by the library as a Python str (None stays None)."""
    return None if raw is None else raw.decode("utf-8", "replace")
