#!/usr/bin/env bash
# Static evidence about the CUDA kernels, without a GPU: compiles every
# kernels/cuda/*.cu for sm_90 as the build does, and prints one Markdown
# row per kernel with ptxas's registers, spills and stack, and counts of
# SASS instructions by kind (all, tensor-core HMMA, 16-byte and 2-byte
# global loads and stores, local-memory spill traffic).
#
# The disassembler is NVIDIA's nvdisasm from PyPI (nvidia-cuda-nvdisasm),
# installed once into build/sass-venv. These are counts of instructions in
# the code, not of instructions executed, and say nothing measured about
# speed (docs/benchmarks.md, "Static evidence").
#
# With --loops, a second table follows: each kernel's inner loops that do
# math (HMMA, FFMA), their instructions by kind and the share that is math
# (bench/sass_loops.py), once per iteration as the compiler unrolled them.
#
# Usage: scripts/kernel-stats.sh [--loops] [FILE.cu ...]   (default: every kernel file)
set -euo pipefail
loops=0
if [ "${1:-}" = --loops ]; then
  loops=1
  shift
fi
cd "$(dirname "$0")/.."
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
venv=build/sass-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check nvidia-cuda-nvdisasm
fi
nvdisasm=$(find "$venv" -type f -name nvdisasm | head -n 1)
[ -x "$nvdisasm" ] || { echo "kernel-stats: nvdisasm not found in $venv" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(kernels/cuda/*.cu)

echo "| kernel | registers | spill stores / loads (bytes) | SASS instructions | HMMA | LDG 16 B | LDG 2 B | STG 16 B | STG 2 B | LDL + STL |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for src in "${files[@]}"; do
  base=$(basename "$src" .cu)
  nvcc -std=c++17 -O3 -arch=sm_90 -I. -Iinclude -Ikernels/cuda -cubin -Xptxas -v \
    "$src" -o "$work/$base.cubin" 2>"$work/$base.ptxas"
  "$nvdisasm" -c "$work/$base.cubin" >"$work/$base.sass"
  # ptxas: "Function properties for NAME", then the spill line, then "Used N registers".
  awk '/Function properties for/ { name = $NF }
       /bytes spill stores/ { spill = $5 " / " $9 }
       /Used [0-9]+ registers/ { for (i = 1; i <= NF; i++) if ($(i + 1) == "registers,") regs = $i;
                                 print name "\t" regs "\t" spill }' "$work/$base.ptxas" |
    while IFS=$'\t' read -r mangled regs spill; do
      awk -v fn=".text.$mangled:" '$0 == fn { on = 1; next } /^\.text\./ { on = 0 } on' \
        "$work/$base.sass" >"$work/fn.sass"
      count() { grep -cE "$1" "$work/fn.sass" || true; }
      name=$(echo "$mangled" | c++filt | sed -E 's/\(anonymous namespace\):://; s/\(.*//')
      [ $loops = 0 ] || python3 bench/sass_loops.py "$work/fn.sass" --name "$base: $name" >>"$work/loops.md"
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$base: $name" "$regs" "$spill" \
        "$(count '^\s+/\*[0-9a-f]+\*/')" "$(count 'HMMA')" "$(count 'LDG\.E\.128')" \
        "$(count 'LDG\.E\.(U|S)16')" "$(count 'STG\.E\.128')" "$(count 'STG\.E\.(U|S)?16')" \
        "$(count '\b(LDL|STL)\b')"
    done
done
if [ $loops = 1 ]; then
  echo
  python3 bench/sass_loops.py /dev/null --header
  cat "$work/loops.md" 2>/dev/null || true
fi
