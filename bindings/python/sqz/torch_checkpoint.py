"""torch.save files read without PyTorch, tensors only.

Two containers exist (the facts used here, not PyTorch's code):

- zip (torch 1.6 and later): ``<dir>/data.pkl`` is the pickled object,
  ``<dir>/data/<key>`` the raw bytes of each storage, ``<dir>/byteorder``
  ("little" or "big", little when absent).
- legacy (earlier torch, and torchvision's first SqueezeNet weights): pickles
  one after another in a plain file: the magic number, the protocol version
  (1001), a dict of system facts, the object, the list of storage keys; then
  each storage in that order as an int64 element count and its elements.

Tensors reach storages through pickle persistent ids ``("storage", type,
key, location, count[, view])``. The unpickler resolves only the handful of
names a state_dict uses (tensor rebuilders, storage types, OrderedDict);
anything else is a FormatError, so a checkpoint cannot run code. Tensors
come back as numpy arrays that own their memory.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import pickletools
import zipfile
from typing import Any, BinaryIO, Callable, Dict, Optional, Tuple, Union

import numpy as np

from .errors import FormatError

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_MAX_PICKLE_BYTES = 64 << 20  # a state_dict's pickle is kilobytes; its tensors are elsewhere

# Storage type names -> element dtype (bfloat16 is read as its raw 16 bits).
_STORAGE_DTYPES = {
    "FloatStorage": np.dtype(np.float32), "DoubleStorage": np.dtype(np.float64),
    "HalfStorage": np.dtype(np.float16), "BFloat16Storage": np.dtype(np.uint16),
    "LongStorage": np.dtype(np.int64), "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16), "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8), "BoolStorage": np.dtype(np.bool_),
}


class Unsupported(FormatError):
    """A storage this reader does not take (another storage type, a legacy
    storage view) that torch.load(weights_only=True) may still read."""


class _StorageType:
    """What a pickled ``torch.FloatStorage`` (and the like) resolves to;
    immutable, so that a pickle's BUILD cannot change its element type."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", _STORAGE_DTYPES[name])

    def __setattr__(self, name: str, value: Any) -> None:
        raise FormatError("a pickle that changes a storage type")


class _Storage:
    """A storage's elements (1-D, native byte order)."""

    def __init__(self, kind: _StorageType, elements: np.ndarray) -> None:
        self.kind = kind
        self.elements = elements


def _as_int_tuple(value: Any, what: str) -> Tuple[int, ...]:
    if not isinstance(value, tuple) or not all(type(v) is int for v in value):
        raise FormatError(f"a tensor's {what} is a {type(value).__name__}, not a tuple of "
                          "integers")
    return value


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> np.ndarray:
    """A tensor as a numpy array: `size` elements of `storage` from `offset`
    at element strides `stride`, bounds-checked before any view is made."""
    if not isinstance(storage, _Storage):
        raise FormatError(f"a tensor's storage is a {type(storage).__name__}, not a storage")
    size, stride = _as_int_tuple(size, "size"), _as_int_tuple(stride, "stride")
    if type(offset) is not int or len(size) != len(stride) or len(size) > 8:
        raise FormatError(f"a tensor with an offset of type {type(offset).__name__}, "
                          f"{len(size)} sizes and {len(stride)} strides")
    if any(s < 0 for s in size) or any(s < 0 for s in stride) or offset < 0:
        raise FormatError(f"a tensor with a negative offset, size or stride: {offset}, {size}, "
                          f"{stride}")
    elements = storage.elements
    count = int(np.prod(size, dtype=object))
    if count and offset + sum((n - 1) * s for n, s in zip(size, stride)) >= elements.size:
        raise FormatError(f"a tensor of size {size} (stride {stride}, offset {offset}) reaches "
                          f"past its storage of {elements.size} elements")
    if count > elements.size:  # only broadcast views do this; none is a weight
        raise FormatError(f"a tensor of {count} elements over a storage of {elements.size}")
    if count == 0:
        array = np.zeros(size, elements.dtype)
    else:
        item = elements.itemsize
        array = np.lib.stride_tricks.as_strided(elements[offset:], shape=size,
                                                strides=[s * item for s in stride])
    if storage.kind.name == "BFloat16Storage":  # the upper half of a float32
        return np.asarray(array.astype(np.uint32) << 16).view(np.float32)
    return np.array(array)


class _Rebuilder:
    """_rebuild_tensor within a budget of bytes: every call copies, and a
    pickle can repeat a call for a few bytes, so the arrays made may not
    exceed 4 times the storages read (views of one storage share it) plus
    1 MiB."""

    def __init__(self, storages: "_Storages") -> None:
        self.storages = storages
        self.made = 0

    def __call__(self, *args: Any) -> np.ndarray:
        array = _rebuild_tensor(*args)
        self.made += array.nbytes
        if self.made > 4 * self.storages.nbytes + (1 << 20):
            raise FormatError(f"the tensors rebuilt come to {self.made} bytes from "
                              f"{self.storages.nbytes} bytes of storage")
        return array


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    return data


