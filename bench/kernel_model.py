#!/usr/bin/env python3
"""Floors of the fused kernels' time on an H100 or H200, from the network's
shapes and the kernels' tiling alone: no GPU, no measurement.

For each kernel of the fused backend (stem, one per Fire module, classifier)
at a model, precision and batch it counts the bytes the kernel must move
through device memory (its input read once, through the folded max pool;
its output written once; weights left to L2) and the multiply-adds it
issues, including the tiling's redundant work (the squeeze recomputed on
each tile's 1-pixel halo and padded to 16 rows, the stem's overlapping
pool windows, tensor-core tiles padded to 16). Their times at the stated
rates are floors: memory-bound and math-bound. What the kernels issue
besides (index arithmetic, staging, stores, barriers) is not here; only a
GPU run measures the whole.

Assumptions (leads from vendors' datasheets, not measured here): HBM 3.35
TB/s (H100 SXM) or 4.8 TB/s (H200); dense fp16 tensor-core rate 989
TFLOP/s, of which warp-level mma.sync (what WMMA compiles to) is taken to
reach two thirds; fp32 on CUDA cores 67 TFLOP/s; 132 SMs (the planner's
tile heights depend on it). The tile heights follow
kernels/cuda/fused_plan.c (tallest of 8, 4, 2, 1 rows that still gives two
blocks per SM, on tensor cores within the kernel's 64 squeeze fragments).

Usage: python3 bench/kernel_model.py [--batch N] [--model v1.0|v1.1]...
Prints Markdown tables. Standard library only.
"""

from __future__ import annotations

import argparse
import math
from typing import Dict, List, Tuple

SMS = 132
HBM = {"H100": 3.35e12, "H200": 4.8e12}
TENSOR_FP16 = 989e12 * 2 / 3  # mma.sync: two thirds of the dense peak (assumed)
FMA_FP32 = 67e12

FIRES = [(16, 64, 64), (16, 64, 64), (32, 128, 128), (32, 128, 128),
         (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256)]
# conv1 (channels, kernel, stride); the Fire modules after which a max pool comes
MODELS: Dict[str, Tuple[Tuple[int, int, int], Tuple[int, ...]]] = {
    "v1.0": ((96, 7, 2), (3, 7)),  # pools after conv1, fire4, fire8
    "v1.1": ((64, 3, 2), (1, 3)),  # pools after conv1, fire3, fire5
}


def pool_out(n: int) -> int:
    """3x3 stride 2 max pool, ceil mode."""
    return math.ceil((n - 3) / 2) + 1


