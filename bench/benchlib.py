"""Shared helpers of the bench's Python tools (compare_torch.py, plot.py,
report.py, check_results.py): reading and writing the sqz-bench JSON,
the speed-up ratios, the Markdown report. Standard library only.

The JSON schema is described in docs/benchmarks.md; sqz-bench writes it,
compare_torch.py appends "torch-*" rows to it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

SQZ_BACKENDS = ("fused", "cudnn", "unfused", "cpu")
TORCH_BACKENDS = ("torch-eager", "torch-graphs", "torch-compile")
KINDS = ("forward", "e2e", "layers", "sweep")
BASE_ORDER = ("fused", "unfused", "cudnn", "cpu")

# The fields every result row has (the schema), with their types.
RESULT_FIELDS: Dict[str, Tuple[type, ...]] = {
    "model": (str,),
    "backend": (str,),
    "precision": (str,),
    "batch": (int,),
    "input": (int,),
    "graphs": (bool,),
    "median_ms": (int, float),
    "p90_ms": (int, float),
    "p99_ms": (int, float),
    "min_ms": (int, float),
    "images_per_s": (int, float),
    "peak_bytes": (int,),
}
DEVICE_FIELDS = ("name", "sm_clock_mhz", "memory_clock_mhz", "driver", "cuda", "cudnn", "cublas")


def load(path: str) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_atomically(path: str, doc: Dict[str, Any]) -> None:
    """Writes JSON to a temporary file beside path, then renames it over path."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def is_torch(backend: str) -> bool:
    return backend.startswith("torch-")


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between the nearest ranks (as sqz-bench and numpy)."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    pos = q * (n - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(samples_ms: Iterable[float]) -> Dict[str, Any]:
    s = sorted(samples_ms)
    return {
        "median_ms": quantile(s, 0.5),
        "p90_ms": quantile(s, 0.9),
        "p99_ms": quantile(s, 0.99),
        "min_ms": s[0],
        "max_ms": s[-1],
        "mean_ms": sum(s) / len(s),
        "iterations": len(s),
    }


def ratio_base(doc: Dict[str, Any]) -> Optional[str]:
    """The backend the speed-ups are of: the run's choice if it has rows, else
    the first present of fused, unfused, cudnn, cpu."""
    present = {r["backend"] for r in doc.get("results", [])}
    wanted = (doc.get("settings") or {}).get("ratio_base")
    if wanted in present:
        return wanted
    for b in BASE_ORDER:
        if b in present:
            return b
    return None


def compute_ratios(doc: Dict[str, Any], base: Optional[str] = None) -> List[Dict[str, Any]]:
    """Speed-ups of the base backend over every other row of the same model,
    kind, precision, batch and input; sqz rows must also have the same graphs
    setting, torch rows match either. speedup = other median / base median."""
    base = base or ratio_base(doc)
    if base is None:
        return []
    rows = doc.get("results", [])
    out = []
    for b in rows:
        if b["backend"] != base or not b.get("median_ms"):
            continue
        for o in rows:
            if o is b or o["backend"] == base:
                continue
            if (o["model"], o.get("kind"), o["precision"], o["batch"], o["input"]) != \
                    (b["model"], b.get("kind"), b["precision"], b["batch"], b["input"]):
                continue
            if not is_torch(o["backend"]) and o["graphs"] != b["graphs"]:
                continue
            out.append({
                "model": b["model"], "kind": b.get("kind", "forward"),
                "precision": b["precision"], "batch": b["batch"], "input": b["input"],
                "graphs": b["graphs"], "base": base, "other": o["backend"],
                "other_graphs": o["graphs"],
                "base_median_ms": b["median_ms"], "other_median_ms": o["median_ms"],
                "speedup": o["median_ms"] / b["median_ms"],
            })
    return out


# ----------------------------------------------------------------- Markdown

def fmt_ms(v: Optional[float]) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 10:
        return f"{v:.2f}"
    if v >= 1:
        return f"{v:.3f}"
    return f"{v:.4f}"


def fmt_rate(v: Optional[float]) -> str:
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.0f}" if v >= 100 else f"{v:.2f}"


def backend_order(names: Iterable[str]) -> List[str]:
    names = set(names)
    known = [b for b in SQZ_BACKENDS + TORCH_BACKENDS if b in names]
    return known + sorted(names - set(known))


