"""Shared fixtures for the Python tests.

Environment:
- SQZ_LIBRARY: libsqz.so to test (scripts/test.sh sets build/libsqz.so).
- SQZ_CLI: the sqz command-line tool (default build/apps/sqz).
- SQZ_DATA_DIR: the shared data (default ../shared/data beside the checkout);
  tests that need it skip with the reason when it is absent.

The tests use the installed ``sqz`` package; when it is not installed they
fall back to the source tree (bindings/python) so they can run in place.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List

import pytest

REPO = Path(__file__).resolve().parents[2]

try:
    import sqz  # noqa: F401
except ImportError:
    sys.path.insert(0, str(REPO / "bindings" / "python"))


def data_dir() -> Path:
    return Path(os.environ.get("SQZ_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data() -> Path:
    """The shared data folder, or skip when it is absent."""
    path = data_dir()
    if not (path / "squeezenet_v1.0_deep_compression.net").is_file():
        pytest.skip(f"shared data not found in {path} (set SQZ_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def sample_ppms(data: Path) -> List[Path]:
    """The 100 sample crops (227x227 PPM), in sorted file-name order."""
    files = sorted((data / "imagenet_samples" / "ppm").glob("*.ppm"))
    if len(files) != 100:
        pytest.skip(f"expected 100 sample crops in {data}/imagenet_samples/ppm, "
                    f"found {len(files)}")
    return files


@pytest.fixture(scope="session")
def cli() -> Path:
    """The sqz command-line tool, or skip when it was not built."""
    path = Path(os.environ.get("SQZ_CLI", REPO / "build" / "apps" / "sqz"))
    if not os.access(path, os.X_OK):
        pytest.skip(f"sqz CLI not found at {path} (build it, or set SQZ_CLI)")
    return path


@pytest.fixture()
def deep_compression(data: Path):
    """The pretrained Deep Compression v1.0 model with ImageNet labels."""
    import sqz

    model = sqz.Model.load(data / "squeezenet_v1.0_deep_compression.net")
    model.load_labels(data / "synset_words.txt")
    yield model
    model.close()


@pytest.fixture(scope="session")
def python_env() -> dict:
    """Environment for `python -m sqz...` subprocesses: finds this sqz package."""
    import sqz

    package_parent = str(Path(sqz.__file__).resolve().parents[1])
    existing = os.environ.get("PYTHONPATH")
    return {**os.environ,
            "PYTHONPATH": package_parent + (os.pathsep + existing if existing else "")}
