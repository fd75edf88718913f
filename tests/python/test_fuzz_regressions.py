"""Inputs the Python fuzz harnesses (tests/fuzz/python) found, replayed
through the same contract: each must now give an sqz.Error with a message,
or a model that runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sqz.convert import load_any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "fuzz" / "python"))
from contract import run  # noqa: E402

CASES = [(suffix, path) for suffix, folder in ((".onnx", "python_onnx"), (".npz", "python_npz"),
                                              (".pth", "python_pth"))
         if (REPO / "tests" / "fuzz" / "regressions" / folder).is_dir()
         for path in sorted((REPO / "tests" / "fuzz" / "regressions" / folder).iterdir())]


def test_there_are_regressions() -> None:
    assert len(CASES) >= 3


@pytest.mark.parametrize("suffix,path", CASES, ids=[p.name for _, p in CASES])
def test_regression(suffix: str, path: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SQZ_FUZZ_TMP", str(tmp_path))
    run(path.read_bytes(), suffix, load_any)
