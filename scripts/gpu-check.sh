#!/usr/bin/env bash
# Everything that needs a GPU, in one command for the GPU machine: configure
# and build (sm_90), run the GPU tests, run compute-sanitizer (memcheck and
# racecheck) over them, the Python GPU tests, and a short benchmark of the
# backends (v1.0 and v1.1, fp32 and fp16, batch 1 and 256). Logs and JSON go
# to $OUT (default build-gpu/out); a summary table is printed last.
#
# Environment: OUT, SQZ_DATA_DIR (the data folder; carry ../shared/data as
# .data/ to the GPU machine), SQZ_GPU_CHECK_SKIP (space-separated step
# names to skip: build tests sanitize python bench).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-build-gpu/out}
mkdir -p "$OUT"
export SQZ_DATA_DIR=${SQZ_DATA_DIR:-$([ -d .data ] && echo "$PWD/.data" || echo "$PWD/../shared/data")}
skip=" ${SQZ_GPU_CHECK_SKIP:-} "
build=build-gpu
declare -a summary
failed=0

step() { # name, command...: runs a step, logging to $OUT/name.log
  local name=$1
  shift
  if [[ "$skip" == *" $name "* ]]; then
    summary+=("$(printf '%-10s skipped' "$name")")
    return 0
  fi
  local start=$SECONDS
  echo "== $name"
  if "$@" >"$OUT/$name.log" 2>&1; then
    summary+=("$(printf '%-10s ok      %4ds' "$name" $((SECONDS - start)))")
  else
    summary+=("$(printf '%-10s FAILED  %4ds  (see %s.log)' "$name" $((SECONDS - start)) "$name")")
    failed=1
    tail -n 30 "$OUT/$name.log"
  fi
}

do_build() {
  nvidia-smi || true
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 &&
    cmake --build "$build" --parallel "$(nproc)"
}

do_tests() {
  "$build/tests/sqz_gpu_tests" --gtest_output="json:$OUT/gpu_tests.json" &&
    ctest --test-dir "$build" --output-on-failure -E 'Gpu|Fused(OneFire|Models)' -j 8
}

# The sanitizers are slow: the fused kernels on every shape, and each
# backend's engine tests, at small sizes.
do_sanitize() {
  local filter='Sizes/FusedOneFire.*:Backends/GpuEngine.RefusedArguments*:Backends/GpuEngine.GraphsOn*'
  compute-sanitizer --tool memcheck --leak-check full --error-exitcode 1 \
    "$build/tests/sqz_gpu_tests" --gtest_filter="$filter" &&
    compute-sanitizer --tool racecheck --error-exitcode 1 \
      "$build/tests/sqz_gpu_tests" --gtest_filter='Sizes/FusedOneFire.*' &&
    compute-sanitizer --tool synccheck --error-exitcode 1 \
      "$build/tests/sqz_gpu_tests" --gtest_filter='Sizes/FusedOneFire.*'
}

do_python() {
  python3 -c "import pytest" 2>/dev/null || { echo "pytest is not installed here"; return 0; }
  SQZ_LIBRARY="$PWD/$build/libsqz.so" SQZ_CLI="$PWD/$build/apps/sqz" \
    PYTHONPATH="$PWD/bindings/python" python3 -m pytest -q tests/python
}

do_bench() {
  "$build/bench/sqz-bench" --models squeezenet1_0,squeezenet1_1 --backends cudnn,unfused,fused \
    --precisions fp32,fp16 --batches 1,256 --json "$OUT/bench.json" | tee "$OUT/bench.md"
}

step build do_build
step tests do_tests
step sanitize do_sanitize
step python do_python
step bench do_bench

echo
echo "gpu-check summary ($(date -u +%Y-%m-%dT%H:%MZ), output in $OUT):"
printf '  %s\n' "${summary[@]}"
[ -f "$OUT/bench.md" ] && cat "$OUT/bench.md"
exit $failed
