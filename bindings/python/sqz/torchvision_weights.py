"""torchvision SqueezeNet state_dicts as sqz models.

torchvision's ``SqueezeNet`` keeps its layers in ``features`` (an
nn.Sequential of Conv2d, ReLU, MaxPool2d(ceil_mode=True) and Fire modules
with ``squeeze``, ``expand1x1``, ``expand3x3`` convolutions) and
``classifier`` (Dropout, Conv2d 1x1 as index 1, ReLU, AdaptiveAvgPool2d).
The version is told apart by the first convolution: 96 7x7 filters in v1.0,
64 3x3 in v1.1. Channel counts are read from the weights' shapes, so a
model with another number of classes converts as well.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np

from . import torch_checkpoint
from .errors import FormatError, InvalidArgument
from .model import Model
from .types import LayerInfo, Preprocess

ARCHS = ("squeezenet1_0", "squeezenet1_1")

# Per architecture: the indices in `features` of the max pools and of the
# Fire modules (fire2, fire3, ... in order); features.0 is conv1.
_FEATURES = {
    "squeezenet1_0": {"pools": (2, 6, 11), "fires": (3, 4, 5, 7, 8, 9, 10, 12),
                      "conv1": (7, 2)},
    "squeezenet1_1": {"pools": (2, 5, 8), "fires": (3, 4, 6, 7, 9, 10, 11, 12),
                      "conv1": (3, 2)},
}
_FIRE_PARTS = ("squeeze", "expand1x1", "expand3x3")


def detect_arch(state_dict: Mapping[str, np.ndarray]) -> str:
    """"squeezenet1_0" or "squeezenet1_1", from the shape of features.0.weight."""
    weight = state_dict.get("features.0.weight")
    if weight is None:
        raise FormatError("not a torchvision SqueezeNet state_dict: no 'features.0.weight' "
                          f"(keys: {', '.join(sorted(state_dict)[:8])}...)")
    shape = tuple(np.shape(weight))
    if shape == (96, 3, 7, 7):
        return "squeezenet1_0"
    if shape == (64, 3, 3, 3):
        return "squeezenet1_1"
    raise FormatError(f"features.0.weight has shape {shape}: neither SqueezeNet v1.0 "
                      f"(96, 3, 7, 7) nor v1.1 (64, 3, 3, 3)")


def _key_map(arch: str) -> Dict[str, str]:
    """torchvision key -> sqz tensor name, for every tensor of the architecture."""
    spec = _FEATURES[arch]
    names = {"features.0.weight": "conv1.weight", "features.0.bias": "conv1.bias",
             "classifier.1.weight": "conv10.weight", "classifier.1.bias": "conv10.bias"}
    for number, index in enumerate(spec["fires"], start=2):
        for part in _FIRE_PARTS:
            for suffix in ("weight", "bias"):
                names[f"features.{index}.{part}.{suffix}"] = f"fire{number}.{part}.{suffix}"
    return names


def _layers(arch: str, state_dict: Mapping[str, np.ndarray]) -> List[LayerInfo]:
    spec = _FEATURES[arch]
    kernel, stride = spec["conv1"]
    conv1_out = int(np.shape(state_dict["features.0.weight"])[0])
    layers = [LayerInfo.conv("conv1", conv1_out, kernel, stride)]
    fire_number = {index: n for n, index in enumerate(spec["fires"], start=2)}
    last_fire = 1
    for index in range(1, max(spec["fires"]) + 1):
        if index in spec["pools"]:
            layers.append(LayerInfo.maxpool(f"pool{last_fire}"))
        elif index in fire_number:
            n = fire_number[index]
            s, e1, e3 = (int(np.shape(state_dict[f"features.{index}.{part}.weight"])[0])
                         for part in _FIRE_PARTS)
            layers.append(LayerInfo.fire(f"fire{n}", s, e1, e3))
            last_fire = n
    classes = int(np.shape(state_dict["classifier.1.weight"])[0])
    layers.append(LayerInfo.conv("conv10", classes, 1, 1))
    layers.append(LayerInfo.global_avgpool("avgpool"))
    return layers


def _strip_prefix(state_dict: Mapping[str, Any]) -> Dict[str, Any]:
    """Removes the "module." that nn.DataParallel adds to every key."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def state_dict_to_model(state_dict: Mapping[str, Any], arch: Optional[str] = None,
                        input_size: int = 224) -> Model:
    """An sqz model with the weights of a torchvision SqueezeNet state_dict.

    Values may be numpy arrays or anything np.asarray accepts (CPU torch
    tensors). ``arch`` checks the detected version. Preprocessing is
    torchvision's; the input size 224 unless given.
    """
    weights = {k: np.asarray(v) for k, v in _strip_prefix(state_dict).items()
               if not k.endswith("num_batches_tracked")}
    detected = detect_arch(weights)
    if arch is not None and arch != detected:
        raise FormatError(f"--arch {arch} was given but the weights are {detected} "
                          f"(features.0.weight {weights['features.0.weight'].shape})")
    names = _key_map(detected)
    unknown = sorted(set(weights) - set(names))
    missing = sorted(set(names) - set(weights))
    if unknown or missing:
        raise FormatError(f"not a torchvision {detected} state_dict: "
                          + (f"unknown keys {unknown}" if unknown else "")
                          + ("; " if unknown and missing else "")
                          + (f"missing keys {missing}" if missing else ""))
    model = Model.create(detected, input_size, input_size, _layers(detected, weights))
    try:
        model.preprocess = Preprocess.torchvision(input_size)
        for key, name in names.items():
            try:
                model.set_tensor(name, weights[key])
            except InvalidArgument as exc:
                raise FormatError(f"{key} (sqz {name}): {exc}") from None
    except BaseException:
        model.close()
        raise
    return model


