"""sqz's cpu engine against ONNX Runtime (CPUExecutionProvider) on exported graphs.

Synthetic weights, random inputs at batch 1 and 3, input 224 and 227.
Agreement: max |sqz - ort| / max |ort| below 1e-4. onnx and onnxruntime are
required (scripts/test.sh installs them): a missing package fails.
"""

from __future__ import annotations

from typing import Callable, Dict

import numpy as np
import onnxruntime as ort
import pytest

import sqz
from sqz import LayerInfo

TOLERANCE = 1e-4


def _tiny_odd_pool_model() -> sqz.Model:
    """A model whose pool needs the exporter's floor-mode fallback at 11x11 input."""
    layers = [LayerInfo.conv("conv1", 8, 3, 1, 1), LayerInfo.maxpool("pool1", 2, 2, 1),
              LayerInfo.fire("fire2", 4, 4, 4), LayerInfo.fire("fire3", 4, 4, 4, "simple"),
              LayerInfo.conv("conv10", 10, 1), LayerInfo.global_avgpool()]
    model = sqz.Model.create("odd_pool", 11, 11, layers)
    rng = np.random.default_rng(11)
    for name, shape in model.tensor_shapes().items():
        model.set_tensor(name, rng.standard_normal(shape) * 0.3)
    return model


MODELS: Dict[str, Callable[[], sqz.Model]] = {
    **{name: (lambda name=name: sqz.Model.builtin(name, seed=17))
       for name in sqz.Model.builtin_names()},
    "meta_sr1.0": lambda: sqz.Model.from_metaparameters(base_e=32, incr_e=32,
                                                        squeeze_ratio=1.0, seed=3),
    "meta_pct0.01": lambda: sqz.Model.from_metaparameters(pct_3x3=0.01, seed=4),
    "meta_pct0.99_simple": lambda: sqz.Model.from_metaparameters(pct_3x3=0.99, bypass="simple",
                                                                 seed=5),
    "meta_complex_freq1": lambda: sqz.Model.from_metaparameters(base_e=64, incr_e=48, freq=1,
                                                                pct_3x3=0.25,
                                                                squeeze_ratio=0.5,
                                                                bypass="complex",
                                                                num_classes=100, seed=6),
}


def relative_difference(sqz_out: np.ndarray, ort_out: np.ndarray) -> float:
    return float(np.abs(sqz_out - ort_out).max() / np.abs(ort_out).max())


def run_both(model: sqz.Model, x: np.ndarray, softmax: bool = False):
    session = ort.InferenceSession(model.to_onnx(softmax=softmax).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    with model.engine(backend="cpu", max_batch=x.shape[0]) as engine:
        ours = engine.run(x, output="probs" if softmax else "logits")
    return ours, session.run(None, {"input": x})[0]


@pytest.mark.parametrize("size", [224, 227])
@pytest.mark.parametrize("name", list(MODELS))
def test_logits_agree_with_onnxruntime(name, size) -> None:
    with MODELS[name]() as model:
        model.set_input_size(size)
        rng = np.random.default_rng(size)
        x = rng.standard_normal((3, 3, size, size), dtype=np.float32)
        session = ort.InferenceSession(model.to_onnx().SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        with model.engine(backend="cpu", max_batch=3) as engine:
            for batch in (1, 3):
                ours = engine.run(x[:batch])
                theirs = session.run(None, {"input": x[:batch]})[0]
                assert ours.shape == theirs.shape == (batch, model.num_classes)
                diff = relative_difference(ours, theirs)
                print(f"{name} {size} batch {batch}: max rel diff {diff:.3g}")
                assert diff < TOLERANCE, f"{name} at {size}, batch {batch}: {diff:.3g}"


def test_softmax_output_agrees() -> None:
    with sqz.Model.builtin("squeezenet1_1", seed=2) as model:
        x = np.random.default_rng(0).standard_normal((2, 3, 224, 224), dtype=np.float32)
        ours, theirs = run_both(model, x, softmax=True)
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_pool_fallback_agrees() -> None:
    with _tiny_odd_pool_model() as model:
        assert model.layers[1].out_height == 6  # sqz ceil mode on 11 with pad 1
        x = np.random.default_rng(1).standard_normal((3, 3, 11, 11), dtype=np.float32)
        ours, theirs = run_both(model, x)
        assert relative_difference(ours, theirs) < TOLERANCE


def test_deep_compression_random_inputs(deep_compression) -> None:
    x = np.random.default_rng(5).standard_normal((2, 3, 227, 227), dtype=np.float32) * 50
    ours, theirs = run_both(deep_compression, x)
    assert relative_difference(ours, theirs) < TOLERANCE
