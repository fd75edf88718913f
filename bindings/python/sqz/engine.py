"""sqz.Engine: runs a model on one backend for batches up to max_batch."""

from __future__ import annotations

import ctypes
import os
import threading
from contextlib import contextmanager
from typing import Any, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _capi, _device_arrays, images
from .errors import InvalidArgument
from .model import Model
from .types import MemoryReport

_OUTPUTS = {"logits": _capi.OUTPUT_LOGITS, "probs": _capi.OUTPUT_PROBS}


class Prediction(NamedTuple):
    """One of an image's top classes: (index, label, prob); label is None without labels."""

    index: int  # type: ignore[assignment]  # shadows tuple.index, as intended
    label: Optional[str]
    prob: float


def stream_handle(stream: Any) -> Optional[int]:
    """A cudaStream_t as an int from an int, or an object with .cuda_stream (torch)
    or .ptr (CuPy); None stays None."""
    if stream is None:
        return None
    for attr in ("cuda_stream", "ptr"):
        value = getattr(stream, attr, None)
        if value is not None:
            return int(value)
    if isinstance(stream, (int, np.integer)) and not isinstance(stream, bool):
        if stream < 0:
            raise InvalidArgument(f"a stream handle is >= 0, got {stream}")
        return int(stream)
    raise InvalidArgument("stream must be an int handle (a cudaStream_t) or an object with "
                          f".cuda_stream or .ptr, got {type(stream).__name__}")


