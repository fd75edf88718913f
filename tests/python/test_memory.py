"""Models and engines are freed: on close, on garbage collection, without leaks."""

from __future__ import annotations

import gc
import os
import weakref

import numpy as np

import sqz


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_garbage_collection_frees_engine_then_model() -> None:
    model = sqz.Model.builtin("squeezenet1_1")
    engine = model.engine(backend="cpu")
    model_ref, engine_ref = weakref.ref(model), weakref.ref(engine)
    del model
    gc.collect()
    assert model_ref() is not None, "the engine must keep its model alive"
    del engine
    gc.collect()
    assert engine_ref() is None and model_ref() is None


def test_many_engines_and_models_do_not_grow_memory() -> None:
    x = np.zeros((2, 3, 224, 224), np.float32)

    def cycle() -> None:
        # Each cycle allocates about 5 MB of weights and 16 MB of engine buffers.
        model = sqz.Model.builtin("squeezenet1_1")
        engine = model.engine(backend="cpu", max_batch=2)
        engine.run(x)
        if cycle.count % 2:  # half explicitly, half by garbage collection
            engine.close()
            model.close()
        cycle.count += 1

    cycle.count = 0
    for _ in range(5):  # warm-up: allocator pools, OpenMP threads
        cycle()
    gc.collect()
    before = rss_bytes()
    for _ in range(40):
        cycle()
    gc.collect()
    growth = rss_bytes() - before
    assert growth < 32 << 20, f"RSS grew by {growth / 2**20:.1f} MiB over 40 engines"
