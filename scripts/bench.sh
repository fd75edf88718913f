#!/usr/bin/env bash
# The benchmark, in one command for the GPU machine (H100/H200): configure and
# build sqz-bench (sm_90), run the whole matrix, compare with PyTorch on the
# same GPU, plot, and print the Markdown report last. Everything goes to $OUT:
#
#   bench.json      the merged results (schema: docs/benchmarks.md), PyTorch
#                   rows included; part-*.json are sqz-bench's own files
#   bench.md        the Markdown report (also printed at the end)
#   plots/*.png     latency, throughput, speed-up, memory, per-layer, sweep
#   *.log           each step's output; nvidia-smi.txt
#
# The matrix (about 350 engines; 5-6 minutes of sqz-bench and 3-4 of PyTorch
# on an H100, plus the build, in all well under 10 minutes at the default
# iteration counts):
#   forward  v1.0, v1.1, v1.0 simple and complex bypass, meta:SR=0.75; fused,
#            cudnn, unfused; fp32, fp16; batch 1..256; CUDA graphs on
#   graphs   v1.0 and v1.1 with CUDA graphs off, batch 1, 8, 32
#   e2e      v1.0 and v1.1, pinned uint8 images to top-5, batch 1, 32, 256
#   layers   v1.0 and v1.1, per-layer times, batch 1 and 64
#   sweep    SR and pct_3x3 grids, fused and cudnn, batch 1 and 256
#   torch    PyTorch eager and CUDA graphs for every forward configuration;
#            torch.compile (max-autotune) for v1.0 and v1.1 at batch 1, 64 and
#            256 within a compile budget (SQZ_BENCH_COMPILE_BUDGET seconds)
#
# The models timed (synthetic weights from seed 0) are saved for
# compare_torch.py in $BUILD_DIR/bench-models, not in $OUT, which is small
# enough to commit.
#
# Environment: OUT (default bench/results/<UTC date>), BUILD_DIR (default
# build-gpu, shared with scripts/gpu-check.sh), SQZ_BENCH_QUICK=1 for a small
# matrix (a minute), SQZ_BENCH_SKIP (space-separated steps to skip: build
# forward graphs e2e layers sweep torch plots), SQZ_BENCH_MIN_TIME (timed ms
# per configuration, default 150), SQZ_BENCH_COMPILE_BUDGET (default 150),
# PYTHON (default python3). For trying the script without a GPU:
# SQZ_BENCH_EXTRA_ARGS (appended to every sqz-bench call, whose list options
# replace the earlier ones, e.g. "--backend cpu --sweep-backends cpu --input 64
# --batch 1,2 --sweep-batches 1 --iters 3"), SQZ_BENCH_TORCH_ARGS (appended to
# compare_torch.py, e.g. --allow-cpu) and SQZ_BENCH_EXPECT (backends the check
# requires, default cudnn,unfused). Exit status: 0, or 1 when a step failed
# (the others still run).
# shellcheck disable=SC2317 # the step functions are called through step()
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
OUT=${OUT:-bench/results/$(date -u +%Y-%m-%d)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUILD_DIR=${BUILD_DIR:-build-gpu}
PYTHON=${PYTHON:-python3}
quick=${SQZ_BENCH_QUICK:-0}
skip=" ${SQZ_BENCH_SKIP:-} "
min_time=${SQZ_BENCH_MIN_TIME:-150}
compile_budget=${SQZ_BENCH_COMPILE_BUDGET:-150}
bench="$BUILD_DIR/bench/sqz-bench"
case $BUILD_DIR in
  /*) models_dir="$BUILD_DIR/bench-models" ;;
  *) models_dir="$root/$BUILD_DIR/bench-models" ;;
esac
failed=0
declare -a summary parts

if [ "$quick" = 1 ]; then
  models=squeezenet1_0,squeezenet1_1
  batches=1,64,256
  small_batches=1,8
  e2e_batches=1,256
  layer_batches=1
  compile_batches=1,256
else
  models=squeezenet1_0,squeezenet1_1,squeezenet1_0_simple_bypass,squeezenet1_0_complex_bypass,meta:SR=0.75
  batches=1,8,32,64,128,256
  small_batches=1,8,32
  e2e_batches=1,32,256
  layer_batches=1,64
  compile_batches=1,64,256
fi
timing=(--warmup 5 --min-iters 30 --max-iters 2000 --min-time "$min_time")
# shellcheck disable=SC2054 # the commas separate sqz-bench list values
common=(--backend fused,cudnn,unfused --precision fp32,fp16 --save-models "$models_dir"
  "${timing[@]}")

step() { # name, command...: runs a step unless skipped, its output in $OUT/name.log
  local name=$1
  shift
  if [[ "$skip" == *" $name "* ]]; then
    summary+=("$(printf '%-8s skipped' "$name")")
    return 0
  fi
  local start=$SECONDS
  echo "== $name ($(date -u +%H:%M:%S))"
  if "$@" >"$OUT/$name.log" 2>&1; then
    summary+=("$(printf '%-8s ok      %4ds' "$name" $((SECONDS - start)))")
  else
    summary+=("$(printf '%-8s FAILED  %4ds  (see %s.log)' "$name" $((SECONDS - start)) "$name")")
    failed=1
    tail -n 20 "$OUT/$name.log"
  fi
}

do_build() {
  nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed (no driver?)"
  command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
  local generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S . -B "$BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES=90 &&
    cmake --build "$BUILD_DIR" --parallel "$(nproc)" --target sqz sqz_bench
}

# part NAME ARGS...: one sqz-bench run writing $OUT/part-NAME.json.
part() {
  local name=$1
  shift
  parts+=("$OUT/part-$name.json")
  mkdir -p "$models_dir"
  # shellcheck disable=SC2086 # word splitting of the extra arguments is wanted
  "$bench" "$@" ${SQZ_BENCH_EXTRA_ARGS:-} --json "$OUT/part-$name.json" >"$OUT/part-$name.md"
}

do_forward() { part forward --model "$models" --batch "$batches" --graphs on "${common[@]}"; }
do_graphs() {
  part graphs --model squeezenet1_0,squeezenet1_1 --batch "$small_batches" --graphs off \
    "${common[@]}"
}
do_e2e() {
  part e2e --model squeezenet1_0,squeezenet1_1 --batch "$e2e_batches" --mode e2e "${common[@]}"
}
do_layers() {
  part layers --model squeezenet1_0,squeezenet1_1 --batch "$layer_batches" --mode layers \
    "${common[@]}"
}
do_sweep() {
  if [ "$quick" = 1 ]; then
    part sweep --sweep --sweep-backends fused,cudnn --sweep-batches 1,256 --precision fp16 \
      --save-models "$models_dir" "${timing[@]}"
  else
    part sweep --sweep --sweep-backends fused,cudnn --sweep-batches 1,256 --precision fp32,fp16 \
      --save-models "$models_dir" "${timing[@]}"
  fi
}

do_merge() {
  local present=()
  for f in "${parts[@]}"; do [ -f "$f" ] && present+=("$f"); done
  [ ${#present[@]} -gt 0 ] || { echo "no sqz-bench results to merge"; return 1; }
  "$PYTHON" bench/merge_results.py "${present[@]}" --out "$OUT/bench.json"
}

do_torch() {
  # shellcheck disable=SC2086 # word splitting of the extra arguments is wanted
  "$PYTHON" bench/compare_torch.py --json "$OUT/bench.json" --library "$BUILD_DIR/libsqz.so" \
    --compile-models squeezenet1_0,squeezenet1_1 --compile-batches "$compile_batches" \
    --compile-budget "$compile_budget" --warmup 5 --min-time "$min_time" ${SQZ_BENCH_TORCH_ARGS:-}
}

do_check() {
  "$PYTHON" bench/check_results.py "$OUT/bench.json" \
    --expect-backends "${SQZ_BENCH_EXPECT:-cudnn,unfused}" --expect-kinds forward
}

do_plots() {
  "$PYTHON" bench/plot.py "$OUT/bench.json" --out "$OUT/plots"
}

start=$SECONDS
step build do_build
if [ -x "$bench" ]; then
  step forward do_forward
  step graphs do_graphs
  step e2e do_e2e
  step layers do_layers
  step sweep do_sweep
  step merge do_merge
else
  summary+=("sqz-bench was not built: no benchmark")
  failed=1
fi
if [ -f "$OUT/bench.json" ]; then
  step torch do_torch
  step check do_check
  step plots do_plots
  "$PYTHON" bench/report.py "$OUT/bench.json" --out "$OUT/bench.md" >/dev/null ||
    failed=1
fi

echo
echo "bench summary ($(date -u +%Y-%m-%dT%H:%MZ), $((SECONDS - start)) s, output in ${OUT#"$root"/}):"
printf '  %s\n' "${summary[@]}"
echo
[ -f "$OUT/bench.md" ] && cat "$OUT/bench.md"
exit $failed
