"""Seeds for the Python harnesses, written by sqz itself: ONNX exports of
small models, .npz state_dicts in torchvision's keys (real
torchvision-shaped SqueezeNet v1.1 weights, synthetic values), and .pth
files (both torch.save containers) of a narrow v1.1-shaped state_dict,
and the small files PyTorch wrote under tests/python/fixtures.
Usage: make_seeds.py OUT (makes OUT/onnx, OUT/npz and OUT/pth)."""

import sys
from pathlib import Path

import numpy as np

from contract import sqz  # the package from the checkout

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python"))
import torch_files  # noqa: E402  (tests/python: torch.save files without torch)

out = Path(sys.argv[1])
(out / "onnx").mkdir(parents=True, exist_ok=True)
(out / "npz").mkdir(parents=True, exist_ok=True)
(out / "pth").mkdir(parents=True, exist_ok=True)
layers = [
    sqz.LayerInfo(name="conv1", kind=sqz.LayerKind.CONV, out_channels=4, kernel=3, stride=2,
                  relu=True),
    sqz.LayerInfo(name="pool1", kind=sqz.LayerKind.MAXPOOL, kernel=3, stride=2),
    sqz.LayerInfo(name="fire2", kind=sqz.LayerKind.FIRE, squeeze=2, expand1x1=2, expand3x3=2),
    sqz.LayerInfo(name="fire3", kind=sqz.LayerKind.FIRE, squeeze=2, expand1x1=2, expand3x3=2,
                  bypass=sqz.Bypass.SIMPLE),
    sqz.LayerInfo(name="conv10", kind=sqz.LayerKind.CONV, out_channels=3, kernel=1, stride=1,
                  relu=True),
    sqz.LayerInfo(name="avgpool", kind=sqz.LayerKind.GLOBAL_AVGPOOL),
]
with sqz.Model.create("tiny", 17, 17, layers) as m:
    m.to_onnx(out / "onnx" / "tiny.onnx")
    m.to_onnx(out / "onnx" / "tiny_softmax.onnx", softmax=True)
with sqz.Model.builtin("squeezenet1_1") as m:
    from sqz.torchvision_weights import torchvision_key
    arrays = {torchvision_key(name, "squeezenet1_1"): v for name, v in m.tensors().items()}
    np.savez(out / "npz" / "v11.npz", **arrays)
np.savez(out / "npz" / "not_weights.npz", a=np.zeros(3, np.float32))

# v1.1 is told apart by its 64x3x3x3 conv1; every Fire is one channel wide
# and there are 2 classes, so a whole state_dict is about 8 KB.
from sqz.torchvision_weights import _key_map  # noqa: E402

narrow = {}
for key in _key_map("squeezenet1_1"):
    if key.startswith("features.0."):
        shape = (64, 3, 3, 3) if key.endswith("weight") else (64,)
    elif key.startswith("classifier."):
        shape = (2, 2, 1, 1) if key.endswith("weight") else (2,)
    else:
        part = key.split(".")[2]
        fire = int(key.split(".")[1])
        in_ch = 64 if fire == 3 else 2
        k = 3 if part == "expand3x3" else 1
        shape = (1, (in_ch if part == "squeeze" else 1), k, k) if key.endswith("weight") else (1,)
    narrow[key] = (np.arange(int(np.prod(shape))) % 7 - 3).astype(np.float32).reshape(shape) / 8
(out / "pth" / "narrow_zip.pth").write_bytes(torch_files.save(narrow))
(out / "pth" / "narrow_legacy.pth").write_bytes(torch_files.save(narrow, legacy=True))
(out / "pth" / "wrapped.pth").write_bytes(torch_files.save(narrow, wrap="state_dict"))
half = {k: v.astype(np.float16) for k, v in narrow.items()}
(out / "pth" / "half_legacy.pth").write_bytes(torch_files.save(half, legacy=True))
(out / "pth" / "foreign.pth").write_bytes(torch_files.save({"a": np.zeros(3, np.float32)}))
# Files PyTorch itself wrote (tests/python/make_torch_fixtures.py): views,
# transposes, bfloat16, Parameters, a wrapped state_dict.
for fixture in (Path(__file__).resolve().parents[2] / "python" / "fixtures").glob("*.pth"):
    (out / "pth" / fixture.name).write_bytes(fixture.read_bytes())