def fire_tile_h(h: int, w: int, s: int, batch: int, tensor: bool = True) -> int:
    best = 0
    for th in (8, 4, 2, 1):
        if th > 1 and th // 2 >= h:
            continue
        if tensor and math.ceil((th + 2) * 18 / 16) * (s // 16) > 64:
            continue
        best = th
        if batch * math.ceil(h / th) * math.ceil(w / 16) >= 2 * SMS:
            break
    return best


SMEM_LIMIT, SMEM_TWO_BLOCKS = 227 << 10, 113 << 10  # an H100's or H200's, per block


def r16(n: int) -> int:
    return math.ceil(n / 16) * 16


def stem_wmma_tile(k1: int, c1: int, h: int, budget: int) -> Tuple[int, int, int, int]:
    """The tensor-core stem's pooled tile within budget bytes, as
    kernels/cuda/fused_plan.c picks it: 4 x 8 when it fits, else the tile
    with the fewest GEMM rows over the image (fewest blocks on a tie).
    Returns (rows over the image, blocks, tile_h, tile_w); rows 0 if none."""
    def of(th: int, tw: int) -> Tuple[int, int, int, int]:
        rows, k = r16((2 * th + 1) * (2 * tw + 1)), r16(k1 * k1 * 3)
        smem = rows * (k + 8) * 2 + k * (c1 + 8) * 2 + rows * (c1 + 8) * 2
        blocks = math.ceil(h / th) * math.ceil(h / tw)
        return (blocks * rows, blocks, th, tw) if smem <= budget else (0, 0, th, tw)
    default = of(4, 8)
    if default[0]:
        return default
    fits = [t for t in (of(th, tw) for th in range(1, 9) for tw in range(1, 17)) if t[0]]
    return min(fits) if fits else (0, 0, 0, 0)


def stem_tile(k1: int, c1: int, h: int) -> Tuple[int, int, int]:
    """(tile_h, tile_w, GEMM rows a tile): two blocks an SM unless that
    tile wastes a quarter more rows than the one-block choice."""
    one = stem_wmma_tile(k1, c1, h, SMEM_LIMIT)
    two = stem_wmma_tile(k1, c1, h, SMEM_TWO_BLOCKS)
    pick = two if two[0] and two[0] * 4 <= one[0] * 5 else one
    return pick[2], pick[3], r16((2 * pick[2] + 1) * (2 * pick[3] + 1))


def kernels(model: str, batch: int, fp16: bool, size: int = 224) -> List[Dict[str, float]]:
    (c1, k1, s1), pools_after = MODELS[model]
    es = 2 if fp16 else 4
    rows = []
    conv_h = (size - k1) // s1 + 1
    h = pool_out(conv_h)
    # stem: a tile of pooled pixels a block, the conv outputs under their
    # windows; fp16 on tensor cores (rows and K padded to 16), fp32 4 x 8
    th, tw, gemm_rows = stem_tile(k1, c1, h) if fp16 else (4, 8, 0)
    tiles = math.ceil(h / th) * math.ceil(h / tw)
    if fp16:
        macs = batch * tiles * gemm_rows * r16(k1 * k1 * 3) * c1
    else:
        macs = batch * tiles * (2 * th + 1) * (2 * tw + 1) * k1 * k1 * 3 * c1
    rows.append({"kernel": f"stem ({th}x{tw} pooled a block)",
                 "bytes": batch * (size * size * 3 + h * h * c1) * es,
                 "macs": macs, "tensor": fp16})
    cin, src, pooled = c1, h, False
    for i, (s, e1, e3) in enumerate(FIRES):
        if pooled:
            h = pool_out(src)
        th = fire_tile_h(h, h, s, batch, tensor=fp16)
        tiles = math.ceil(h / th) * math.ceil(h / 16)
        halo = (th + 2) * 18
        m_sq = (math.ceil(halo / 16) * 16) if fp16 else halo
        m_ex = th * 16
        macs = batch * tiles * (m_sq * cin * s + m_ex * s * (e1 + 9 * e3))
        e = e1 + e3
        rows.append({"kernel": f"fire{i + 2} ({cin}->{s}->{e}, {h}x{h}, {th} rows)",
                     "bytes": batch * (src * src * cin + h * h * e) * es,
                     "macs": macs, "tensor": fp16})
        cin, src = e, h
        pooled = i in pools_after
    # classifier: conv10 (1000 classes) + ReLU + average pool, 16-row tiles
    px = h * h
    m = math.ceil(px / 16) * 16 if fp16 else px
    rows.append({"kernel": "classifier", "bytes": batch * (px * cin * es + 1000 * 4),
                 "macs": batch * m * cin * 1000, "tensor": fp16})
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--model", action="append", choices=sorted(MODELS), default=None)
    args = p.parse_args()
    for model in args.model or ["v1.1", "v1.0"]:
        for fp16 in (True, False):
            prec = "fp16" if fp16 else "fp32"
            print(f"\n{model} {prec}, batch {args.batch}, 224x224: floors per kernel (ms)\n")
            print("| kernel | MB moved | GMACs | memory H100 | memory H200 | math |")
            print("|---|---:|---:|---:|---:|---:|")
            tot = [0.0, 0.0, 0.0, 0.0, 0.0]
            for r in kernels(model, args.batch, fp16):
                rate = TENSOR_FP16 if r["tensor"] else FMA_FP32
                vals = [r["bytes"] / 1e6, r["macs"] / 1e9, r["bytes"] / HBM["H100"] * 1e3,
                        r["bytes"] / HBM["H200"] * 1e3, 2 * r["macs"] / rate * 1e3]
                tot = [a + b for a, b in zip(tot, vals)]
                print(f"| {r['kernel']} | {vals[0]:.0f} | {vals[1]:.1f} | {vals[2]:.3f} | "
                      f"{vals[3]:.3f} | {vals[4]:.3f} |")
            print(f"| **all** | {tot[0]:.0f} | {tot[1]:.1f} | {tot[2]:.3f} | {tot[3]:.3f} | "
                  f"{tot[4]:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
