"""torch.save files written without PyTorch, for tests and fuzz seeds.

The pickles are assembled opcode by opcode (protocol 2) as torch.save lays
out a state_dict: an OrderedDict of tensors rebuilt by
torch._utils._rebuild_tensor_v2 from storages named by persistent ids. Both
containers: the zip archive and the legacy stream (docs in
sqz.torch_checkpoint). Where PyTorch is installed, tests check that
torch.load reads these files as written.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

STORAGE_TYPES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float64): "DoubleStorage",
                 np.dtype(np.float16): "HalfStorage", np.dtype(np.int64): "LongStorage",
                 np.dtype(np.int32): "IntStorage", np.dtype(np.uint8): "ByteStorage"}


def _text(s: str) -> bytes:
    data = s.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(v: int) -> bytes:
    return b"J" + struct.pack("<i", v)


def _ints(values: Iterable[int]) -> bytes:
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


class Tensor:
    """One tensor of a state_dict: a view of storage `key`."""

    def __init__(self, key: str, dtype: np.dtype, storage_count: int, offset: int,
                 size: Tuple[int, ...], stride: Tuple[int, ...], parameter: bool = False) -> None:
        self.key, self.dtype, self.storage_count = key, np.dtype(dtype), storage_count
        self.offset, self.size, self.stride, self.parameter = offset, size, stride, parameter

    def pickle(self, legacy: bool) -> bytes:
        storage = (b"(" + _text("storage") + _global("torch", STORAGE_TYPES[self.dtype])
                   + _text(self.key) + _text("cpu") + _int(self.storage_count)
                   + (b"N" if legacy else b"") + b"tQ")
        hooks = _global("collections", "OrderedDict") + b")R"
        tensor = (_global("torch._utils", "_rebuild_tensor_v2") + b"(" + storage
                  + _int(self.offset) + _ints(self.size) + _ints(self.stride) + b"\x89" + hooks
                  + b"tR")
        if self.parameter:
            return (_global("torch._utils", "_rebuild_parameter") + b"(" + tensor + b"\x88"
                    + hooks + b"tR")
        return tensor


def contiguous_strides(size: Tuple[int, ...]) -> Tuple[int, ...]:
    strides: List[int] = []
    step = 1
    for n in reversed(size):
        strides.insert(0, step)
        step *= max(n, 1)
    return tuple(strides)


def layout(state: Dict[str, np.ndarray]) -> Tuple[Dict[str, Tensor], Dict[str, bytes]]:
    """One contiguous storage per array, keyed "0", "1", ..."""
    tensors, storages = {}, {}
    for i, (name, value) in enumerate(state.items()):
        value = np.ascontiguousarray(value)
        key = str(i)
        tensors[name] = Tensor(key, value.dtype, value.size, 0, value.shape,
                               contiguous_strides(value.shape))
        storages[key] = value.astype(value.dtype.newbyteorder("<")).tobytes()
    return tensors, storages


def object_pickle(tensors: Dict[str, Tensor], legacy: bool, wrap: Optional[str] = None) -> bytes:
    body = _global("collections", "OrderedDict") + b")R("
    for name, tensor in tensors.items():
        body += _text(name) + tensor.pickle(legacy)
    body += b"u"
    if wrap is not None:  # {"state_dict": ...}, as training scripts save
        body = b"}" + _text(wrap) + body + b"s"
    return b"\x80\x02" + body + b"."


def zip_bytes(data_pkl: bytes, storages: Dict[str, bytes], prefix: str = "archive",
              byteorder: Optional[bytes] = b"little") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", data_pkl)
        if byteorder is not None:
            z.writestr(f"{prefix}/byteorder", byteorder)
        for key, data in storages.items():
            z.writestr(f"{prefix}/data/{key}", data)
        z.writestr(f"{prefix}/version", b"3\n")
    return out.getvalue()


def legacy_bytes(data_pkl: bytes, tensors: Dict[str, Tensor], storages: Dict[str, bytes],
                 little: bool = True) -> bytes:
    """storages: little-endian bytes, written in the order `little` says."""
    facts = {"protocol_version": 1001, "little_endian": little,
             "type_sizes": {"short": 2, "int": 4, "long": 4}}
    out = [pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2), pickle.dumps(1001, protocol=2),
           pickle.dumps(facts, protocol=2), data_pkl]
    keys = list(dict.fromkeys(t.key for t in tensors.values()))
    out.append(pickle.dumps(keys, protocol=2))
    for key in keys:
        tensor = next(t for t in tensors.values() if t.key == key)
        data = np.frombuffer(storages[key], tensor.dtype.newbyteorder("<"))
        out.append(struct.pack("<q" if little else ">q", tensor.storage_count)
                   + data.astype(tensor.dtype.newbyteorder("<" if little else ">")).tobytes())
    return b"".join(out)


def save(state: Dict[str, np.ndarray], legacy: bool = False, wrap: Optional[str] = None) -> bytes:
    """The bytes torch.save would write for this state_dict (values as given)."""
    tensors, storages = layout(state)
    data_pkl = object_pickle(tensors, legacy, wrap)
    return legacy_bytes(data_pkl, tensors, storages) if legacy else zip_bytes(data_pkl, storages)