class Engine:
    """An ``sqz_engine``: a model planned for one backend, precision and max batch.

    All memory is allocated when the engine is made; runs allocate nothing
    in the library. The engine uses the model's input size at creation and
    keeps the model alive. One thread uses an engine at a time (calls from
    several threads are serialised by a lock); make one engine per thread
    to run concurrently.

    Backends: "auto" (the best one built and usable: fused, cudnn, cpu),
    "cpu", "cudnn", "unfused", "fused". Precisions: "fp32", "fp16" (GPU).
    ``stream``: a CUDA stream the engine enqueues on (int handle, or an
    object with .cuda_stream or .ptr), which must outlive the engine; None
    for a stream the engine owns.
    """

    def __init__(self, model: Model, backend: str = "auto", precision: str = "fp32",
                 max_batch: int = 1, device: int = 0, stream: Any = None,
                 cuda_graphs: bool = True, cpu_threads: int = 0, allow_tf32: bool = False,
                 workspace_limit: int = 0) -> None:
        lib = _capi.api()
        self._handle: Optional[int] = None
        self._model = model
        self._lock = threading.RLock()
        opts = lib.sqz_engine_options_default()
        b, p = ctypes.c_int(), ctypes.c_int()
        _capi.check(lib.sqz_backend_parse(str(backend).encode(), ctypes.byref(b)))
        _capi.check(lib.sqz_precision_parse(str(precision).encode(), ctypes.byref(p)))
        opts.backend, opts.precision = b.value, p.value
        opts.device = int(device)
        opts.max_batch = int(max_batch)
        self._stream_handle = stream_handle(stream)
        self._stream_ref = stream  # the caller's stream object must outlive its use
        opts.stream = self._stream_handle or None
        opts.cuda_graphs = 1 if cuda_graphs else 0
        opts.cpu_threads = int(cpu_threads)
        opts.allow_tf32 = 1 if allow_tf32 else 0
        opts.workspace_limit = int(workspace_limit)

        model_ptr = model._register_engine(self)
        out = ctypes.c_void_p()
        try:
            _capi.check(lib.sqz_engine_create(model_ptr, ctypes.byref(opts), ctypes.byref(out)),
                        "creating the engine")
        except BaseException:
            model._engine_closed(self)
            raise
        self._handle = int(out.value)  # type: ignore[arg-type]
        self._device = int(device)
        self._max_batch = int(max_batch)
        self._input_shape = model.input_shape
        self._num_classes = model.num_classes

    # -------------------------------------------------------------- lifetime

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:
        """Frees the engine (and its model, if that was closed and this was its last engine)."""
        with self._lock:
            handle, self._handle = self._handle, None
            if handle is not None:
                _capi.api().sqz_engine_free(handle)
                self._model._engine_closed(self)

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass

    @property
    def _ptr(self) -> int:
        if self._handle is None:
            raise InvalidArgument("the engine is closed")
        return self._handle

    def __repr__(self) -> str:
        if self.closed:
            return "<sqz.Engine (closed)>"
        return f"<sqz.Engine {self.backend} max_batch={self._max_batch}: {self.description}>"

    # --------------------------------------------------------------- queries

    @property
    def model(self) -> Model:
        return self._model

    @property
    def backend(self) -> str:
        """The backend that runs ("auto" resolved): cpu, cudnn, unfused or fused."""
        lib = _capi.api()
        return _capi.text(lib.sqz_backend_name(lib.sqz_engine_backend(self._ptr))) or ""

    @property
    def description(self) -> str:
        """One line: device, precision, per-layer fallbacks."""
        return _capi.text(_capi.api().sqz_engine_describe(self._ptr)) or ""

    @property
    def memory(self) -> MemoryReport:
        """The memory the engine holds (planned at creation)."""
        r = _capi.SqzMemoryReport()
        _capi.check(_capi.api().sqz_engine_memory(self._ptr, ctypes.byref(r)))
        return MemoryReport(int(r.weight_bytes), int(r.activation_bytes),
                            int(r.workspace_bytes), int(r.staging_bytes))

    @property
    def max_batch(self) -> int:
        return self._max_batch

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        """(channels, height, width) this engine was made for."""
        return self._input_shape

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def is_gpu(self) -> bool:
        return self.backend != "cpu"

    # --------------------------------------------------------------- streams

    def set_stream(self, stream: Any) -> None:
        """Makes later runs enqueue on ``stream`` (None or 0: the engine's own stream).

        Waits for work already enqueued on the previous stream. The stream
        must outlive its use by the engine.
        """
        handle = stream_handle(stream)
        with self._lock:
            _capi.check(_capi.api().sqz_engine_set_stream(self._ptr, handle or None))
            self._stream_handle, self._stream_ref = handle, stream

    @contextmanager
    def _on_stream(self, handle: Optional[int]) -> Iterator[None]:
        """Runs the body on `handle` (if given and different), then switches back."""
        previous = self._stream_handle
        if handle is None or handle == (previous or 0):
            yield
            return
        lib = _capi.api()
        _capi.check(lib.sqz_engine_set_stream(self._ptr, handle or None))
        try:
            yield
        finally:
            _capi.check(lib.sqz_engine_set_stream(self._ptr, previous or None))

    # ------------------------------------------------------------------- run

    def _check_batch_shape(self, shape: Tuple[int, ...], dtype: np.dtype,
                           layout: Optional[str]) -> Tuple[int, int]:
        """(sqz_input_format, batch) for an input of this shape and dtype."""
        c, h, w = self._input_shape
        if dtype == np.float32:
            layout = (layout or "nchw").lower()
            if layout not in ("nchw", "nhwc"):
                raise InvalidArgument(f"layout must be 'nchw' or 'nhwc', got {layout!r}")
            fmt = _capi.INPUT_F32_NCHW if layout == "nchw" else _capi.INPUT_F32_NHWC
            per_item = (c, h, w) if layout == "nchw" else (h, w, c)
            what = f"float32 {layout.upper()} input"
        elif dtype == np.uint8:
            if layout not in (None, "nhwc", "NHWC"):
                raise InvalidArgument(f"uint8 images are NHWC (batch, {h}, {w}, 3); "
                                      f"layout {layout!r} is not possible")
            fmt, per_item, what = _capi.INPUT_U8_RGB, (h, w, 3), "uint8 RGB images"
        else:
            raise InvalidArgument(
                f"input dtype must be float32 (a preprocessed tensor) or uint8 (RGB images), "
                f"got {dtype}")
        if len(shape) != 4 or tuple(shape[1:]) != per_item:
            raise InvalidArgument(
                f"{what} must have shape (batch, {', '.join(map(str, per_item))}) for this "
                f"engine, got {tuple(shape)}")
        batch = int(shape[0])
        if not 1 <= batch <= self._max_batch:
            raise InvalidArgument(f"batch {batch} is outside 1..{self._max_batch} "
                                  f"(the engine's max_batch)")
        return fmt, batch

    @staticmethod
    def _host_array(x: Any) -> np.ndarray:
        if isinstance(x, np.ndarray):
            return x
        if hasattr(x, "__dlpack__"):  # a CPU tensor of another framework: no copy
            try:
                return np.from_dlpack(x)
            except Exception as exc:
                raise InvalidArgument(f"cannot read the {type(x).__name__} through DLPack: "
                                      f"{exc}") from exc
        raise InvalidArgument(f"expected a numpy array or a GPU array (__cuda_array_interface__ "
                              f"or DLPack), got {type(x).__name__}")

    def run(self, x: Any, output: str = "logits", *, layout: Optional[str] = None,
            stream: Any = None, out: Any = None) -> Any:
        """Runs a batch and returns (batch, num_classes) float32 logits or probabilities.

        ``x``: float32 (batch, 3, H, W) preprocessed input (``layout="nhwc"``:
        (batch, H, W, 3)), or uint8 (batch, H, W, 3) RGB images at the input
        size (preprocessing applied by the engine); the dtype chooses. Host
        arrays must be numpy (or a CPU DLPack tensor) and C-contiguous.
        GPU arrays (PyTorch, CuPy: ``__cuda_array_interface__`` or DLPack)
        are read in place on GPU backends; the result is then a GPU array of
        the same framework (or ``out``). The run completes before this returns.

        ``output``: "logits" or "probs". ``stream``: a CUDA stream for this
        run (int, .cuda_stream or .ptr); by default a PyTorch or CuPy input
        runs on its framework's current stream. ``out``: a preallocated
        float32 (batch, num_classes) array, host or GPU.
        """
        if output not in _OUTPUTS:
            raise InvalidArgument(f"output must be 'logits' or 'probs', got {output!r}")
        with self._lock:
            ptr = self._ptr
            if _device_arrays.is_device_array(x):
                return self._run_device(ptr, x, _OUTPUTS[output], layout, stream, out)
            array = self._host_array(x)
            fmt, batch = self._check_batch_shape(array.shape, array.dtype, layout)
            if not array.flags.c_contiguous:
                raise InvalidArgument("the input array is not C-contiguous: pass "
                                      "np.ascontiguousarray(x)")
            result, out_ptr = self._output(out, batch, None)
            self._run(ptr, batch, fmt, array.ctypes.data, _OUTPUTS[output], out_ptr,
                      stream_handle(stream))
            return result

    def _output(self, out: Any, batch: int, like: Any) -> Tuple[Any, int]:
        """The output array (given or new) and its address."""
        shape = (batch, self._num_classes)
        if out is None:
            if like is None:
                result = np.empty(shape, dtype=np.float32)
                return result, result.ctypes.data
            out = _device_arrays.empty_like_framework(like, shape)
        if _device_arrays.is_device_array(out):
            if not self.is_gpu:
                raise InvalidArgument("the cpu backend writes host memory only: out= must be a "
                                      "numpy array")
            d = _device_arrays.describe(out)
            self._check_device_array(d, "out")
            if d.dtype != np.float32 or d.shape != shape or not d.contiguous:
                raise InvalidArgument(f"out must be a C-contiguous float32 array of shape "
                                      f"{shape}, got {d.dtype} {d.shape}"
                                      f"{'' if d.contiguous else ' (not contiguous)'}")
            return out, d.pointer
        if not isinstance(out, np.ndarray):
            raise InvalidArgument(f"out must be a numpy or GPU array, got {type(out).__name__}")
        if out.dtype != np.float32 or out.shape != shape or not out.flags.c_contiguous \
                or not out.flags.writeable:
            raise InvalidArgument(f"out must be a writeable C-contiguous float32 array of shape "
                                  f"{shape}, got {out.dtype} {out.shape}")
        return out, out.ctypes.data

    def _check_device_array(self, d: _device_arrays.DeviceArray, what: str) -> None:
        if d.device != self._device:
            raise InvalidArgument(f"{what} is on CUDA device {d.device} but the engine runs on "
                                  f"device {self._device}")

    def _run_device(self, ptr: int, x: Any, kind: int, layout: Optional[str], stream: Any,
                    out: Any) -> Any:
        if not self.is_gpu:
            raise InvalidArgument(
                "the cpu backend takes host memory only, and this input is a GPU array: move it "
                "to the host (e.g. x.cpu().numpy()) or make a GPU engine")
        handle, stream_obj = stream_handle(stream), stream
        if handle is None:
            # The caller's stream: the framework's current one, so that the run
            # is ordered after the work that produced x.
            current = _device_arrays.current_stream(x)
            if current is not None:
                handle, stream_obj = current
        if handle == 0 and hasattr(stream_obj, "synchronize"):
            # A framework's legacy default stream cannot be named through the C
            # API (NULL means the engine's own stream): wait for it instead.
            stream_obj.synchronize()
            handle = None
        d = _device_arrays.describe(x, stream=handle if handle else None)
        self._check_device_array(d, "the input")
        fmt, batch = self._check_batch_shape(d.shape, d.dtype, layout)
        if not d.contiguous:
            raise InvalidArgument("the GPU input is not C-contiguous; sqz does not copy device "
                                  "arrays: pass a contiguous one (e.g. x.contiguous())")
        result, out_ptr = self._output(out, batch, x)
        self._run(ptr, batch, fmt, d.pointer, kind, out_ptr, handle)
        del d  # releases a DLPack capsule only after the run completed
        return result

    def _run(self, ptr: int, batch: int, fmt: int, input_ptr: int, kind: int, output_ptr: int,
             stream: Optional[int]) -> None:
        lib = _capi.api()
        io = _capi.SqzIo(batch, fmt, input_ptr, kind, output_ptr)
        with self._on_stream(stream):
            _capi.check(lib.sqz_engine_run_async(ptr, ctypes.byref(io)), "running the engine")
            _capi.check(lib.sqz_engine_synchronize(ptr), "running the engine")

    # -------------------------------------------------------------- classify

    def classify(self, images_in: Union[images.ImageSource, Sequence[images.ImageSource]],
                 k: int = 5) -> List[List[Prediction]]:
        """The top-k classes of each image, most likely first.

        ``images_in``: one image or a list of them; an image is a file path,
        encoded file bytes, or a uint8 (H, W, 3) RGB array of any size. Each
        is resized and centre-cropped by the model's preprocessing (an image
        already at the input size is used as it is). Returns, per image, a
        list of :class:`Prediction` (index, label, prob).
        """
        single = isinstance(images_in, (str, bytes, bytearray, os.PathLike)) or (
            isinstance(images_in, np.ndarray) and images_in.ndim == 3)
        sources: List[images.ImageSource] = (
            [images_in] if single else list(images_in))  # type: ignore[list-item, arg-type]
        if not 1 <= int(k) <= self._num_classes:
            raise InvalidArgument(f"k must be 1..{self._num_classes}, got {k}")
        self._ptr  # noqa: B018 - raises if closed
        model = self._model
        if model.input_shape != self._input_shape:
            raise InvalidArgument(
                f"the model's input size is now {model.input_shape[1:]} but this engine was made "
                f"for {self._input_shape[1:]}: make a new engine to classify")
        _, h, w = self._input_shape
        results: List[List[Prediction]] = []
        for start in range(0, len(sources), self._max_batch):
            chunk = sources[start:start + self._max_batch]
            batch = np.empty((len(chunk), h, w, 3), dtype=np.uint8)
            for i, source in enumerate(chunk):
                batch[i] = model.prepare_image(source)
            probs = self.run(batch, output="probs")
            results.extend(self._top(row, int(k)) for row in probs)
        return results

    def _top(self, probs: np.ndarray, k: int) -> List[Prediction]:
        return [Prediction(index, self._model.label(index), value)
                for index, value in top_k(probs, k)]


def top_k(scores: Any, k: int = 5) -> List[Tuple[int, float]]:
    """The k largest scores as (index, value), largest first (ties: lower index first)."""
    row = np.ascontiguousarray(scores, dtype=np.float32).reshape(-1)
    if not 1 <= int(k) <= row.size:
        raise InvalidArgument(f"k must be 1..{row.size}, got {k}")
    indices = (ctypes.c_int * k)()
    values = (ctypes.c_float * k)()
    _capi.check(_capi.api().sqz_top_k(_capi.float_ptr(row.ctypes.data), row.size, k, indices,
                                       values))
    return [(int(indices[i]), float(values[i])) for i in range(k)]
