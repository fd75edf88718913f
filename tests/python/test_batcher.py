"""sqz.Batcher on the cpu backend: results equal direct single-image runs,
threads, futures, the error classes of refusals and failed requests."""

from __future__ import annotations

import threading
from concurrent.futures import wait

import numpy as np
import pytest

import sqz

SIZE = 64


@pytest.fixture(scope="module")
def model():
    m = sqz.Model.builtin("squeezenet1_1", seed=3)
    m.set_input_size(SIZE)
    yield m
    m.close()


@pytest.fixture(scope="module")
def engine(model):
    e = model.engine(backend="cpu", max_batch=1, cpu_threads=1)
    yield e
    e.close()


def ppm(pixels: np.ndarray) -> bytes:
    h, w, _ = pixels.shape
    return f"P6\n{w} {h}\n255\n".encode() + pixels.tobytes()


def test_mixed_requests_from_threads_equal_direct_runs(model, engine) -> None:
    rng = np.random.default_rng(4)
    floats = [rng.standard_normal((3, SIZE, SIZE), dtype=np.float32) for _ in range(4)]
    pixels = [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(4)]
    inputs = floats + pixels + [ppm(p) for p in pixels]
    want = [engine.run(x[None], output="probs")[0] for x in floats]
    want += [engine.run(p[None], output="probs")[0] for p in pixels] * 2
    results = {}
    with sqz.Batcher(model, backend="cpu", instances=2, max_batch=4, max_delay_us=2000,
                     cpu_threads=1) as batcher:
        def client(t: int) -> None:
            futures = [(i, batcher.submit(inputs[i])) for i in range(len(inputs))]
            for i, f in futures:
                results[(t, i)] = f.result(timeout=60)

        threads = [threading.Thread(target=client, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        stats = batcher.stats()
        sizes = batcher.batch_sizes()
    assert len(results) == 4 * len(inputs)
    for (_, i), got in results.items():
        assert got.shape == (1000,) and got.dtype == np.float32
        np.testing.assert_array_equal(got, want[i])
    assert stats["accepted"] == stats["succeeded"] == 4 * len(inputs)
    assert sum(sizes) == stats["batches"]
    assert sum(k * n for k, n in enumerate(sizes)) == 4 * len(inputs)
    assert stats["run_us_p99"] >= stats["run_us_p50"] > 0


def test_nhwc_layout_and_logits(model, engine) -> None:
    x = np.random.default_rng(5).standard_normal((3, SIZE, SIZE), dtype=np.float32)
    with sqz.Batcher(model, backend="cpu", output="logits", max_delay_us=0) as batcher:
        got = batcher.infer(np.transpose(x, (1, 2, 0)), layout="nhwc")
    np.testing.assert_array_equal(got, engine.run(x[None])[0])


def test_refusals_raise_their_classes(model) -> None:
    with sqz.Batcher(model, backend="cpu", max_queue=1, max_delay_us=0) as batcher:
        with pytest.raises(sqz.InvalidArgument, match="shape"):
            batcher.submit(np.zeros((3, SIZE + 1, SIZE), np.float32))
        with pytest.raises(sqz.InvalidArgument, match="float32, uint8 or bytes"):
            batcher.submit(np.zeros((3, SIZE, SIZE), np.float64))
        with pytest.raises(sqz.FormatError):
            batcher.submit(b"P6\n64 64\n255\n" + b"\0" * 10)  # truncated
        assert batcher.stats()["refused"] == 1  # the two shape errors never reached C
    with pytest.raises(sqz.InvalidArgument, match="closed"):
        batcher.submit(np.zeros((SIZE, SIZE, 3), np.uint8))
    with pytest.raises(sqz.InvalidArgument, match="preferred"):
        sqz.Batcher(model, backend="cpu", max_batch=2, preferred_batch_sizes=[4])


def test_full_queue_timeout_and_cancel(model) -> None:
    x = np.zeros((SIZE, SIZE, 3), np.uint8)
    batcher = sqz.Batcher(model, backend="cpu", max_batch=1, max_queue=2,
                          max_delay_us=10_000_000, cpu_threads=1)
    # The delay holds single requests: max_batch 1 sends each at once, so
    # block the worker with many instead and catch the refusals.
    futures, refused = [], 0
    for _ in range(50):
        try:
            futures.append(batcher.submit(x, timeout_us=1))
        except sqz.QueueFull:
            refused += 1
    batcher.close(drain=False)
    done, _ = wait(futures, timeout=60)
    assert len(done) == len(futures)
    outcomes = {type(f.exception()) for f in futures}
    assert outcomes <= {type(None), sqz.Timeout, sqz.Cancelled}
    assert refused > 0 and refused + len(futures) == 50
    assert isinstance(sqz.QueueFull("x"), sqz.Error)
    assert issubclass(sqz.Timeout, TimeoutError)
