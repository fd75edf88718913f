"""sqz.Batcher: dynamic batching of single requests over engines the batcher owns.

    with sqz.Batcher(model, backend="cpu", instances=2, max_batch=8) as batcher:
        probs = batcher.infer(pixels)              # uint8 (H, W, 3), blocks
        future = batcher.submit(jpeg_bytes)        # concurrent.futures.Future
        print(future.result().argmax(), batcher.stats())

Requests come from any number of threads. Inputs: a float32 image (3, H, W)
(or (H, W, 3) with ``layout="nhwc"``), uint8 pixels (H, W, 3) at the model's
input size, or the bytes of a JPEG, PNG or PPM file (decoded and prepared
during submit). Each result is a float32 array of num_classes values.
"""

from __future__ import annotations

import ctypes
import itertools
import threading
from concurrent.futures import Future
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _capi
from .errors import InvalidArgument, error_for_status
from .model import Model

_DONE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)
_KINDS = {"nchw": _capi.REQUEST_F32_NCHW, "nhwc": _capi.REQUEST_F32_NHWC}
_OUTPUTS = {"logits": _capi.OUTPUT_LOGITS, "probs": _capi.OUTPUT_PROBS}


class Batcher:
    """An ``sqz_batcher``: ``instances`` engines of one model, each with a worker.

    A batch is sent when it holds ``max_batch`` requests, when its oldest
    request has waited ``max_delay_us``, or at once when the queue holds one
    of ``preferred_batch_sizes`` (the largest that fits). At most
    ``max_queue`` requests wait: beyond that submit raises
    :class:`sqz.QueueFull`. A request not started within its ``timeout_us``
    fails with :class:`sqz.Timeout`. ``close(drain=True)`` runs what is
    queued; ``close(drain=False)`` cancels it (:class:`sqz.Cancelled`).
    Engine options (backend, precision, cpu_threads, ...) are those of
    :class:`sqz.Engine`.
    """

    def __init__(self, model: Model, backend: str = "auto", precision: str = "fp32",
                 instances: int = 1, max_batch: int = 8, max_delay_us: int = 500,
                 preferred_batch_sizes: Sequence[int] = (), max_queue: int = 256,
                 output: str = "probs", device: int = 0, cuda_graphs: bool = True,
                 cpu_threads: int = 0, allow_tf32: bool = False) -> None:
        lib = _capi.api()
        self._handle: Optional[int] = None
        self._model = model
        self._lock = threading.Condition()
        self._submitting = 0
        self._pending: Dict[int, Tuple[Future, Any, np.ndarray]] = {}
        self._ids = itertools.count(1)
        if output not in _OUTPUTS:
            raise InvalidArgument(f"output must be one of {sorted(_OUTPUTS)}, got {output!r}")
        preferred = [int(p) for p in preferred_batch_sizes]
        if len(preferred) > _capi.MAX_PREFERRED_BATCH_SIZES:
            raise InvalidArgument(f"at most {_capi.MAX_PREFERRED_BATCH_SIZES} preferred batch "
                                  f"sizes, got {len(preferred)}")
        opts = lib.sqz_batcher_options_default()
        b, p = ctypes.c_int(), ctypes.c_int()
        _capi.check(lib.sqz_backend_parse(str(backend).encode(), ctypes.byref(b)))
        _capi.check(lib.sqz_precision_parse(str(precision).encode(), ctypes.byref(p)))
        opts.engine.backend, opts.engine.precision = b.value, p.value
        opts.engine.device = int(device)
        opts.engine.cuda_graphs = 1 if cuda_graphs else 0
        opts.engine.cpu_threads = int(cpu_threads)
        opts.engine.allow_tf32 = 1 if allow_tf32 else 0
        opts.instances = int(instances)
        opts.max_batch = int(max_batch)
        opts.max_delay_us = int(max_delay_us)
        for i, size in enumerate(preferred):
            opts.preferred_batch_sizes[i] = size
        opts.max_queue = int(max_queue)
        opts.output_kind = _OUTPUTS[output]
        # One C callback for every request; user_data is the request's id.
        self._done = _DONE(self._complete)
        model_ptr = model._register_engine(self)
        out = ctypes.c_void_p()
        try:
            _capi.check(lib.sqz_batcher_create(model_ptr, ctypes.byref(opts), ctypes.byref(out)),
                        "creating the batcher")
        except BaseException:
            model._engine_closed(self)
            raise
        self._handle = int(out.value)  # type: ignore[arg-type]
        self._input_shape = model.input_shape
        self._num_classes = model.num_classes

    # -------------------------------------------------------------- lifetime

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self, drain: bool = True) -> None:
        """Stops accepting requests, runs (drain) or cancels what is queued, waits
        for every accepted request to complete, then frees the batcher."""
        with self._lock:
            handle, self._handle = self._handle, None
            # Submits already in the C library finish before it is freed.
            while self._submitting:
                self._lock.wait()
        if handle is None:
            return
        lib = _capi.api()
        # ctypes releases the GIL during the call, so callbacks can finish.
        _capi.check(lib.sqz_batcher_close(handle, 1 if drain else 0))
        lib.sqz_batcher_free(handle)
        self._model._engine_closed(self)

    def __enter__(self) -> "Batcher":
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
            raise InvalidArgument("the batcher is closed")
        return self._handle

    def __repr__(self) -> str:
        if self.closed:
            return "<sqz.Batcher (closed)>"
        return f"<sqz.Batcher {self.description}>"

    # --------------------------------------------------------------- queries

    @property
    def description(self) -> str:
        return _capi.text(_capi.api().sqz_batcher_describe(self._ptr)) or ""

    @property
    def num_classes(self) -> int:
        return self._num_classes

    def stats(self) -> Dict[str, float]:
        """Counters since creation and queue/run time percentiles (microseconds)."""
        s = _capi.SqzBatcherStats()
        _capi.check(_capi.api().sqz_batcher_get_stats(self._ptr, ctypes.byref(s)))
        return {name: getattr(s, name) for name, _ in _capi.SqzBatcherStats._fields_}

    def batch_sizes(self) -> List[int]:
        """counts[s]: how many batches of size s have run, s = 0..max_batch."""
        n = _capi.api().sqz_batcher_get_options(self._ptr).max_batch + 1
        counts = (ctypes.c_uint64 * n)()
        _capi.check(_capi.api().sqz_batcher_batch_sizes(self._ptr, counts, n))
        return [int(c) for c in counts]

    # -------------------------------------------------------------- requests

    def _request(self, x: Any, layout: str) -> Tuple[int, Any, int]:
        """(kind, object to keep alive, size in bytes) of one input."""
        c, h, w = self._input_shape
        if isinstance(x, (bytes, bytearray, memoryview)):
            data = np.frombuffer(bytes(x), dtype=np.uint8)
            if not data.size:
                raise InvalidArgument("an encoded image is empty")
            return _capi.REQUEST_ENCODED, data, data.nbytes
        a = np.asarray(x)
        if a.dtype == np.uint8:
            if a.shape != (h, w, 3):
                raise InvalidArgument(f"uint8 pixels must have shape ({h}, {w}, 3), got {a.shape}")
            a = np.ascontiguousarray(a)
            return _capi.REQUEST_U8_RGB, a, a.nbytes
        if a.dtype != np.float32:
            raise InvalidArgument(f"input must be float32, uint8 or bytes, got {a.dtype}")
        if layout not in _KINDS:
            raise InvalidArgument(f"layout must be 'nchw' or 'nhwc', got {layout!r}")
        want = (c, h, w) if layout == "nchw" else (h, w, c)
        if a.shape != want:
            raise InvalidArgument(f"a {layout} image must have shape {want}, got {a.shape}")
        a = np.ascontiguousarray(a)
        return _KINDS[layout], a, a.nbytes

    def submit(self, x: Any, timeout_us: int = 0, layout: str = "nchw") -> "Future[np.ndarray]":
        """Queues one request; the future's result is its output (num_classes floats).

        Raises at once when the request is refused (:class:`sqz.QueueFull`, a
        closed batcher, a bad or undecodable input); failures while it runs
        (:class:`sqz.Timeout`, :class:`sqz.Cancelled`, an engine error) are
        set on the future.
        """
        kind, keep, size = self._request(x, layout)
        output = np.empty(self._num_classes, dtype=np.float32)
        future: "Future[np.ndarray]" = Future()
        future.set_running_or_notify_cancel()
        key = next(self._ids)
        req = _capi.SqzRequest()
        req.kind = kind
        req.data = keep.ctypes.data
        req.size = size
        req.output = output.ctypes.data
        req.timeout_us = int(timeout_us)
        req.done = ctypes.cast(self._done, ctypes.c_void_p).value
        req.user_data = key
        with self._lock:
            handle = self._ptr
            self._pending[key] = (future, keep, output)
            self._submitting += 1
        try:
            status = _capi.api().sqz_batcher_submit(handle, ctypes.byref(req))
            if status != 0:
                with self._lock:
                    self._pending.pop(key, None)
                _capi.check(status, "submitting a request")
        finally:
            with self._lock:
                self._submitting -= 1
                self._lock.notify_all()
        return future

    def infer(self, x: Any, timeout_us: int = 0, layout: str = "nchw") -> np.ndarray:
        """Submits one request and waits for its output."""
        return self.submit(x, timeout_us=timeout_us, layout=layout).result()

    def _complete(self, user_data: Optional[int], status: int, message: bytes) -> None:
        """The C callback, on a worker thread (ctypes holds the GIL here)."""
        with self._lock:
            entry = self._pending.pop(int(user_data or 0), None)
        if entry is None:
            return
        future, _, output = entry
        if status == 0:
            future.set_result(output)
        else:
            detail = message.decode("utf-8", "replace") if message else ""
            future.set_exception(error_for_status(status, detail))