def device_line(doc: Dict[str, Any]) -> str:
    d = doc.get("device", {})
    if d.get("type") == "gpu":
        parts = [f"{d.get('name')}", f"SM {d.get('sm_clock_mhz')} MHz",
                 f"memory {d.get('memory_clock_mhz')} MHz", f"driver {d.get('driver')}",
                 f"CUDA {d.get('cuda')}", f"cuDNN {d.get('cudnn')}", f"cuBLAS {d.get('cublas')}"]
    else:
        host = doc.get("host", {})
        parts = [f"CPU only: {host.get('cpu', d.get('name'))}, {host.get('cores')} cores"]
    torch_info = doc.get("torch")
    if torch_info:
        parts.append(f"PyTorch {torch_info.get('version')}")
    parts.append(f"git {str(doc.get('git'))[:12]}{' (dirty)' if doc.get('git_dirty') else ''}")
    parts.append(f"{doc.get('created')}")
    return ", ".join(parts)


def markdown(doc: Dict[str, Any]) -> str:
    """The whole report: results, speed-ups, per-layer, sweep, skipped."""
    lines: List[str] = []
    add = lines.append
    add(f"## sqz-bench on {doc.get('device', {}).get('name')}")
    add("")
    add(device_line(doc) + ".")
    add("")
    rows = doc.get("results", [])
    fwd = [r for r in rows if r.get("kind", "forward") == "forward"]
    if fwd:
        add("### Summary: forward, median ms (images/s)")
        add("")
        add("sqz backends with CUDA graphs where they ran with them; PyTorch: eager, "
            "CUDA graphs, torch.compile max-autotune.")
        add("")
        for group_key in dict.fromkeys((r["model"], r["precision"], r["input"]) for r in fwd):
            sel = [r for r in fwd if (r["model"], r["precision"], r["input"]) == group_key]
            graphs_on = {r["backend"] for r in sel if r["graphs"]}
            by_cell: Dict[Tuple[str, int], Dict[str, Any]] = {}
            for r in sel:
                b = r["backend"]
                if not is_torch(b) and b in graphs_on and not r["graphs"]:
                    continue
                by_cell[(b, r["batch"])] = r
            cols = backend_order({b for b, _ in by_cell})
            add(f"{group_key[0]}, {group_key[1]}, input {group_key[2]}:")
            add("")
            add("| batch | " + " | ".join(cols) + " |")
            add("|---:|" + "---:|" * len(cols))
            for batch in sorted({n for _, n in by_cell}):
                add(f"| {batch} | " + " | ".join(
                    f"{fmt_ms(by_cell[(c, batch)]['median_ms'])} "
                    f"({fmt_rate(by_cell[(c, batch)]['images_per_s'])})"
                    if (c, batch) in by_cell else "-" for c in cols) + " |")
            add("")
    add("### Results")
    add("")
    add("| model | kind | backend | precision | batch | input | graphs | median ms | p90 ms | "
        "p99 ms | min ms | images/s | peak MiB |")
    add("|---|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        add(f"| {r['model']} | {r.get('kind', 'forward')} | {r['backend']} | {r['precision']} | "
            f"{r['batch']} | {r['input']} | {'on' if r['graphs'] else 'off'} | "
            f"{fmt_ms(r['median_ms'])} | {fmt_ms(r['p90_ms'])} | {fmt_ms(r['p99_ms'])} | "
            f"{fmt_ms(r['min_ms'])} | {fmt_rate(r['images_per_s'])} | "
            f"{r['peak_bytes'] / 2**20:.1f} |")
    add("")
    ratios = doc.get("ratios") or []
    if ratios:
        base = ratios[0]["base"]
        others = backend_order({q["other"] for q in ratios})
        add(f"### Speed-up of {base}")
        add("")
        add(f"Median time of the other / median time of {base} (> 1: {base} is faster), "
            "measured in the same run; sqz backends at the same graphs setting, PyTorch rows "
            "against both.")
        add("")
        add(f"| model | kind | precision | batch | input | graphs | {base} ms | " +
            " | ".join(f"vs {o}" for o in others) + " |")
        add("|---|---|---|---:|---:|---|---:|" + "---:|" * len(others))
        groups: Dict[Tuple, Dict[str, float]] = {}
        base_ms: Dict[Tuple, float] = {}
        for q in ratios:
            key = (q["model"], q["kind"], q["precision"], q["batch"], q["input"], q["graphs"])
            groups.setdefault(key, {})[q["other"]] = q["speedup"]
            base_ms[key] = q["base_median_ms"]
        for key, cells in groups.items():
            model, kind, precision, batch, size, graphs = key
            add(f"| {model} | {kind} | {precision} | {batch} | {size} | "
                f"{'on' if graphs else 'off'} | {fmt_ms(base_ms[key])} | " +
                " | ".join(f"{cells[o]:.2f}x" if o in cells else "-" for o in others) + " |")
        add("")
    layer_rows = [r for r in rows if r.get("kind") == "layers" and r.get("layers")]
    if layer_rows:
        add("### Per layer")
        add("")
        add("Median ms of each layer (sqz_engine_profile, without CUDA graphs); 0 where a "
            "backend folds the layer into another.")
        add("")
        seen: List[Tuple[str, str, int, int]] = []
        for r in layer_rows:
            lkey = (r["model"], r["precision"], r["batch"], r["input"])
            if lkey in seen:
                continue
            seen.append(lkey)
            group = [x for x in layer_rows
                     if (x["model"], x["precision"], x["batch"], x["input"]) == lkey]
            cols = backend_order({x["backend"] for x in group})
            by_backend = {x["backend"]: x for x in group}
            add(f"{lkey[0]}, {lkey[1]}, batch {lkey[2]}, input {lkey[3]}:")
            add("")
            add("| layer | " + " | ".join(cols) + " |")
            add("|---|" + "---:|" * len(cols))
            for i, layer in enumerate(r["layers"]):
                row_cells = []
                for c in cols:
                    ls = by_backend[c]["layers"]
                    row_cells.append(fmt_ms(ls[i]["median_ms"]) if i < len(ls) else "-")
                add(f"| {layer['name']} | " + " | ".join(row_cells) + " |")
            add("| **total** | " + " | ".join(fmt_ms(by_backend[c]["median_ms"]) for c in cols)
                + " |")
            add("")
    sweep = doc.get("sweep") or []
    if sweep:
        add("### Design-space sweep")
        add("")
        add("Squeeze ratio SR (at pct_3x3 0.5) and 3x3 share pct (at SR 0.5); base_e 128, "
            "incr_e 128, freq 2. Latency: median ms at the smallest sweep batch; throughput: "
            "images/s at the largest.")
        add("")
        order = list(SQZ_BACKENDS)
        combos = sorted({(t["backend"], t["precision"]) for s in sweep for t in s["timings"]},
                        key=lambda bp: (bp[1], order.index(bp[0]) if bp[0] in order else 9))
        batches = sorted({t["batch"] for s in sweep for t in s["timings"]})
        lo, hi = (batches[0], batches[-1]) if batches else (None, None)
        add("| grid | SR | pct | input | params | MB fp32 | MMACs | " +
            " | ".join(f"{b} {p} ms@{lo}" for b, p in combos) + " | " +
            " | ".join(f"{b} {p} img/s@{hi}" for b, p in combos) + " |")
        add("|---|---:|---:|---:|---:|---:|---:|" + "---:|" * (2 * len(combos)))
        for s in sweep:
            t = {(x["backend"], x["precision"], x["batch"]): x for x in s["timings"]}
            lat = [fmt_ms(t[(b, p, lo)]["median_ms"]) if (b, p, lo) in t else "-"
                   for b, p in combos]
            thr = [fmt_rate(t[(b, p, hi)]["images_per_s"]) if (b, p, hi) in t else "-"
                   for b, p in combos]
            add(f"| {'+'.join(s['grid'])} | {s['squeeze_ratio']:g} | {s['pct_3x3']:g} | "
                f"{s['input']} | {s['params']} | {s['model_bytes_fp32'] / 1e6:.2f} | "
                f"{s['macs'] / 1e6:.0f} | " + " | ".join(lat + thr) + " |")
        add("")
    for section, word in (("skipped", "skipped"), ("failed", "FAILED")):
        entries = doc.get(section) or []
        if not entries:
            continue
        counts: Dict[Tuple[str, str, str], int] = {}
        for e in entries:
            k = (e.get("backend", "?"), e.get("precision", "?"), e.get("reason", "?"))
            counts[k] = counts.get(k, 0) + 1
        add(f"{len(entries)} configuration{'s' if len(entries) != 1 else ''} {word}:")
        add("")
        for (b, p, reason), n in counts.items():
            add(f"- {n} x {b} {p}: {reason}")
        add("")
    return "\n".join(lines)
