"""The Python example in README.md runs and prints what it claims."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- python-example -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its marked Python example"
    return match.group(1)


def test_readme_example_is_short() -> None:
    lines = [line for line in readme_example().splitlines() if line.strip()]
    assert len(lines) <= 6  # the import and five lines


def test_readme_example_runs(data, python_env) -> None:
    code = readme_example().replace("../shared/data", str(data))
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=python_env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "tench" in result.stdout
