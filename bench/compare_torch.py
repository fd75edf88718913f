#!/usr/bin/env python3
"""PyTorch side by side with sqz-bench, on the same GPU in the same job.

Reads the JSON that sqz-bench wrote (run it with --save-models so that every
model names its .sqzw file), builds each model in PyTorch from its sqz layer
list and weights (so the bypass variants, metaparameter models and the Deep
Compression v1.0 with conv10's padding 1 all work), checks that PyTorch fp32
(TF32 off) gives the logits of the sqz cpu reference on the same random input
within 1e-4 relative, then times PyTorch eager, CUDA graphs and
torch.compile(mode="max-autotune") at the batch sizes, input sizes and
precisions of sqz-bench's forward rows (fp16 in channels_last), with CUDA
events and the same warm-up and iteration policy, and appends the rows to the
JSON as backends "torch-eager", "torch-graphs" and "torch-compile". The
speed-up ratios are recomputed over all rows. Running it again replaces the
torch rows.

Needs PyTorch with a CUDA GPU, numpy and the sqz Python package of this
checkout (bindings/python, found automatically; libsqz from SQZ_LIBRARY or
--library). Exit status: 0 success, 1 runtime error (including a model whose
PyTorch outputs do not match sqz's), 2 usage error.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import benchlib  # noqa: E402

FLAVORS = ("eager", "graphs", "compile")
FP32_RTOL = 1e-4  # PyTorch fp32 against the sqz cpu reference, relative to max |logit|
FP16_WARN = 5e-2


def log(msg: str) -> None:
    print(f"compare_torch: {msg}", file=sys.stderr, flush=True)


def die(msg: str, code: int = 1) -> "None":
    log(msg)
    sys.exit(code)


def import_torch(allow_cpu: bool) -> Tuple[Any, Any]:
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken CUDA install
        die(f"PyTorch is not importable ({exc}). This script runs on the GPU machine, where "
            "PyTorch is installed; nothing was changed.")
    if torch.cuda.is_available():
        return torch, torch.device("cuda", torch.cuda.current_device())
    if allow_cpu:
        log("no CUDA GPU: --allow-cpu given, so checking and timing eager fp32 on the CPU "
            "(wall clock; for testing this script only)")
        return torch, torch.device("cpu")
    die("PyTorch sees no CUDA GPU (torch.cuda.is_available() is False). This script compares "
        "against sqz on a GPU; nothing was changed.")
    raise AssertionError


def import_sqz(library: Optional[str]) -> Any:
    if library:
        os.environ["SQZ_LIBRARY"] = os.path.abspath(library)
    sys.path.insert(0, os.path.join(REPO, "bindings", "python"))
    try:
        import numpy  # noqa: F401  (sqz needs it: say so here if it is missing)
        import sqz
    except Exception as exc:
        die(f"cannot import the sqz Python package from {REPO}/bindings/python with libsqz "
            f"({exc}); build the library and pass --library build/libsqz.so or set SQZ_LIBRARY")
    return sqz


# ------------------------------------------------------------------ model

def build_model(torch: Any, layers: List[Any], tensors: Dict[str, Any]) -> Any:
    """A torch.nn.Module computing what sqz computes for this layer list."""
    nn = torch.nn
    F = torch.nn.functional

    def conv(name: str, cin: int, cout: int, k: int, stride: int = 1, pad: int = 0) -> Any:
        c = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=True)
        w, b = tensors[f"{name}.weight"], tensors[f"{name}.bias"]
        if tuple(c.weight.shape) != tuple(w.shape):
            raise ValueError(f"{name}.weight: sqz {tuple(w.shape)}, torch {tuple(c.weight.shape)}")
        with torch.no_grad():
            c.weight.copy_(torch.from_numpy(w))
            c.bias.copy_(torch.from_numpy(b))
        return c

    class Conv(torch.nn.Module):
        def __init__(self, info: Any) -> None:
            super().__init__()
            self.conv = conv(info.name, info.in_channels, info.out_channels, info.kernel,
                             info.stride, info.pad)
            self.relu = bool(info.relu)

        def forward(self, x: Any) -> Any:
            y = self.conv(x)
            return F.relu(y) if self.relu else y

    class Fire(torch.nn.Module):
        def __init__(self, info: Any) -> None:
            super().__init__()
            n, cin = info.name, info.in_channels
            self.squeeze = conv(f"{n}.squeeze", cin, info.squeeze, 1)
            self.expand1x1 = conv(f"{n}.expand1x1", info.squeeze, info.expand1x1, 1)
            self.expand3x3 = conv(f"{n}.expand3x3", info.squeeze, info.expand3x3, 3, pad=1)
            self.bypass = int(info.bypass)
            if self.bypass == 2:
                self.shortcut = conv(f"{n}.shortcut", cin, info.expand1x1 + info.expand3x3, 1)

        def forward(self, x: Any) -> Any:
            s = F.relu(self.squeeze(x))
            y = torch.cat([F.relu(self.expand1x1(s)), F.relu(self.expand3x3(s))], 1)
            if self.bypass == 1:
                y = y + x
            elif self.bypass == 2:
                y = y + self.shortcut(x)
            return y

    class GlobalAvgPool(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    modules = []
    for info in layers:
        kind = int(info.kind)
        if kind == 0:
            m = Conv(info)
        elif kind == 1:
            m = nn.MaxPool2d(info.kernel, info.stride, info.pad, ceil_mode=True)
        elif kind == 2:
            m = Fire(info)
        elif kind == 3:
            m = GlobalAvgPool()
        else:
            raise ValueError(f"layer {info.name}: unknown kind {kind}")
        modules.append((info.name, m))
    from collections import OrderedDict
    return nn.Sequential(OrderedDict(modules)).eval()


# ----------------------------------------------------------------- timing

class Policy:
    def __init__(self, settings: Dict[str, Any], args: argparse.Namespace) -> None:
        self.warmup = args.warmup if args.warmup is not None else settings.get("warmup", 10)
        self.iters = args.iters if args.iters is not None else settings.get("iters", 0)
        self.min_iters = settings.get("min_iters", 50)
        self.max_iters = settings.get("max_iters", 2000)
        self.min_time_ms = args.min_time if args.min_time is not None else \
            settings.get("min_time_ms", 300.0)

    def count(self, estimate_ms: float) -> int:
        if self.iters:
            return int(self.iters)
        want = math.ceil(self.min_time_ms / estimate_ms) if estimate_ms > 0 else self.max_iters
        return int(min(max(want, self.min_iters), self.max_iters))


def measure(torch: Any, device: Any, fn: Callable[[], Any], policy: Policy) -> List[float]:
    """Isolated runs, as sqz-bench: events around one call, then a sync."""
    if device.type == "cuda":
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)

        def once() -> float:
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            return float(start.elapsed_time(stop))
    else:
        def once() -> float:
            t0 = time.perf_counter()
            fn()
            return (time.perf_counter() - t0) * 1e3

    warm = [once() for _ in range(policy.warmup)]
    if len(warm) > 1:
        estimate = sum(warm[1:]) / (len(warm) - 1)
    else:
        estimate = once()
    return [once() for _ in range(policy.count(estimate))]


def rel_diff(torch: Any, a: Any, b: Any) -> float:
    a, b = a.float(), b.float()
    scale = float(b.abs().max())
    return float((a - b).abs().max()) / (scale if scale > 0 else 1.0)


# ----------------------------------------------------------------- main job

def resolve_file(path: Optional[str], json_path: str) -> Optional[str]:
    if not path:
        return None
    for candidate in (path, os.path.join(os.path.dirname(os.path.abspath(json_path)), path)):
        if os.path.isfile(candidate):
            return candidate
    return None


def verify(torch: Any, device: Any, sqz: Any, smodel: Any, net: Any, size: int, batch: int,
           gpu_backends: List[str]) -> Dict[str, Any]:
    import numpy as np
    rng = np.random.default_rng(1234)
    x = rng.uniform(-2.0, 2.0, (batch, 3, size, size)).astype(np.float32)
    with smodel.engine(backend="cpu", max_batch=batch) as e:
        ref = e.run(x)
    ref_t = torch.from_numpy(np.ascontiguousarray(ref))
    with torch.inference_mode():
        y = net.float()(torch.from_numpy(x).to(device)).cpu()
    err = rel_diff(torch, y, ref_t)
    out: Dict[str, Any] = {
        "input": size, "batch": batch, "fp32_max_abs_err": float((y - ref_t).abs().max()),
        "fp32_rel_err": err, "max_abs_logit": float(ref_t.abs().max()),
        "ok": bool(err <= FP32_RTOL), "tolerance": FP32_RTOL,
    }
    if device.type == "cuda":
        with torch.inference_mode():
            net16 = build_half(torch, net)
            x16 = torch.from_numpy(x).to(device).half().contiguous(
                memory_format=torch.channels_last)
            y16 = net16(x16).float().cpu()
        out["fp16_rel_err"] = rel_diff(torch, y16, ref_t)
        out["fp16_top1_agree"] = float((y16.argmax(1) == ref_t.argmax(1)).float().mean())
        del net16
        net.float()
        # sqz's own GPU backends on the same input, for the record.
        sqz_gpu: Dict[str, Any] = {}
        for b in gpu_backends:
            try:
                with smodel.engine(backend=b, max_batch=batch) as e:
                    sqz_gpu[b] = rel_diff(torch, torch.from_numpy(e.run(x)), ref_t)
            except Exception as exc:  # recorded, not fatal: sqz-bench measured them
                sqz_gpu[b] = f"{type(exc).__name__}: {exc}"
        out["sqz_gpu_fp32_rel_err"] = sqz_gpu
    return out


def build_half(torch: Any, net: Any) -> Any:
    import copy
    return copy.deepcopy(net).half().to(memory_format=torch.channels_last)


def time_flavor(torch: Any, device: Any, net: Any, flavor: str, precision: str, batch: int,
                size: int, policy: Policy) -> Dict[str, Any]:
    """Times one flavor; returns the row's measured fields.

    peak_bytes: the weights plus the most PyTorch's allocator held beyond
    them during the timed runs (activations, workspaces, graph pools), the
    input tensor excluded, as sqz's peak excludes the bench's buffers."""
    dtype = torch.float16 if precision == "fp16" else torch.float32
    cuda = device.type == "cuda"
    weights_bytes = sum(t.numel() * t.element_size() for t in net.parameters())
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        base_alloc = torch.cuda.memory_allocated()
        free0 = torch.cuda.mem_get_info()[0]
    gen = torch.Generator(device="cpu").manual_seed(batch * 7919 + size)
    x = (torch.rand((batch, 3, size, size), generator=gen) * 4 - 2).to(device=device, dtype=dtype)
    if precision == "fp16":
        x = x.contiguous(memory_format=torch.channels_last)
    input_bytes = x.numel() * x.element_size()
    extra: Dict[str, Any] = {}
    t0 = time.perf_counter()
    with torch.inference_mode():
        reference = net(x).float()
        if flavor == "eager":
            def fn() -> Any:
                return net(x)
        elif flavor == "graphs":
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    net(x)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = net(x)

            def fn() -> Any:
                graph.replay()
                return static_out
        elif flavor == "compile":
            torch._dynamo.reset()
            compiled = torch.compile(net, mode="max-autotune", dynamic=False)
            compiled(x)
            if cuda:
                torch.cuda.synchronize()
            extra["compile_s"] = time.perf_counter() - t0

            def fn() -> Any:
                return compiled(x)
        else:
            raise ValueError(flavor)
        out = fn().float()
        extra["max_rel_diff_vs_eager"] = rel_diff(torch, out, reference)
        finite = bool(torch.isfinite(out).all())
        del out, reference
        create_ms = (time.perf_counter() - t0) * 1e3
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        samples = measure(torch, device, fn, policy)
    stats = benchlib.summarize(samples)
    row: Dict[str, Any] = dict(stats)
    row["images_per_s"] = batch * 1e3 / stats["median_ms"]
    memory: Dict[str, Any] = {"weights_bytes": weights_bytes}
    if cuda:
        torch.cuda.synchronize()
        beyond = torch.cuda.max_memory_allocated() - base_alloc - input_bytes
        row["peak_bytes"] = int(weights_bytes + max(beyond, 0))
        memory["device_delta_bytes"] = int(free0 - torch.cuda.mem_get_info()[0])
    else:
        row["peak_bytes"] = int(weights_bytes)
        memory["device_delta_bytes"] = None
    row["memory"] = memory
    row["timer"] = "cuda_events" if cuda else "wall_clock"
    row["create_ms"] = create_ms
    row["output_finite"] = finite
    row.update(extra)
    return row


def main() -> int:
    def csv(text: str) -> List[str]:
        return [t for t in text.split(",") if t]

    p = argparse.ArgumentParser(
        description="PyTorch eager / CUDA graphs / torch.compile rows for an sqz-bench JSON.",
        epilog="Example: python3 bench/compare_torch.py --json out/bench.json "
               "--library build/libsqz.so --compile-models squeezenet1_0,squeezenet1_1")
    p.add_argument("--json", required=True, help="the sqz-bench JSON (made with --save-models)")
    p.add_argument("--out", help="where to write the result (default: --json, replaced "
                                 "atomically)")
    p.add_argument("--library", help="libsqz.so to use (default: SQZ_LIBRARY or build/)")
    p.add_argument("--flavors", type=csv, default=list(FLAVORS),
                   help="eager,graphs,compile (default: all)")
    p.add_argument("--models", type=csv, default=None,
                   help="model labels to run (default: every model with forward rows)")
    p.add_argument("--precisions", type=csv, default=None, help="default: those of the rows")
    p.add_argument("--batches", type=lambda s: [int(x) for x in csv(s)], default=None,
                   help="default: those of the rows")
    p.add_argument("--compile-models", type=csv, default=None,
                   help="models for torch.compile (default: all selected); max-autotune "
                        "takes about a minute per model, precision and batch size")
    p.add_argument("--compile-batches", type=lambda s: [int(x) for x in csv(s)], default=None,
                   help="batch sizes for torch.compile (default: all)")
    p.add_argument("--compile-precisions", type=csv, default=None,
                   help="precisions for torch.compile (default: all selected)")
    p.add_argument("--compile-budget", type=float, default=300.0, metavar="SECONDS",
                   help="no new torch.compile configuration starts after this much time has "
                        "gone into compiling (default: 300); the rest are listed as skipped")
    p.add_argument("--warmup", type=int, default=None, help="default: the sqz-bench run's")
    p.add_argument("--iters", type=int, default=None, help="default: the sqz-bench run's")
    p.add_argument("--min-time", type=float, default=None, metavar="MS",
                   help="default: the sqz-bench run's")
    p.add_argument("--verify-batch", type=int, default=2,
                   help="batch of the output check against sqz (default: 2)")
    p.add_argument("--allow-cpu", action="store_true",
                   help="testing only: without a GPU, check and time eager fp32 on the CPU")
    args = p.parse_args()
    for f in args.flavors:
        if f not in FLAVORS:
            p.error(f"unknown flavor {f!r} (expected eager, graphs, compile)")

    try:
        doc = benchlib.load(args.json)
    except (OSError, ValueError) as exc:
        die(f"cannot read {args.json}: {exc}")
    torch, device = import_torch(args.allow_cpu)
    sqz = import_sqz(args.library)

    settings = doc.get("settings") or {}
    policy = Policy(settings, args)
    tf32 = bool(settings.get("tf32", False))
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    flavors = list(args.flavors)
    if device.type != "cuda":
        flavors = [f for f in flavors if f == "eager"]

    # What to time: the sqz forward rows' (model, precision, batch, input).
    sqz_rows = [r for r in doc.get("results", []) if not benchlib.is_torch(r["backend"])]
    work: Dict[Tuple[str, int], Dict[str, Any]] = {}
    for r in sqz_rows:
        if r.get("kind", "forward") != "forward":
            continue
        if args.models and r["model"] not in args.models:
            continue
        if args.precisions and r["precision"] not in args.precisions:
            continue
        if args.batches and r["batch"] not in args.batches:
            continue
        if device.type != "cuda" and r["precision"] != "fp32":
            continue
        w = work.setdefault((r["model"], r["input"]), {"configs": set(), "gpu_backends": set(),
                                                        "params": r.get("params"),
                                                        "macs": r.get("macs")})
        w["configs"].add((r["precision"], r["batch"]))
        if r["backend"] != "cpu":
            w["gpu_backends"].add(r["backend"])
    if not work:
        die("no sqz forward rows to compare with in the JSON (or none left after the filters)")
    files = {m["model"]: resolve_file(m.get("file"), args.json) for m in doc.get("models", [])}

    # Replace earlier torch rows.
    doc["results"] = sqz_rows
    for key in ("skipped", "failed"):
        doc[key] = [e for e in doc.get(key) or [] if not benchlib.is_torch(e.get("backend", ""))]
    info: Dict[str, Any] = {
        "version": torch.__version__, "cuda": torch.version.cuda,
        "cudnn": str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available()
        else None,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "tf32": tf32, "cudnn_benchmark": True, "verification": [],
    }
    doc["torch"] = info
    errors = 0
    compile_spent = 0.0
    started = time.perf_counter()

    def skip(model: str, flavor: str, precision: str, batch: int, size: int, reason: str,
             key: str = "skipped") -> None:
        doc.setdefault(key, []).append({
            "model": model, "backend": f"torch-{flavor}", "precision": precision,
            "batch": batch, "input": size, "graphs": flavor != "eager", "kind": "forward",
            "reason": reason})

    for (label, size), w in work.items():
        configs = sorted(w["configs"], key=lambda pb: (pb[0] != "fp32", pb[1]))
        path = files.get(label)
        if not path:
            log(f"{label}: no saved model file in the JSON (run sqz-bench with --save-models); "
                "skipped")
            for precision, batch in configs:
                for f in flavors:
                    skip(label, f, precision, batch, size, "no saved model file", "failed")
            errors += 1
            continue
        smodel = sqz.Model.load(path)
        smodel.set_input_size(size)
        net = build_model(torch, smodel.layers, smodel.tensors()).to(device)
        v = verify(torch, device, sqz, smodel, net, size, args.verify_batch,
                   sorted(w["gpu_backends"]))
        v["model"] = label
        info["verification"].append(v)
        msg = (f"{label} input {size}: PyTorch fp32 vs sqz cpu max relative error "
               f"{v['fp32_rel_err']:.2e} (max |logit| {v['max_abs_logit']:.3g})")
        if "fp16_rel_err" in v:
            msg += f", fp16 {v['fp16_rel_err']:.2e} (top-1 agree {v['fp16_top1_agree']:.0%})"
        log(msg)
        if not v["ok"]:
            log(f"{label}: PyTorch does not compute what sqz computes (error above "
                f"{FP32_RTOL:g}); not timed")
            for precision, batch in configs:
                for f in flavors:
                    skip(label, f, precision, batch, size, "outputs differ from sqz", "failed")
            errors += 1
            smodel.close()
            continue
        if v.get("fp16_rel_err", 0) > FP16_WARN:
            log(f"{label}: warning: fp16 relative error {v['fp16_rel_err']:.2e}")
        nets = {"fp32": net}
        for precision, batch in configs:
            if precision not in nets:
                nets[precision] = build_half(torch, net)
            model_p = nets[precision]
            for flavor in flavors:
                if flavor == "compile":
                    if args.compile_models is not None and label not in args.compile_models:
                        continue
                    if args.compile_batches is not None and batch not in args.compile_batches:
                        continue
                    if (args.compile_precisions is not None
                            and precision not in args.compile_precisions):
                        continue
                    if compile_spent > args.compile_budget:
                        skip(label, flavor, precision, batch, size,
                             f"torch.compile budget of {args.compile_budget:g} s spent")
                        continue
                t0 = time.perf_counter()
                try:
                    fields = time_flavor(torch, device, model_p, flavor, precision, batch, size,
                                         policy)
                except Exception as exc:  # an OOM or a compile failure: record, go on
                    log(f"{label} {flavor} {precision} batch {batch}: {type(exc).__name__}: "
                        f"{exc}")
                    skip(label, flavor, precision, batch, size, f"{type(exc).__name__}: {exc}",
                         "failed")
                    errors += 1
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                    continue
                finally:
                    if flavor == "compile":
                        compile_spent += time.perf_counter() - t0
                layout = "channels_last" if precision == "fp16" else "NCHW"
                row = {
                    "model": label, "backend": f"torch-{flavor}", "precision": precision,
                    "batch": batch, "input": size, "graphs": flavor != "eager",
                    "kind": "forward", **fields, "params": w["params"], "macs": w["macs"],
                    "description": f"PyTorch {torch.__version__} {flavor}"
                                   f"{' (mode=max-autotune)' if flavor == 'compile' else ''}, "
                                   f"{precision} {layout}, cudnn.benchmark, TF32 "
                                   f"{'on' if tf32 else 'off'}",
                }
                doc["results"].append(row)
                log(f"[{time.perf_counter() - started:.0f}s] {label} torch-{flavor} {precision} "
                    f"batch {batch} input {size}: median {row['median_ms']:.4g} ms, "
                    f"{row['images_per_s']:.6g} images/s ({row['iterations']} runs)")
        del nets, net
        smodel.close()
        if device.type == "cuda":
            torch.cuda.empty_cache()

    doc["ratios"] = benchlib.compute_ratios(doc)
    out = args.out or args.json
    benchlib.save_atomically(out, doc)
    n = sum(1 for r in doc["results"] if benchlib.is_torch(r["backend"]))
    log(f"{n} PyTorch rows written to {out}" + (f"; {errors} problem(s)" if errors else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
