"""What the Python harnesses assert: a converter either raises an sqz.Error
with a message, or returns a model that answers its queries and runs one
cpu forward at the smallest input size it allows. Anything else (another
exception type, a crash) is a finding."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bindings" / "python"))
import sqz  # noqa: E402


def check_model(model: "sqz.Model") -> None:
    c, h, w = model.input_shape
    assert c == 3 and h >= 1 and w >= 1 and model.num_classes >= 1
    assert model.layers and model.parameters > 0
    for size in range(1, 4096):
        try:
            model.set_input_size(size)
            break
        except sqz.InvalidArgument:
            continue
    with model.engine(backend="cpu", cpu_threads=1) as engine:
        x = np.zeros((1, 3, size, size), np.float32)
        out = engine.run(x)
        assert out.shape == (1, model.num_classes)


def run(data: bytes, suffix: str, load: Callable[[str], "sqz.Model"]) -> None:
    folder = Path(os.environ.get("SQZ_FUZZ_TMP", tempfile.gettempdir()))
    path = folder / f"sqz-fuzz-{os.getpid()}{suffix}"
    path.write_bytes(data)
    try:
        model = load(str(path))
    except sqz.Error as e:
        assert str(e), "an sqz.Error without a message"
        return
    try:
        check_model(model)
    finally:
        model.close()
