#!/usr/bin/env python3
"""Summarises a GoogleTest JSON report (--gtest_output=json:FILE) for
scripts/gpu-check.sh, where a GPU test that skips is a failure of the check:
on the GPU machine every backend is built and the data is carried, so a skip
means something did not run that had to.

Prints the counts, then every failed and every skipped test by name. Exit
status: 0 when every test passed, 1 when any failed or skipped (or the report
lists no test at all), 2 when the report cannot be read.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: gtest_summary.py REPORT.json", file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"gtest_summary: cannot read {sys.argv[1]}: {exc}", file=sys.stderr)
        return 2
    passed, failed, skipped = [], [], []
    for suite in report.get("testsuites", []):
        for test in suite.get("testsuite", []):
            name = f"{suite.get('name', '?')}.{test.get('name', '?')}"
            if test.get("failures"):
                failed.append(name)
            elif test.get("result") == "SKIPPED":
                skipped.append(name)
            elif test.get("status") == "RUN":
                passed.append(name)
    total = len(passed) + len(failed) + len(skipped)
    print(f"{total} tests: {len(passed)} passed, {len(failed)} failed, {len(skipped)} skipped")
    for name in failed:
        print(f"  FAILED  {name}")
    for name in skipped:
        print(f"  SKIPPED {name} (a skip on the GPU machine counts as a failure)")
    return 0 if total and not failed and not skipped else 1


if __name__ == "__main__":
    sys.exit(main())
