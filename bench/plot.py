#!/usr/bin/env python3
"""PNG plots of an sqz-bench JSON (with or without compare_torch.py's rows).

Writes into the output folder:
  latency_<kind>_<precision>.png     median latency vs batch, per model, one
                                      line per backend (log axes)
  throughput_<kind>_<precision>.png  images/s vs batch, the same way
  speedup_<precision>.png            speed-up of the ratio base (fused) over
                                      every other backend vs batch
  memory_<precision>.png             peak memory vs batch per backend
  layers_<model>_<precision>_b<N>.png  per-layer times, stacked, per backend
  sweep_sr.png, sweep_pct.png        the design-space sweep: parameters, MACs,
                                      latency and throughput per backend
Works on any subset (a CPU smoke run gives the same files with one backend).
Needs matplotlib (and numpy, which it brings). Exit status 0, 1 on error.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

STYLE = {  # colour per backend; torch flavours share a hue family
    "fused": "#d62728", "cudnn": "#1f77b4", "unfused": "#2ca02c", "cpu": "#7f7f7f",
    "torch-eager": "#ff7f0e", "torch-graphs": "#9467bd", "torch-compile": "#8c564b",
}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def label_of(row: Dict[str, Any]) -> str:
    b = row["backend"]
    if not benchlib.is_torch(b) and b != "cpu":
        b += " (graphs)" if row["graphs"] else " (no graphs)"
    return b


def grid(plt: Any, n: int, title: str) -> Tuple[Any, List[Any]]:
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False)
    flat = [a for line in axes for a in line]
    for a in flat[n:]:
        a.set_visible(False)
    fig.suptitle(title, fontsize=11)
    return fig, flat[:n]


def save(fig: Any, out_dir: str, name: str, written: List[str], legend_axes: Any = None) -> None:
    """Saves the figure; with legend_axes, one legend for all panels on the right."""
    path = os.path.join(out_dir, name)
    if legend_axes is not None:
        handles: Dict[str, Any] = {}
        for ax in legend_axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        fig.legend(list(handles.values()), list(handles), loc="center left",
                   bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    written.append(path)


def batch_axis(ax: Any, batches: List[int]) -> None:
    """Log2 batch axis labelled with the batch sizes themselves."""
    from matplotlib.ticker import FixedLocator, FixedFormatter, NullLocator
    ax.set_xscale("log", base=2)
    ticks = sorted(set(batches))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([str(t) for t in ticks]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("batch")


def plain_log_y(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter
    ax.set_yscale("log")
    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(fmt)
    ax.yaxis.set_minor_formatter(fmt)
    ax.tick_params(axis="y", which="minor", labelsize=6)


def series(rows: List[Dict[str, Any]], model: str) -> Dict[str, List[Dict[str, Any]]]:
    out: Dict[str, List[Dict[str, Any]]] = {}
    for r in rows:
        if r["model"] == model:
            out.setdefault(label_of(r), []).append(r)
    for v in out.values():
        v.sort(key=lambda r: r["batch"])
    return out


def line_plots(plt: Any, doc: Dict[str, Any], out_dir: str, device: str,
               written: List[str]) -> None:
    rows = doc.get("results", [])
    for kind in ("forward", "e2e"):
        for precision in ("fp32", "fp16"):
            sel = [r for r in rows if r.get("kind", "forward") == kind and
                   r["precision"] == precision]
            if not sel:
                continue
            models = list(dict.fromkeys(r["model"] for r in sel))
            for metric, ylabel, fname in (("median_ms", "median latency (ms)", "latency"),
                                          ("images_per_s", "images/s", "throughput")):
                fig, axes = grid(plt, len(models),
                                 f"{fname} vs batch, {kind}, {precision}: {device}")
                for ax, model in zip(axes, models):
                    for name, pts in series(sel, model).items():
                        backend = pts[0]["backend"]
                        ax.plot([p["batch"] for p in pts], [p[metric] for p in pts],
                                marker="o", ms=3, label=name, color=STYLE.get(backend),
                                linestyle="--" if (not pts[0]["graphs"] and
                                                   not benchlib.is_torch(backend) and
                                                   backend != "cpu") else "-")
                    batch_axis(ax, [r["batch"] for r in sel if r["model"] == model])
                    plain_log_y(ax)
                    ax.set_title(model, fontsize=9)
                    ax.set_ylabel(ylabel)
                    ax.grid(True, which="both", alpha=0.3)
                save(fig, out_dir, f"{fname}_{kind}_{precision}.png", written, axes)
                plt.close(fig)


def speedup_plots(plt: Any, doc: Dict[str, Any], out_dir: str, device: str,
                  written: List[str]) -> None:
    """Speed-up of the base backend, with CUDA graphs where it ran with them, over
    the other sqz backends at the same graphs setting and over every PyTorch flavor."""
    ratios = [q for q in doc.get("ratios") or [] if q.get("kind", "forward") == "forward"]
    if not ratios:
        return
    base = ratios[0]["base"]
    for precision in ("fp32", "fp16"):
        sel = [q for q in ratios if q["precision"] == precision]
        if not sel:
            continue
        models = list(dict.fromkeys(q["model"] for q in sel))
        base_graphs = any(q["graphs"] for q in sel)
        fig, axes = grid(plt, len(models), f"speed-up of {base} "
                         f"({'with' if base_graphs else 'without'} CUDA graphs): median of the "
                         f"other / median of {base}, forward, {precision}: {device}")
        for ax, model in zip(axes, models):
            lines: Dict[str, List[Tuple[int, float]]] = {}
            for q in sel:
                if q["model"] != model or q["graphs"] != base_graphs:
                    continue
                lines.setdefault(q["other"], []).append((q["batch"], q["speedup"]))
            for other in benchlib.backend_order(lines):
                pts = sorted(lines[other])
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3,
                        label=f"vs {other}", color=STYLE.get(other))
            ax.axhline(1.0, color="black", linewidth=0.8)
            batch_axis(ax, [q["batch"] for q in sel if q["model"] == model])
            plain_log_y(ax)
            ax.set_title(model, fontsize=9)
            ax.set_ylabel("speed-up (x)")
            ax.grid(True, which="both", alpha=0.3)
        save(fig, out_dir, f"speedup_{precision}.png", written, axes)
        plt.close(fig)


def memory_plots(plt: Any, doc: Dict[str, Any], out_dir: str, device: str,
                 written: List[str]) -> None:
    rows = [r for r in doc.get("results", []) if r.get("kind", "forward") == "forward"]
    for precision in ("fp32", "fp16"):
        sel = [r for r in rows if r["precision"] == precision and r["peak_bytes"] > 0]
        if not sel:
            continue
        models = list(dict.fromkeys(r["model"] for r in sel))
        fig, axes = grid(plt, len(models), f"peak memory vs batch, {precision}: {device}")
        for ax, model in zip(axes, models):
            seen = set()
            for r in sel:
                if r["model"] != model:
                    continue
                key = r["backend"]  # memory does not depend on the graphs setting
                if key in seen:
                    continue
                seen.add(key)
                pts = sorted((x for x in sel if x["model"] == model and x["backend"] == key),
                             key=lambda x: x["batch"])
                by_batch = {p["batch"]: p["peak_bytes"] for p in pts}
                ax.plot(list(by_batch), [v / 2**20 for v in by_batch.values()], marker="o",
                        ms=3, label=key, color=STYLE.get(key))
            batch_axis(ax, [r["batch"] for r in sel if r["model"] == model])
            plain_log_y(ax)
            ax.set_title(model, fontsize=9)
            ax.set_ylabel("peak MiB")
            ax.grid(True, which="both", alpha=0.3)
        save(fig, out_dir, f"memory_{precision}.png", written, axes)
        plt.close(fig)


def layer_plots(plt: Any, doc: Dict[str, Any], out_dir: str, device: str,
                written: List[str]) -> None:
    rows = [r for r in doc.get("results", []) if r.get("kind") == "layers" and r.get("layers")]
    groups: Dict[Tuple, List[Dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["precision"], r["batch"], r["input"]), []).append(r)
    for (model, precision, batch, size), group in groups.items():
        group.sort(key=lambda r: list(STYLE).index(r["backend"]) if r["backend"] in STYLE
                   else len(STYLE))
        names = [layer["name"] for layer in group[0]["layers"]]
        cmap = plt.get_cmap("tab20")
        fig, ax = plt.subplots(figsize=(2.2 + 1.3 * len(group), 5.2))
        xs = list(range(len(group)))
        bottoms = [0.0] * len(group)
        for i, name in enumerate(names):
            vals = [r["layers"][i]["median_ms"] if i < len(r["layers"]) else 0 for r in group]
            ax.bar(xs, vals, bottom=bottoms, color=cmap(i % 20), label=name, width=0.6)
            bottoms = [b + v for b, v in zip(bottoms, vals)]
        ax.set_xticks(xs)
        ax.set_xticklabels([r["backend"] for r in group])
        ax.set_ylabel("ms (median per layer)")
        ax.set_title(f"per layer: {model}, {precision}, batch {batch}, input {size}\n{device}",
                     fontsize=9)
        ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
        save(fig, out_dir, f"layers_{slug(model)}_{precision}_b{batch}_i{size}.png", written)
        plt.close(fig)


def sweep_plots(plt: Any, doc: Dict[str, Any], out_dir: str, device: str,
                written: List[str]) -> None:
    sweep = doc.get("sweep") or []
    if not sweep:
        return
    combos = sorted({(t["backend"], t["precision"]) for s in sweep for t in s["timings"]})
    batches = sorted({t["batch"] for s in sweep for t in s["timings"]})
    lo, hi = (batches[0], batches[-1]) if batches else (None, None)
    for grid_name, xkey, xlabel, fixed in (("sr", "squeeze_ratio", "squeeze ratio SR",
                                             "pct_3x3 = 0.5"),
                                            ("pct", "pct_3x3", "pct_3x3 (share of 3x3 filters)",
                                             "SR = 0.5")):
        pts = sorted((s for s in sweep if grid_name in s["grid"]), key=lambda s: s[xkey])
        inputs = sorted({s["input"] for s in pts})
        if not pts:
            continue
        size = inputs[0]
        pts = [s for s in pts if s["input"] == size]
        xs = [s[xkey] for s in pts]
        fig, axes = plt.subplots(1, 4, figsize=(19, 4.2))
        fig.suptitle(f"design-space sweep over {xlabel} ({fixed}; base_e 128, incr_e 128, "
                     f"freq 2; input {size}): {device}", fontsize=10)
        axes[0].plot(xs, [s["params"] / 1e6 for s in pts], marker="o", label="parameters (M)")
        axes[0].plot(xs, [s["model_bytes_fp32"] / 1e6 for s in pts], marker="s",
                     label="size fp32 (MB)")
        axes[0].set_title("model size")
        axes[1].plot(xs, [s["macs"] / 1e6 for s in pts], marker="o", color="black")
        axes[1].set_title(f"MACs (M) at {size}x{size}")
        for backend, precision in combos:
            def pick(s: Dict[str, Any], batch: Any, key: str) -> float:
                for t in s["timings"]:
                    if (t["backend"], t["precision"], t["batch"]) == (backend, precision, batch):
                        return t[key]
                return float("nan")
            style = "-" if precision == "fp32" else "--"
            axes[2].plot(xs, [pick(s, lo, "median_ms") for s in pts], marker="o", ms=3,
                         linestyle=style, color=STYLE.get(backend), label=f"{backend} {precision}")
            axes[3].plot(xs, [pick(s, hi, "images_per_s") for s in pts], marker="o", ms=3,
                         linestyle=style, color=STYLE.get(backend),
                         label=f"{backend} {precision}")
        axes[2].set_title(f"latency at batch {lo} (ms)")
        axes[3].set_title(f"throughput at batch {hi} (images/s)")
        for ax in axes:
            ax.set_xlabel(xlabel)
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        save(fig, out_dir, f"sweep_{grid_name}.png", written)
        plt.close(fig)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json", help="the sqz-bench JSON")
    p.add_argument("--out", required=True, help="folder for the PNG files (created)")
    args = p.parse_args()
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:
        print(f"plot: matplotlib is not importable ({exc}); pip install matplotlib",
              file=sys.stderr)
        return 1
    try:
        doc = benchlib.load(args.json)
    except (OSError, ValueError) as exc:
        print(f"plot: cannot read {args.json}: {exc}", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    d = doc.get("device", {})
    device = d.get("name", "?") if d.get("type") == "gpu" else f"CPU only ({d.get('name')})"
    written: List[str] = []
    for fn in (line_plots, speedup_plots, memory_plots, layer_plots, sweep_plots):
        fn(plt, doc, args.out, device, written)
    for path in written:
        print(path)
    if not written:
        print("plot: nothing to plot in the JSON", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
