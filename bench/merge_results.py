#!/usr/bin/env python3
"""Merges several sqz-bench JSON files of one run into one.

scripts/bench.sh runs sqz-bench several times (each part of the matrix with
its own modes and sizes) and merges the files: device, git and settings from
the first, the results, skipped, failed, models (once each) and sweep entries
of all, the commands listed, and the speed-up ratios recomputed over all rows.
Standard library only. Exit status 0, 1 on error.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", help="sqz-bench JSON files, in order")
    p.add_argument("--out", required=True, help="the merged JSON (written atomically)")
    args = p.parse_args()
    docs = []
    for path in args.inputs:
        try:
            docs.append(benchlib.load(path))
        except (OSError, ValueError) as exc:
            print(f"merge_results: skipping {path}: {exc}", file=sys.stderr)
    if not docs:
        print("merge_results: nothing to merge", file=sys.stderr)
        return 1
    merged = dict(docs[0])
    gpu = [d for d in docs if d.get("device", {}).get("type") == "gpu"]
    if gpu:
        merged["device"] = gpu[0]["device"]
    merged["command"] = [d.get("command") for d in docs]
    merged["wall_s"] = sum(d.get("wall_s") or 0 for d in docs)
    for key in ("results", "skipped", "failed", "sweep"):
        merged[key] = [x for d in docs for x in d.get(key) or []]
    models: Dict[str, Any] = {}
    for d in docs:
        for m in d.get("models") or []:
            models.setdefault(m["model"], m)
    merged["models"] = list(models.values())
    merged["ratios"] = benchlib.compute_ratios(merged)
    benchlib.save_atomically(args.out, merged)
    print(f"merge_results: {len(docs)} files, {len(merged['results'])} rows -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