def _rebuild_from_type(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    """A tensor subclass (nn.Parameter) pickled with its type: the tensor."""
    if not callable(func) or not isinstance(args, tuple):
        raise FormatError("a malformed tensor subclass record")
    return func(*args)


class _Marker:
    """``torch.Tensor`` or ``torch.nn.parameter.Parameter``, as a type argument only."""


class _Callable:
    """A fresh wrapper per reference, so a pickle's BUILD can only change
    the wrapper, never the reader's own functions."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func

    def __call__(self, *args: Any) -> Any:
        return self.func(*args)


def _ignore(*_: Any) -> None:
    return None


_FUNCTIONS: Dict[Tuple[str, str], Callable[..., Any]] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
}
_TENSOR_REBUILDERS = {("torch._utils", "_rebuild_tensor"), ("torch._utils", "_rebuild_tensor_v2")}
_MARKERS = {("torch", "Tensor"), ("torch.nn.parameter", "Parameter")}


class _Unpickler(pickle.Unpickler):
    def __init__(self, stream: BinaryIO, storage: Callable[[tuple], _Storage],
                 rebuild: Callable[..., Any]) -> None:
        super().__init__(stream)
        self._storage = storage
        self._rebuild = rebuild

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _TENSOR_REBUILDERS:
            return _Callable(self._rebuild)
        if (module, name) in _FUNCTIONS:
            return _Callable(_FUNCTIONS[(module, name)])
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) in _MARKERS:
            return _Marker()
        if module == "torch" and name.endswith("Storage"):
            raise Unsupported(f"a storage of type torch.{name[:40]}, which this reader does not "
                              "take")
        raise FormatError(f"the checkpoint pickles {module[:80]}.{name[:80]}, which a "
                          "tensor-only reader does not run (save the model's state_dict)")

    def persistent_load(self, pid: Any) -> _Storage:
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise FormatError(f"an unknown persistent reference (a {type(pid).__name__})")
        if (not isinstance(pid[1], _StorageType) or not isinstance(pid[2], str)
                or type(pid[4]) is not int or pid[4] < 0):
            raise FormatError("a malformed storage reference: "
                              + ", ".join(type(v).__name__ for v in pid[:6]))
        if len(pid) > 5 and pid[5] is not None:  # legacy views of a larger storage
            raise Unsupported("a storage view (torch before 1.0 saving a slice): re-save the "
                              "state_dict with a newer torch")
        return self._storage(pid)


def _check_memo_indices(stream: io.BytesIO) -> None:
    """Refuses a memo index beyond the objects made so far: CPython's
    unpickler sizes its memo table by the largest index, so a few bytes
    could otherwise ask for gigabytes. Reads the opcodes only, then rewinds."""
    start = stream.tell()
    try:
        for count, (opcode, arg, _) in enumerate(pickletools.genops(stream)):
            if opcode.name in ("PUT", "BINPUT", "LONG_BINPUT") and not 0 <= int(arg) <= count:
                raise FormatError(f"a pickle memo index {arg} after only {count} opcodes")
    except FormatError:
        raise
    except Exception as e:  # genops: unknown opcodes, truncated arguments
        raise FormatError(f"a damaged pickle: {type(e).__name__}: {e}") from None
    finally:
        stream.seek(start)


def _no_tensors(*_: Any) -> Any:
    raise FormatError("a tensor or storage outside the checkpoint's object")


def _unpickle(stream: io.BytesIO, storage: Callable[[tuple], _Storage] = _no_tensors,
              rebuild: Callable[..., Any] = _no_tensors) -> Any:
    """One pickle from the stream; tensors and storages only where the
    caller passes what makes them."""
    _check_memo_indices(stream)
    try:
        return _Unpickler(stream, storage, rebuild).load()
    except FormatError:
        raise
    except Exception as e:  # whatever a damaged pickle makes the unpickler raise
        raise FormatError(f"a damaged pickle: {type(e).__name__}: {e}") from None


def _elements(data: bytes, kind: _StorageType, count: int, big_endian: bool) -> np.ndarray:
    dtype = kind.dtype.newbyteorder(">" if big_endian else "<")
    return np.frombuffer(data, dtype=dtype, count=count).astype(kind.dtype)


def _key(key: str) -> str:
    """A storage key for a message (keys come from the file: cut first)."""
    return repr(key[:40])


class _Storages:
    """The storages an object refers to by key: one element type and count
    per key, and the bytes read for them."""

    def __init__(self) -> None:
        self.by_key: Dict[str, _Storage] = {}
        self.counts: Dict[str, int] = {}
        self.nbytes = 0

    def get(self, pid: tuple, load: Callable[[str, _StorageType, int], np.ndarray]) -> _Storage:
        kind, key, count = pid[1], pid[2], pid[4]
        if key not in self.by_key:
            self.by_key[key] = _Storage(kind, load(key, kind, count))
            self.counts[key] = count
            self.nbytes += self.by_key[key].elements.nbytes
        elif self.by_key[key].kind.dtype != kind.dtype or self.counts[key] != count:
            raise FormatError(f"storage {_key(key)} is referred to with two types or sizes")
        return self.by_key[key]


def _read_zip(archive: zipfile.ZipFile) -> Any:
    names = archive.namelist()
    pickles = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if len(pickles) != 1:
        raise FormatError(f"a zip archive with {len(pickles)} data.pkl entries, not one "
                          "(not a torch.save file?)")
    prefix = pickles[0][: -len("data.pkl")]
    big_endian = False
    if prefix + "byteorder" in names:
        order = _stored_entry(archive, prefix + "byteorder", 16).strip()
        if order not in (b"little", b"big"):
            raise FormatError(f"an unknown byte order {order!r}")
        big_endian = order == b"big"
    storages = _Storages()

    def load(key: str, kind: _StorageType, count: int) -> np.ndarray:
        entry = f"{prefix}data/{key}"
        if entry not in names:
            raise FormatError(f"storage {_key(key)} has no entry in the archive")
        nbytes = count * kind.dtype.itemsize
        data = _stored_entry(archive, entry, nbytes)
        if len(data) < nbytes:
            raise FormatError(f"storage {_key(key)} holds {len(data)} bytes, fewer than the "
                              f"{nbytes} of its {count} elements")
        return _elements(data[:nbytes], kind, count, big_endian)

    data_pkl = _stored_entry(archive, pickles[0], _MAX_PICKLE_BYTES)
    return _unpickle(io.BytesIO(data_pkl), lambda pid: storages.get(pid, load),
                     _Rebuilder(storages))


def _stored_entry(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """An entry's bytes: stored, as torch.save writes every entry (so its
    size is what the archive holds, never a decompression's), at most limit
    bytes plus a little, which the caller checks."""
    info = archive.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED:
        raise FormatError(f"entry {name[:80]!r} is compressed; torch.save stores every entry")
    if info.file_size > limit + 64:  # storages may carry alignment padding
        raise FormatError(f"entry {name[:80]!r} holds {info.file_size} bytes, more than the "
                          f"{limit} expected")
    return archive.read(name)


def _read_legacy(f: io.BytesIO, file_size: int) -> Any:
    if _unpickle(f) != _LEGACY_MAGIC:
        raise FormatError("neither a zip archive nor a legacy torch.save file (its first "
                          "pickle is not the magic number)")
    protocol = _unpickle(f)
    if protocol != _LEGACY_PROTOCOL:
        shown = protocol if type(protocol) is int and abs(protocol) < 1 << 32 else "?"
        raise FormatError(f"legacy torch.save protocol {shown}, expected 1001")
    facts = _unpickle(f)
    little = bool(facts.get("little_endian", True)) if isinstance(facts, dict) else True
    # The storages' elements follow the object, so it is read twice: once to
    # learn which storages it uses, then again with their elements in hand.
    object_at = f.tell()
    seen = _Storages()
    _unpickle(f, lambda pid: seen.get(pid, lambda key, kind, count: np.zeros(0, kind.dtype)),
              _ignore)
    keys = _unpickle(f)
    if (not isinstance(keys, list) or not all(type(k) is str for k in keys)
            or sorted(keys) != sorted(seen.by_key)):
        raise FormatError(f"the legacy storage list does not name the {len(seen.by_key)} "
                          "storages its object uses")
    elements: Dict[str, np.ndarray] = {}
    for key in keys:
        kind, count = seen.by_key[key].kind, seen.counts[key]
        head = f.read(8)
        if len(head) != 8:
            raise FormatError(f"storage {_key(key)} is truncated")
        stored = int.from_bytes(head, "little" if little else "big", signed=True)
        nbytes = count * kind.dtype.itemsize
        if stored != count or nbytes > file_size - f.tell():
            raise FormatError(f"storage {_key(key)}: {stored} elements stored, {count} referred "
                              f"to, {file_size - f.tell()} bytes left")
        elements[key] = _elements(f.read(nbytes), kind, count, not little)
    f.seek(object_at)
    storages = _Storages()
    return _unpickle(f, lambda pid: storages.get(pid, lambda key, kind, count: elements[key]),
                     _Rebuilder(storages))


def read(path: Union[str, "os.PathLike[str]"]) -> Any:
    """The object a torch.save file holds, its tensors as numpy arrays.

    Raises FormatError (naming the file) for anything but tensors in dicts,
    lists and tuples (a pickled nn.Module, another class) and for damaged
    files; Unsupported, a FormatError, for a storage this reader does not
    take."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        if data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return _read_zip(archive)
        # From memory: a pickle's declared lengths then cost no more than the
        # bytes really there (a file object's read(n) allocates n first).
        return _read_legacy(io.BytesIO(data), len(data))
    except FormatError as e:
        raise type(e)(f"{os.fspath(path)}: {e}") from None
    except Exception as e:  # zipfile, numpy, int conversions: a damaged file
        raise FormatError(f"{os.fspath(path)}: a damaged torch.save file: "
                          f"{type(e).__name__}: {e}") from None


def state_dict(obj: Any) -> Optional[Dict[str, np.ndarray]]:
    """The tensors of a state_dict-like object (a dict, or one under
    "state_dict" or "model"), or None when there is no such dict."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
        return {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, np.ndarray)}
    return None
