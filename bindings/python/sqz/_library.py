"""Finding and loading libsqz.

The search order (the first hit wins):

1. ``SQZ_LIBRARY``: the path of a libsqz shared library. When it is set it is
   the only place tried, so a wrong value is reported rather than silently
   replaced by another library.
2. A CMake build tree: ``build/libsqz.so`` in the directory of this package's
   source files or any directory above it (an in-tree checkout run with
   ``PYTHONPATH=bindings/python``), then the same for the current directory
   and its parents.
3. An installed library: ``ctypes.util.find_library("sqz")`` (ldconfig's
   cache, e.g. after ``cmake --install build --prefix /usr/local``), then
   the dynamic loader's own search path (``LD_LIBRARY_PATH``) for
   ``libsqz.so.0``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path
from typing import List, Optional, Tuple

_SHARED_NAME = "libsqz.dylib" if sys.platform == "darwin" else "libsqz.so"
_SONAME = "libsqz.0.dylib" if sys.platform == "darwin" else "libsqz.so.0"

_loaded: Optional[Tuple[ctypes.CDLL, str]] = None


class LibraryNotFound(ImportError):
    """libsqz could not be found or loaded; the message lists where we looked."""


def _build_tree_candidates() -> List[Path]:
    """build/libsqz.so above the package source and above the current dir."""
    starts = [Path(__file__).resolve().parent, Path.cwd().resolve()]
    found: List[Path] = []
    for start in starts:
        for directory in (start, *start.parents):
            candidate = directory / "build" / _SHARED_NAME
            if candidate not in found:
                found.append(candidate)
    return found


def _try_load(path: str, tried: List[str]) -> Optional[ctypes.CDLL]:
    try:
        return ctypes.CDLL(path)
    except OSError as exc:
        tried.append(f"{path}: {exc}")
        return None


def load() -> Tuple[ctypes.CDLL, str]:
    """Loads libsqz once and returns it with the path or name it came from."""
    global _loaded
    if _loaded is not None:
        return _loaded
    tried: List[str] = []

    explicit = os.environ.get("SQZ_LIBRARY")
    if explicit:
        if not Path(explicit).is_file():
            raise LibraryNotFound(f"SQZ_LIBRARY={explicit!r} is not a file")
        lib = _try_load(explicit, tried)
        if lib is None:
            raise LibraryNotFound(f"SQZ_LIBRARY={explicit!r} could not be loaded: {tried[-1]}")
        _loaded = (lib, explicit)
        return _loaded
    tried.append("SQZ_LIBRARY: not set")

    for candidate in _build_tree_candidates():
        if candidate.is_file():
            lib = _try_load(str(candidate), tried)
            if lib is not None:
                _loaded = (lib, str(candidate))
                return _loaded
    tried.append(
        f"build/{_SHARED_NAME} in {Path(__file__).resolve().parent} and "
        f"{Path.cwd().resolve()} and their parent directories: none found"
    )

    name = ctypes.util.find_library("sqz")
    if name:
        lib = _try_load(name, tried)
        if lib is not None:
            _loaded = (lib, name)
            return _loaded
    else:
        tried.append('ctypes.util.find_library("sqz"): not found')

    lib = _try_load(_SONAME, tried)
    if lib is not None:
        _loaded = (lib, _SONAME)
        return _loaded

    raise LibraryNotFound(
        "libsqz was not found. Build it (cmake -S . -B build && cmake --build build) "
        "or set SQZ_LIBRARY to the path of libsqz.so. Looked in:\n  " + "\n  ".join(tried)
    )
