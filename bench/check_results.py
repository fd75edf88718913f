#!/usr/bin/env python3
"""Checks an sqz-bench JSON file against the schema of docs/benchmarks.md.

Every result row must have the issue's fields with sane values (positive
times, min <= median <= p90 <= p99, images/s = batch / median), the device
and git sections must be there, ratios must agree with the rows they name.
The --expect-* options also require that certain kinds, backends, batches
or saved model files are present. Prints every problem found; exit status 0
when there is none, 1 otherwise, 2 for a usage error. Standard library only
(used by the ctest smoke test and by scripts/bench.sh).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_row(i: int, r: Dict[str, Any], problems: List[str]) -> None:
    where = f"results[{i}]"
    for key, types in benchlib.RESULT_FIELDS.items():
        if key not in r:
            problems.append(f"{where}: missing '{key}'")
            continue
        v = r[key]
        ok = isinstance(v, types) and (bool in types or not isinstance(v, bool))
        if not ok:
            problems.append(f"{where}: '{key}' is {type(v).__name__}, expected "
                            f"{'/'.join(t.__name__ for t in types)}")
    if any(p.startswith(where + ":") for p in problems):
        return
    where = (f"results[{i}] ({r['model']} {r['backend']} {r['precision']} batch {r['batch']} "
             f"{r.get('kind', '?')})")
    if r["precision"] not in ("fp32", "fp16"):
        problems.append(f"{where}: precision '{r['precision']}'")
    if r["batch"] < 1 or r["input"] < 1:
        problems.append(f"{where}: batch and input must be positive")
    if r.get("kind", "forward") not in benchlib.KINDS:
        problems.append(f"{where}: unknown kind '{r.get('kind')}'")
    times = [r["min_ms"], r["median_ms"], r["p90_ms"], r["p99_ms"]]
    if not all(is_number(t) and t > 0 for t in times):
        problems.append(f"{where}: times must be positive numbers, got {times}")
    elif not all(a <= b * (1 + 1e-9) for a, b in zip(times, times[1:])):
        problems.append(f"{where}: expected min <= median <= p90 <= p99, got {times}")
    elif not is_number(r["images_per_s"]) or \
            abs(r["images_per_s"] - r["batch"] * 1e3 / r["median_ms"]) > \
            1e-4 * r["images_per_s"]:
        problems.append(f"{where}: images_per_s {r['images_per_s']} is not batch / median")
    if r["peak_bytes"] < 0:
        problems.append(f"{where}: negative peak_bytes")
    if not benchlib.is_torch(r["backend"]):
        if r["backend"] not in benchlib.SQZ_BACKENDS:
            problems.append(f"{where}: unknown backend '{r['backend']}'")
        mem = r.get("memory")
        if not isinstance(mem, dict) or not all(
                k in mem for k in ("weights_bytes", "activations_bytes", "workspace_bytes",
                                   "staging_bytes", "device_delta_bytes")):
            problems.append(f"{where}: missing or incomplete 'memory'")
        elif r["peak_bytes"] != (mem["weights_bytes"] + mem["activations_bytes"] +
                                 mem["workspace_bytes"]):
            problems.append(f"{where}: peak_bytes is not weights + activations + workspace")
        if r.get("output_finite") is False:
            problems.append(f"{where}: the output had non-finite values")
    if r.get("kind") == "layers":
        layers = r.get("layers")
        if not isinstance(layers, list) or not layers:
            problems.append(f"{where}: layers row without 'layers'")
        elif not all(isinstance(x, dict) and isinstance(x.get("name"), str) and
                     is_number(x.get("median_ms")) and x["median_ms"] >= 0 for x in layers):
            problems.append(f"{where}: malformed 'layers' entries")
    if r.get("kind") == "sweep":
        s = r.get("sweep")
        if not isinstance(s, dict) or not is_number(s.get("squeeze_ratio")) or \
                not is_number(s.get("pct_3x3")) or not isinstance(s.get("grid"), list):
            problems.append(f"{where}: sweep row without a proper 'sweep' object")


def check(doc: Dict[str, Any], args: argparse.Namespace) -> List[str]:
    problems: List[str] = []
    if not isinstance(doc, dict):
        return ["the document is not a JSON object"]
    device = doc.get("device")
    if not isinstance(device, dict):
        problems.append("missing 'device'")
    else:
        for key in benchlib.DEVICE_FIELDS:
            if key not in device:
                problems.append(f"device: missing '{key}'")
        if not isinstance(device.get("name"), str) or not device.get("name"):
            problems.append("device: 'name' must be a non-empty string")
    if not isinstance(doc.get("git"), str) or not doc.get("git"):
        problems.append("missing 'git' (the commit)")
    results = doc.get("results")
    if not isinstance(results, list):
        return problems + ["missing 'results'"]
    if not results:
        problems.append("'results' is empty: nothing was measured")
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            problems.append(f"results[{i}] is not an object")
            continue
        check_row(i, r, problems)
    for key in ("skipped", "failed"):
        for i, e in enumerate(doc.get(key) or []):
            if not isinstance(e, dict) or not isinstance(e.get("reason"), str):
                problems.append(f"{key}[{i}]: missing 'reason'")
    def listed(key: str) -> str:  # "N configuration(s) failed: the first five, why"
        return (f"{len(doc[key])} configuration(s) {key}: " +
                "; ".join(f"{e.get('model')} {e.get('backend')} {e.get('precision')} "
                          f"batch {e.get('batch')}: {e.get('reason')}" for e in doc[key][:5]))
    if doc.get("failed"):
        problems.append(listed("failed"))
    if getattr(args, "no_skips", False) and doc.get("skipped"):
        problems.append(listed("skipped"))
    medians = {(r["model"], r.get("kind"), r["precision"], r["batch"], r["input"], r["graphs"],
                r["backend"]): r["median_ms"] for r in results if isinstance(r, dict)
               and all(k in r for k in benchlib.RESULT_FIELDS)}
    for i, q in enumerate(doc.get("ratios") or []):
        try:
            sp = q["other_median_ms"] / q["base_median_ms"]
            if not (is_number(q["speedup"]) and abs(sp - q["speedup"]) <= 1e-6 * sp):
                problems.append(f"ratios[{i}]: speedup {q['speedup']} != {sp}")
            base_key = (q["model"], q["kind"], q["precision"], q["batch"], q["input"],
                        q["graphs"], q["base"])
            if base_key not in medians:
                problems.append(f"ratios[{i}]: no result row for its base {base_key}")
        except (KeyError, TypeError, ZeroDivisionError) as exc:
            problems.append(f"ratios[{i}]: malformed ({exc!r})")
    for i, s in enumerate(doc.get("sweep") or []):
        for key in ("squeeze_ratio", "pct_3x3", "params", "macs", "model_bytes_fp32", "timings"):
            if key not in s:
                problems.append(f"sweep[{i}]: missing '{key}'")
    kinds = {r.get("kind") for r in results if isinstance(r, dict)}
    backends = {r.get("backend") for r in results if isinstance(r, dict)}
    batches = {r.get("batch") for r in results if isinstance(r, dict)}
    for k in args.expect_kinds:
        if k not in kinds:
            problems.append(f"no result of kind '{k}'")
    for b in args.expect_backends:
        if b not in backends:
            problems.append(f"no result of backend '{b}'")
    for n in args.expect_batches:
        if n not in batches:
            problems.append(f"no result at batch {n}")
    if "sweep" in args.expect_kinds and not doc.get("sweep"):
        problems.append("no 'sweep' summary")
    if args.expect_models:
        models = doc.get("models")
        if not isinstance(models, list) or not models:
            problems.append("missing 'models'")
        else:
            for m in models:
                f = m.get("file")
                if not f or not os.path.isfile(f):
                    problems.append(f"model {m.get('model')}: saved file {f!r} not found")
    return problems


def main() -> int:
    def csv(text: str) -> List[str]:
        return [t for t in text.split(",") if t]

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json", help="the sqz-bench JSON file")
    p.add_argument("--expect-kinds", type=csv, default=[], metavar="LIST",
                   help="kinds that must have rows (forward,e2e,layers,sweep)")
    p.add_argument("--expect-backends", type=csv, default=[], metavar="LIST",
                   help="backends that must have rows (e.g. cudnn,unfused,torch-eager)")
    p.add_argument("--expect-batches", type=lambda s: [int(x) for x in csv(s)], default=[],
                   metavar="LIST", help="batch sizes that must have rows")
    p.add_argument("--no-skips", action="store_true",
                   help="a skipped configuration is a problem too (on a GPU machine, where "
                        "every backend must run)")
    p.add_argument("--expect-models", action="store_true",
                   help="every model must name a saved .sqzw file that exists")
    args = p.parse_args()
    try:
        doc = benchlib.load(args.json)
    except (OSError, ValueError) as exc:
        print(f"check_results: cannot read {args.json}: {exc}", file=sys.stderr)
        return 1
    problems = check(doc, args)
    for line in problems:
        print(f"check_results: {args.json}: {line}", file=sys.stderr)
    n = len(doc.get("results") or []) if isinstance(doc, dict) else 0
    if problems:
        print(f"check_results: {len(problems)} problem(s) in {args.json}", file=sys.stderr)
        return 1
    print(f"check_results: {args.json}: OK ({n} result rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