_PTH_ZIP_MAGIC = b"PK\x03\x04"


def looks_like_torch_file(path: Union[str, "os.PathLike[str]"]) -> bool:
    """A torch.save file: a zip archive or the legacy pickle format."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head == _PTH_ZIP_MAGIC or head[:1] == b"\x80"


def load_torch_state_dict(path: Union[str, "os.PathLike[str]"]) -> Dict[str, np.ndarray]:
    """Reads a torch.save'd state_dict (or {"state_dict": ...}) as float32 numpy arrays.

    PyTorch is not needed: sqz.torch_checkpoint reads both torch.save
    containers and runs no pickled code; anything but tensors (a pickled
    nn.Module) is a FormatError. Only a storage it does not take (another
    storage type, a legacy storage view) is handed to
    torch.load(weights_only=True), when PyTorch 2.6 or later is installed
    (earlier versions' weights_only could be made to run code).
    """
    try:
        obj = torch_checkpoint.read(path)
    except torch_checkpoint.Unsupported as refused:
        obj = _torch_load(path, refused)
    weights = torch_checkpoint.state_dict(obj)
    if weights is None:
        raise FormatError(f"{os.fspath(path)}: expected a state_dict, found "
                          f"{type(obj).__name__}")
    return {k: np.asarray(v, np.float32) for k, v in weights.items()}


def _torch_load(path: Union[str, "os.PathLike[str]"], refused: Exception) -> Any:
    """torch.load(weights_only=True) for a storage the reader refused, its
    tensors as numpy arrays; the refusal stands without PyTorch 2.6 or when
    torch fails too."""
    try:
        import torch  # type: ignore[import-not-found]
    except ImportError:
        raise refused from None
    version = tuple(int(p) for p in re.findall(r"\d+", torch.__version__)[:2])
    if version < (2, 6):
        raise refused from None
    try:
        obj = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except Exception:
        raise refused from None
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
        return {k: v.detach().cpu().float().numpy() for k, v in obj.items()
                if hasattr(v, "detach")}
    return obj


def load_npz_state_dict(path: Union[str, "os.PathLike[str]"]) -> Dict[str, np.ndarray]:
    """A state_dict saved with numpy.savez (keys as in torchvision)."""
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise FormatError(f"{os.fspath(path)}: a single .npy array, not an .npz archive "
                                  "of named arrays")
            return {k: data[k] for k in data.files}
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except FormatError:
        raise
    except Exception as e:  # zipfile, zlib, numpy format errors: not a readable .npz
        raise FormatError(f"{os.fspath(path)}: not a readable .npz archive: "
                          f"{type(e).__name__}: {e}") from None


def torchvision_key(sqz_name: str, arch: str) -> str:
    """The torchvision key of an sqz tensor name (the inverse of the mapping)."""
    inverse = {v: k for k, v in _key_map(arch).items()}
    if sqz_name not in inverse:
        raise InvalidArgument(f"{arch} has no tensor {sqz_name!r}")
    return inverse[sqz_name]

