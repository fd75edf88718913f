"""Seeds for the Python harnesses, written by sqz itself: ONNX exports of
small models, and .npz state_dicts in torchvision's keys (real
torchvision-shaped SqueezeNet v1.1 weights, synthetic values).
Usage: make_seeds.py OUT (makes OUT/onnx and OUT/npz)."""

import sys
from pathlib import Path

import numpy as np

from contract import sqz  # the package from the checkout

out = Path(sys.argv[1])
(out / "onnx").mkdir(parents=True, exist_ok=True)
(out / "npz").mkdir(parents=True, exist_ok=True)
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
