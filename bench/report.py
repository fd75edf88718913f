#!/usr/bin/env python3
"""The Markdown report of an sqz-bench JSON, PyTorch rows included.

sqz-bench prints its own tables; after compare_torch.py has appended the
PyTorch rows, this renders the merged file the same way (results, speed-ups
with the torch columns, per-layer, sweep, skipped). Prints to stdout, and
writes --out when given. Standard library only. Exit status 0, 1 on error.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json", help="the sqz-bench JSON")
    p.add_argument("--out", help="also write the Markdown here")
    args = p.parse_args()
    try:
        doc = benchlib.load(args.json)
    except (OSError, ValueError) as exc:
        print(f"report: cannot read {args.json}: {exc}", file=sys.stderr)
        return 1
    if "ratios" not in doc:
        doc["ratios"] = benchlib.compute_ratios(doc)
    text = benchlib.markdown(doc) + "\n"
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, args.out)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
