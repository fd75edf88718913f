"""sqz.Model: a network's architecture, weights, preprocessing and labels."""

from __future__ import annotations

import ctypes
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import _capi, images
from .errors import InvalidArgument
from .types import Bypass, LayerInfo, MemoryReport, Preprocess  # noqa: F401 (re-export)

if TYPE_CHECKING:
    from .engine import Engine

PathLike = Union[str, "os.PathLike[str]"]


class Model:
    """A SqueezeNet-family model (an ``sqz_model``).

    Make one with :meth:`builtin`, :meth:`load`, :meth:`from_metaparameters`
    or :meth:`create`. Configure it (labels, input size, preprocessing,
    weights) before making engines from it and before sharing it between
    threads: the C library's setters are not thread-safe.

    The C model is freed by :meth:`close` (or leaving a ``with`` block, or
    garbage collection). Engines keep their model alive: closing a model
    whose engines are still open makes it unusable from Python at once and
    frees it when the last of them closes.
    """

    def __init__(self, handle: int, *, _token: object = None) -> None:
        if _token is not _CONSTRUCT:
            raise TypeError("use Model.builtin, Model.load, Model.from_metaparameters or "
                            "Model.create")
        self._handle: Optional[int] = handle
        self._closed = False
        self._engines: "weakref.WeakSet[Engine]" = weakref.WeakSet()
        self._lock = threading.Lock()
        self._label_cache: Optional[Tuple[Optional[List[str]], Optional[List[str]]]] = None

    # ------------------------------------------------------------------ make

    @classmethod
    def _adopt(cls, out: ctypes.c_void_p) -> "Model":
        return cls(int(out.value), _token=_CONSTRUCT)  # type: ignore[arg-type]

    @staticmethod
    def builtin_names() -> List[str]:
        """The names :meth:`builtin` accepts."""
        names = _capi.api().sqz_model_builtin_names()
        result = []
        i = 0
        while names[i] is not None:
            result.append(names[i].decode())
            i += 1
        return result

    @classmethod
    def builtin(cls, name: str = "squeezenet1_1", seed: int = 0) -> "Model":
        """A built-in architecture with deterministic synthetic weights from ``seed``.

        Names: squeezenet1_0, squeezenet1_1, squeezenet1_0_simple_bypass,
        squeezenet1_0_complex_bypass. Input 3x224x224, torchvision
        preprocessing, 1000 classes, no labels.
        """
        out = ctypes.c_void_p()
        _capi.check(_capi.api().sqz_model_builtin(name.encode(), _seed(seed), ctypes.byref(out)),
                    f"built-in model {name!r}")
        return cls._adopt(out)

    @classmethod
    def load(cls, path: PathLike) -> "Model":
        """Loads a ``.sqzw`` file or a Deep Compression SqueezeNet v1.0 file.

        The kind is recognised by content. Raises :class:`sqz.IOError` when
        the file cannot be read and :class:`sqz.FormatError` when it is
        corrupt.
        """
        out = ctypes.c_void_p()
        _capi.check(_capi.api().sqz_model_load(os.fsencode(path), ctypes.byref(out)))
        return cls._adopt(out)

    @classmethod
    def from_metaparameters(cls, base_e: int = 128, incr_e: int = 128, freq: int = 2,
                            pct_3x3: float = 0.5, squeeze_ratio: float = 0.125,
                            bypass: Union[Bypass, str] = "none", num_classes: int = 1000,
                            input_size: int = 224, seed: int = 0) -> "Model":
        """A model from the SqueezeNet paper's design-space metaparameters.

        Fire module i (0..7) has ``e = base_e + incr_e * (i // freq)`` output
        channels, ``round(e * pct_3x3)`` of them 3x3, and
        ``round(e * squeeze_ratio)`` squeeze channels; the rest is
        SqueezeNet v1.0. The defaults are v1.0's. Synthetic weights from seed.
        """
        p = _capi.SqzMetaparams(int(base_e), int(incr_e), int(freq), float(pct_3x3),
                                float(squeeze_ratio), int(Bypass.parse(bypass)),
                                int(num_classes), int(input_size))
        out = ctypes.c_void_p()
        _capi.check(_capi.api().sqz_model_from_metaparams(ctypes.byref(p), _seed(seed),
                                                           ctypes.byref(out)))
        return cls._adopt(out)

    @classmethod
    def create(cls, name: str, height: int, width: int,
               layers: Sequence[Union[LayerInfo, Dict[str, Any]]]) -> "Model":
        """A model of any SqueezeNet-family architecture, with zero weights.

        ``layers``: :class:`LayerInfo` entries (see its helper constructors
        ``LayerInfo.conv``, ``.maxpool``, ``.fire``, ``.global_avgpool``) or
        dicts of the same fields. The first layer must be a convolution, the
        last a global average pool. Fill the weights with
        :meth:`set_tensor`; preprocessing is torchvision's.
        """
        infos = [layer if isinstance(layer, LayerInfo) else LayerInfo(**layer)
                 for layer in layers]
        for text in [name] + [info.name for info in infos]:
            if not isinstance(text, str):
                raise InvalidArgument(f"model and layer names are str, got {type(text).__name__}")
        names = [info.name.encode() for info in infos]  # kept alive for the call
        array = (_capi.SqzLayerInfo * max(len(infos), 1))()
        for i, (info, raw) in enumerate(zip(infos, names)):
            array[i] = info._to_c(raw)
        out = ctypes.c_void_p()
        _capi.check(_capi.api().sqz_model_create(name.encode(), int(height), int(width), array,
                                                  len(infos), ctypes.byref(out)),
                    f"creating model {name!r}")
        return cls._adopt(out)

    # -------------------------------------------------------------- lifetime

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def close(self) -> None:
        """Frees the model now, or as soon as its last open engine closes."""
        with self._lock:
            self._closed = True
            if len(self._engines) == 0:
                self._free()

    def _free(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            _capi.api().sqz_model_free(handle)

    def _engine_closed(self, engine: "Engine") -> None:
        """Called by an engine when it frees itself."""
        with self._lock:
            self._engines.discard(engine)
            if self._closed and len(self._engines) == 0:
                self._free()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._closed = True
            self._free()
        except Exception:  # interpreter shutdown: the library may be gone
            pass

    @property
    def _ptr(self) -> int:
        """The C handle for a user operation; raises once the model is closed."""
        if self._closed or self._handle is None:
            raise InvalidArgument("the model is closed")
        return self._handle

    def __repr__(self) -> str:
        if self._closed:
            return "<sqz.Model (closed)>"
        c, h, w = self.input_shape
        return f"<sqz.Model {self.name!r} input {c}x{h}x{w}, {self.num_classes} classes>"

    # --------------------------------------------------------------- queries

    @property
    def name(self) -> str:
        return _capi.text(_capi.api().sqz_model_name(self._ptr)) or ""

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        """(channels, height, width) of the network input at the current size."""
        c, h, w = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        _capi.api().sqz_model_input_shape(self._ptr, ctypes.byref(c), ctypes.byref(h),
                                          ctypes.byref(w))
        return c.value, h.value, w.value

    @property
    def num_classes(self) -> int:
        return int(_capi.api().sqz_model_num_classes(self._ptr))

    @property
    def parameters(self) -> int:
        """Number of weights and biases."""
        return int(_capi.api().sqz_model_param_count(self._ptr))

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one forward pass at the current input size."""
        return int(_capi.api().sqz_model_macs(self._ptr))

    @property
    def layers(self) -> List[LayerInfo]:
        """The layers with their shapes at the current input size."""
        lib = _capi.api()
        ptr = self._ptr
        result = []
        for i in range(lib.sqz_model_num_layers(ptr)):
            info = _capi.SqzLayerInfo()
            _capi.check(lib.sqz_model_layer(ptr, i, ctypes.byref(info)))
            result.append(LayerInfo._from_c(info))
        return result

    def set_input_size(self, height: int, width: Optional[int] = None) -> None:
        """Sets the input size (square when width is omitted) for shapes and new engines.

        Existing engines keep the size they were made with.
        """
        width = height if width is None else width
        _capi.check(_capi.api().sqz_model_set_input_size(self._ptr, int(height), int(width)))

    # ---------------------------------------------------------------- labels

    def _labels(self) -> Tuple[Optional[List[str]], Optional[List[str]]]:
        if self._label_cache is None:
            lib = _capi.api()
            ptr = self._ptr
            n = self.num_classes
            names = [_capi.text(lib.sqz_model_label(ptr, i)) for i in range(n)]
            ids = [_capi.text(lib.sqz_model_label_id(ptr, i)) for i in range(n)]
            self._label_cache = (_all_or_none(names), _all_or_none(ids))
        return self._label_cache

    @property
    def labels(self) -> Optional[List[str]]:
        """Class names in class order, or None when the model has no labels."""
        return self._labels()[0]

    @property
    def label_ids(self) -> Optional[List[str]]:
        """Class ids (ImageNet wnids such as "n01440764"), or None; an id may be ""."""
        return self._labels()[1]

    def label(self, index: int) -> Optional[str]:
        """The name of one class, or None (no labels, index out of range)."""
        return _capi.text(_capi.api().sqz_model_label(self._ptr, int(index)))

    def find_label_id(self, label_id: str) -> int:
        """The class whose id is ``label_id``, or -1."""
        return int(_capi.api().sqz_model_find_label_id(self._ptr, label_id.encode()))

    def load_labels(self, path: PathLike) -> None:
        """Replaces the labels with a text file's lines ("wnid name" or "name")."""
        ptr = self._ptr
        self._label_cache = None
        _capi.check(_capi.api().sqz_model_load_labels(ptr, os.fsencode(path)))

    def set_labels(self, names: Sequence[str], ids: Optional[Sequence[str]] = None) -> None:
        """Replaces the labels; one name (and id) per class."""
        n = self.num_classes
        if len(names) != n or (ids is not None and len(ids) != n):
            raise InvalidArgument(f"the model has {n} classes: give {n} names (and ids), got "
                                  f"{len(names)} names and {len(ids) if ids else 0} ids")
        c_names = (ctypes.c_char_p * n)(*[s.encode() for s in names])
        c_ids = (ctypes.c_char_p * n)(*[s.encode() for s in ids]) if ids is not None else None
        ptr = self._ptr
        self._label_cache = None
        _capi.check(_capi.api().sqz_model_set_labels(ptr, c_ids, c_names))

    # --------------------------------------------------------- preprocessing

    @property
    def preprocess(self) -> Preprocess:
        """The image preprocessing (a copy; assign a Preprocess to change it)."""
        c = _capi.SqzPreprocess()
        _capi.api().sqz_model_preprocess(self._ptr, ctypes.byref(c))
        return Preprocess._from_c(c)

    @preprocess.setter
    def preprocess(self, value: Preprocess) -> None:
        c = value._to_c()
        _capi.check(_capi.api().sqz_model_set_preprocess(self._ptr, ctypes.byref(c)))

    def prepare_image(self, image: images.ImageSource) -> np.ndarray:
        """Resizes and centre-crops an image as the model's preprocessing says.

        Returns (height, width, 3) uint8 RGB at the model's input size, ready
        for an engine (an image already at that size is taken as it is).
        """
        pixels = images.to_array(image)
        _, h, w = self.input_shape
        out = np.empty((h, w, 3), dtype=np.uint8)
        c = images.as_c_image(pixels)
        _capi.check(_capi.api().sqz_image_prepare(self._ptr, ctypes.byref(c),
                                                  _capi.uint8_ptr(out.ctypes.data)))
        return out

    # --------------------------------------------------------------- tensors

    def _tensor_infos(self) -> List[Tuple[str, Tuple[int, ...], int, int]]:
        """(name, shape, count, data address) of every tensor, in file order."""
        lib = _capi.api()
        ptr = self._ptr
        result = []
        for i in range(lib.sqz_model_num_tensors(ptr)):
            info = _capi.SqzTensorInfo()
            data = _capi.c_float_p()
            _capi.check(lib.sqz_model_tensor(ptr, i, ctypes.byref(info), ctypes.byref(data)))
            shape = tuple(info.dims[d] for d in range(info.ndim))
            address = ctypes.cast(data, ctypes.c_void_p).value or 0
            result.append((_capi.text(info.name) or "", shape, int(info.count), address))
        return result

    def tensor_shapes(self) -> Dict[str, Tuple[int, ...]]:
        """Name -> shape of every weight tensor, in file order."""
        return {name: shape for name, shape, _, _ in self._tensor_infos()}

    def tensors(self) -> Dict[str, np.ndarray]:
        """Name -> a float32 copy of every weight tensor, in file order.

        Names: "<conv>.weight" (OIHW) and "<conv>.bias"; per Fire module
        "<fire>.<squeeze|expand1x1|expand3x3|shortcut>.<weight|bias>".
        """
        result = {}
        for name, shape, count, address in self._tensor_infos():
            view = np.ctypeslib.as_array(_capi.float_ptr(address), shape=(count,))
            result[name] = view.reshape(shape).copy()
        return result

    def tensor(self, name: str) -> np.ndarray:
        """A float32 copy of one weight tensor."""
        for tname, shape, count, address in self._tensor_infos():
            if tname == name:
                view = np.ctypeslib.as_array(_capi.float_ptr(address), shape=(count,))
                return view.reshape(shape).copy()
        raise InvalidArgument(f"model {self.name!r} has no tensor {name!r}")

    def set_tensor(self, name: str, value: Any) -> None:
        """Copies ``value`` (any real array of the tensor's exact shape) into a weight tensor.

        Values are converted to float32 and must be finite. On the cpu
        backend, existing engines see the change; GPU engines keep the
        weights they were made with, so set weights before making engines.
        """
        shapes = self.tensor_shapes()
        if name not in shapes:
            raise InvalidArgument(f"model {self.name!r} has no tensor {name!r}")
        array = np.asarray(value)
        if array.dtype.kind not in "fiu":
            raise InvalidArgument(f"tensor {name!r}: expected real numbers, got dtype "
                                  f"{array.dtype}")
        if tuple(array.shape) != shapes[name]:
            raise InvalidArgument(f"tensor {name!r} has shape {shapes[name]}, got "
                                  f"{tuple(array.shape)}")
        data = np.ascontiguousarray(array, dtype=np.float32)
        _capi.check(_capi.api().sqz_model_set_tensor(self._ptr, name.encode(),
                                                     _capi.float_ptr(data.ctypes.data),
                                                     data.size))

    # ----------------------------------------------------------------- files

    def save(self, path: PathLike) -> None:
        """Writes the model as ``.sqzw`` (atomically: a temporary file renamed over path)."""
        _capi.check(_capi.api().sqz_model_save(self._ptr, os.fsencode(path)))

    def to_onnx(self, path: Optional[PathLike] = None, *, softmax: bool = False,
                opset: Optional[int] = None) -> Any:
        """Exports the model as an ONNX graph (needs the ``onnx`` package).

        Writes ``path`` when given and returns the ``onnx.ModelProto``. The
        graph's input is "input", float32 (batch, 3, H, W) at the current
        input size, preprocessed as :attr:`preprocess` says; the output is
        "logits" (batch, classes), or "probs" with ``softmax=True``.
        """
        from . import onnx_export

        kwargs = {} if opset is None else {"opset": opset}
        proto = onnx_export.model_to_onnx(self, softmax=softmax, **kwargs)
        if path is not None:
            onnx_export.save_atomically(proto, path)
        return proto

    # --------------------------------------------------------------- engines

    def engine(self, backend: str = "auto", precision: str = "fp32", max_batch: int = 1,
               device: int = 0, stream: Any = None, cuda_graphs: bool = True,
               cpu_threads: int = 0, allow_tf32: bool = False,
               workspace_limit: int = 0) -> "Engine":
        """Makes an engine at the model's current input size (see :class:`sqz.Engine`)."""
        from .engine import Engine

        return Engine(self, backend=backend, precision=precision, max_batch=max_batch,
                      device=device, stream=stream, cuda_graphs=cuda_graphs,
                      cpu_threads=cpu_threads, allow_tf32=allow_tf32,
                      workspace_limit=workspace_limit)

    def _register_engine(self, engine: "Engine") -> int:
        """Records an engine that uses the model; returns the C handle."""
        with self._lock:
            ptr = self._ptr
            self._engines.add(engine)
            return ptr


_CONSTRUCT = object()


def _all_or_none(values: List[Optional[str]]) -> Optional[List[str]]:
    """The list when every entry is set (the model has labels), else None."""
    if any(v is None for v in values):
        return None
    return [v for v in values if v is not None]


def _seed(seed: int) -> int:
    if not 0 <= int(seed) < 2**64:
        raise InvalidArgument(f"seed must be 0..2**64-1, got {seed}")
    return int(seed)
