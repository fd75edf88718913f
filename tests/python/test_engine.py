"""sqz.Engine on the cpu backend: runs, layouts, outputs, input validation."""

from __future__ import annotations

import numpy as np
import pytest

import sqz


@pytest.fixture(scope="module")
def model():
    m = sqz.Model.builtin("squeezenet1_1", seed=1)
    yield m
    m.close()


@pytest.fixture(scope="module")
def engine(model):
    e = model.engine(backend="cpu", max_batch=3)
    yield e
    e.close()


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    return np.random.default_rng(2).standard_normal((3, 3, 224, 224), dtype=np.float32)


def test_engine_properties(engine) -> None:
    assert engine.backend == "cpu" and "cpu" in engine.description
    assert engine.max_batch == 3 and engine.input_shape == (3, 224, 224)
    memory = engine.memory
    assert memory.activation_bytes > 0 and memory.total_bytes >= memory.activation_bytes


def test_batch_rows_equal_single_runs(engine, batch) -> None:
    logits = engine.run(batch)
    assert logits.shape == (3, 1000) and logits.dtype == np.float32
    for i in range(3):
        np.testing.assert_allclose(engine.run(batch[i:i + 1])[0], logits[i], rtol=1e-5,
                                   atol=1e-5)


def test_nhwc_equals_nchw(engine, batch) -> None:
    nhwc = np.ascontiguousarray(batch.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(engine.run(nhwc, layout="nhwc"), engine.run(batch), rtol=1e-6,
                               atol=1e-6)


def test_probs_are_softmax_of_logits(engine, batch) -> None:
    logits = engine.run(batch[:2]).astype(np.float64)
    probs = engine.run(batch[:2], output="probs")
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)


def test_uint8_images_equal_python_preprocessing(model, engine) -> None:
    images = np.random.default_rng(3).integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    floats = model.preprocess.image_to_input(images)
    np.testing.assert_allclose(engine.run(images), engine.run(floats), rtol=1e-5, atol=1e-5)


def test_out_argument(engine, batch) -> None:
    out = np.zeros((3, 1000), dtype=np.float32)
    assert engine.run(batch, out=out) is out
    np.testing.assert_array_equal(out, engine.run(batch))
    with pytest.raises(sqz.InvalidArgument, match="out must"):
        engine.run(batch, out=np.zeros((2, 1000), dtype=np.float32))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((1, 3, 224, 224), dtype=np.float64), "dtype"),
    (np.zeros((1, 3, 224, 224), dtype=np.int32), "dtype"),
    (np.zeros((3, 224, 224), dtype=np.float32), "shape"),
    (np.zeros((1, 3, 227, 227), dtype=np.float32), "shape"),
    (np.zeros((1, 224, 224, 3), dtype=np.float32), "shape"),
    (np.zeros((4, 3, 224, 224), dtype=np.float32), "max_batch"),
    (np.zeros((1, 3, 224, 448), dtype=np.float32)[:, :, :, ::2], "contiguous"),
    ([[1.0, 2.0]], "numpy array"),
])
def test_bad_inputs_raise_clear_errors(engine, bad, message) -> None:
    with pytest.raises(sqz.InvalidArgument, match=message):
        engine.run(bad)


def test_bad_options_raise(engine, batch) -> None:
    with pytest.raises(sqz.InvalidArgument, match="output"):
        engine.run(batch, output="softmax")
    with pytest.raises(sqz.InvalidArgument, match="layout"):
        engine.run(batch, layout="chwn")
    with pytest.raises(sqz.InvalidArgument, match="NHWC"):
        engine.run(np.zeros((1, 224, 224, 3), dtype=np.uint8), layout="nchw")


def test_device_array_refused_on_cpu_engine(engine) -> None:
    class FakeCudaArray:
        __cuda_array_interface__ = {"shape": (1, 3, 224, 224), "typestr": "<f4",
                                    "data": (0xDEAD0000, False), "version": 3,
                                    "strides": None}

    with pytest.raises(sqz.InvalidArgument, match="cpu backend takes host memory only"):
        engine.run(FakeCudaArray())


def test_engine_options_errors(model) -> None:
    with pytest.raises(sqz.InvalidArgument, match="backend"):
        model.engine(backend="tpu")
    with pytest.raises(sqz.Unsupported, match="fp32"):
        model.engine(backend="cpu", precision="fp16")
    with pytest.raises(sqz.InvalidArgument, match="max_batch"):
        model.engine(backend="cpu", max_batch=0)
    for backend in ("fused", "cudnn", "unfused"):
        if not sqz.backend_is_built(backend):
            with pytest.raises(sqz.Unsupported, match="not built"):
                model.engine(backend=backend)


def test_closed_engine_raises(model, batch) -> None:
    engine = model.engine(backend="cpu")
    with engine:
        engine.run(batch[:1])
    assert engine.closed
    with pytest.raises(sqz.InvalidArgument, match="closed"):
        engine.run(batch[:1])
    with pytest.raises(sqz.InvalidArgument, match="closed"):
        _ = engine.memory
    engine.close()  # twice is fine


def test_engine_keeps_model_alive(batch) -> None:
    model = sqz.Model.builtin("squeezenet1_1", seed=1)
    engine = model.engine(backend="cpu")
    expected = engine.run(batch[:1])
    model.close()  # deferred: the engine still uses it
    with pytest.raises(sqz.InvalidArgument, match="closed"):
        _ = model.name
    del model
    np.testing.assert_array_equal(engine.run(batch[:1]), expected)
    engine.close()


def test_engine_keeps_its_input_size(model) -> None:
    with sqz.Model.builtin("squeezenet1_1") as m:
        engine = m.engine(backend="cpu")
        m.set_input_size(227)
        assert engine.input_shape == (3, 224, 224)
        assert engine.run(np.zeros((1, 3, 224, 224), np.float32)).shape == (1, 1000)
        with pytest.raises(sqz.InvalidArgument, match="input size"):
            engine.classify(np.zeros((300, 300, 3), np.uint8))
        engine.close()


def test_top_k() -> None:
    assert sqz.top_k([0.1, 0.5, 0.5, 0.2], 3) == [(1, 0.5), (2, 0.5), (3, pytest.approx(0.2))]
    with pytest.raises(sqz.InvalidArgument):
        sqz.top_k([1.0], 2)


def test_threads_share_a_model_and_serialise_an_engine(model, engine, batch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    expected = engine.run(batch[:1])
    other = model.engine(backend="cpu", cpu_threads=1)
    with ThreadPoolExecutor(4) as pool:  # two engines, and two threads on one engine
        results = list(pool.map(lambda e: e.run(batch[:1]), [engine, other, engine, other]))
    other.close()
    for result in results:
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)
