"""Finding libsqz: SQZ_LIBRARY, build trees, installed; a clear error otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import sqz
from sqz import _library


def _python(code: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    path = [str(Path(sqz.__file__).resolve().parents[1])]
    env = {**env, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True,
                          text=True)


def test_library_is_loaded() -> None:
    assert sqz.library_version() == "0.1.0"
    assert Path(sqz.library_path()).name.startswith("libsqz")
    assert sqz.backend_is_built("cpu")


def test_wrong_sqz_library_is_reported(tmp_path) -> None:
    env = {**os.environ, "SQZ_LIBRARY": str(tmp_path / "nope.so")}
    result = _python("import sqz; sqz.Model.builtin()", env, tmp_path)
    assert result.returncode != 0
    assert "SQZ_LIBRARY" in result.stderr and "nope.so" in result.stderr


def test_build_tree_in_current_directory_is_found(tmp_path) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "libsqz.so").symlink_to(sqz.library_path())
    env = {k: v for k, v in os.environ.items() if k != "SQZ_LIBRARY"}
    result = _python("import sqz; print(sqz.library_path())", env, tmp_path / "build")
    assert result.returncode == 0, result.stderr
    found = Path(result.stdout.strip())
    # A build tree above the package's own source wins; otherwise ours is found.
    assert found.name == "libsqz.so" and found.parent.name == "build"
    assert str(tmp_path / "build" / "libsqz.so") in map(str, _candidates_from(tmp_path))


def _candidates_from(directory: Path):
    cwd = os.getcwd()
    os.chdir(directory)
    try:
        return _library._build_tree_candidates()
    finally:
        os.chdir(cwd)


def test_not_found_lists_where_it_looked(monkeypatch) -> None:
    monkeypatch.delenv("SQZ_LIBRARY", raising=False)
    monkeypatch.setattr(_library, "_loaded", None)
    monkeypatch.setattr(_library, "_build_tree_candidates", lambda: [])
    monkeypatch.setattr(_library.ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(_library, "_SONAME", "libsqz-that-does-not-exist.so.0")
    with pytest.raises(_library.LibraryNotFound) as info:
        _library.load()
    message = str(info.value)
    for place in ("SQZ_LIBRARY", "build/libsqz.so", "find_library", "libsqz-that-does-not"):
        assert place in message
