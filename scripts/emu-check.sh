#!/usr/bin/env bash
# The emulated device's whole suite: the real CUDA kernels and the GPU
# engine (fused and unfused backends) on the CPU (emu/, docs/architecture.md).
#   build-emu/       Release: the GPU tests (every model against the cpu
#                    reference, real weights, graphs, streams, threads,
#                    out-of-memory), the planted-defect tests, and
#                    sqz classify and sqz-bench on the emulated device
#   build-emu-asan/  the engine tests, the single-Fire kernels and the
#                    planted defects under AddressSanitizer + UBSan
#   build-emu-initcheck/  the kernels with every load and store checked
#                    against what the block wrote to shared memory: the
#                    single-Fire kernels, both backends at every batch, and
#                    the planted unwritten reads
#   build-emu-tsan/  the Fire, stem and classifier kernels on small shapes
#                    covering every variant, and the planted races, under
#                    ThreadSanitizer
# Usage: scripts/emu-check.sh [--build-only | --full]
#   --build-only  build-emu only, leaving build-emu/apps/sqz and
#                 build-emu/bench/sqz-bench ready to run
#   --full        every test in every build: the single-Fire sizes at
#                 batch 256 too, and under the sanitizers every model, the
#                 real weights and every single-Fire size (hours on 2 cores;
#                 CI runs the default: about 10 minutes with its four
#                 builds, measured on 2 cores)
# Environment: SQZ_DATA_DIR (default ../shared/data), SQZ_EMU_THREADS (host
# threads that run blocks; default: every core).
set -euo pipefail
cd "$(dirname "$0")/.."

emu_args="-DSQZ_EMULATE_DEVICE=ON"
BUILD_DIR=build-emu SQZ_CMAKE_ARGS="$emu_args" scripts/setup.sh
if [ "${1:-}" = --build-only ]; then
  echo "emu-check: built build-emu/apps/sqz and build-emu/bench/sqz-bench"
  exit 0
fi
full=0
[ "${1:-}" = --full ] && full=1
quick=1
[ $full = 1 ] && quick=
gpu_tests='Gpu|Fused|PlantedDefects|TensorCores|Batcher'

echo "== emulated device (build-emu/: GPU suite, planted defects) [$(date +%T)]"
SQZ_TEST_QUICK=$quick ctest --test-dir build-emu --output-on-failure -j2 -R "$gpu_tests"

echo "== sqz classify on the emulated device (fused and unfused agree with cpu) [$(date +%T)]"
data=${SQZ_DATA_DIR:-../shared/data}
if [ -f "$data/squeezenet_v1.0_deep_compression.net" ]; then
  photos=("$data"/imagenet_samples/ppm/*.ppm)
  photo=${photos[0]}
  top1() {  # the first class index of sqz classify --json
    local out
    out=$(build-emu/apps/sqz classify --json --backend "$1" \
      --model "$data/squeezenet_v1.0_deep_compression.net" "$photo" 2>"build-emu/classify-$1.err")
    [[ $out =~ \"index\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
  }
  want=$(top1 cpu)
  for b in fused unfused; do
    got=$(top1 $b)
    [ -n "$want" ] && [ "$got" = "$want" ] || { echo "emu-check: $b top-1 $got, cpu $want"; exit 1; }
    grep -q "emulated on the CPU" "build-emu/classify-$b.err" ||
      { echo "emu-check: sqz classify --backend $b did not say the device is emulated"; exit 1; }
  done
  echo "top-1 $want on cpu, fused and unfused; both said the device is emulated"
  # sqz eval over four of the photographs: the same accuracy as cpu, and
  # its rate marked as the emulated device's (CPU time).
  evaldir=build-emu/eval-photos
  rm -rf "$evaldir" && mkdir -p "$evaldir"
  for p in "${photos[@]:0:4}"; do ln -s "$(realpath "$p")" "$evaldir/"; done
  eval_json() {
    build-emu/apps/sqz eval --json --backend "$1" --model "$data/squeezenet_v1.0_deep_compression.net" \
      --labels "$data/synset_words.txt" "$evaldir" 2>"build-emu/eval-$1.err" |
      sed -E 's/,"images_per_s":[^,}]*//'
  }
  want=$(eval_json cpu)
  got=$(eval_json fused)
  [ "$got" = "${want%\}},\"emulated_device\":true}" ] ||
    { echo "emu-check: sqz eval --backend fused gave $got, cpu $want"; exit 1; }
  grep -q "emulated on the CPU" build-emu/eval-fused.err ||
    { echo "emu-check: sqz eval --backend fused did not say the device is emulated"; exit 1; }
  echo "sqz eval on 4 photographs: $got (the cpu backend's accuracy), marked emulated"
else
  echo "emu-check: FAILED: the real weights are not in $data (set SQZ_DATA_DIR)"
  exit 1
fi

echo "== sqz-bench on the emulated device (runs, and says its times are CPU times) [$(date +%T)]"
build-emu/bench/sqz-bench -m v1.1 -b fused,unfused -p fp16 -n 1 --warmup 1 --iters 2 \
  -o build-emu/emu-bench.json >build-emu/emu-bench.md 2>build-emu/emu-bench.err ||
  { cat build-emu/emu-bench.err; echo "emu-check: sqz-bench failed"; exit 1; }
grep -q "emulated on the CPU" build-emu/emu-bench.err ||
  { echo "emu-check: sqz-bench did not say the device is emulated"; exit 1; }
grep -q '"name": "sqz emulated device' build-emu/emu-bench.json ||
  { echo "emu-check: the bench JSON does not name the emulated device"; exit 1; }
echo "sqz-bench: 2 configurations measured; its JSON names the emulated device"

echo "== scripts/gpu-check.sh rehearsed on the emulated device (small filters, no PyTorch) [$(date +%T)]"
# The GPU machine's first call, with this build's binaries: every step but
# PyTorch, cuDNN's tests (cuDNN is not emulated) and Python's runs, within
# the script's own budget; compute-sanitizer (absent here) must read as
# unavailable.
rehearsal=build-emu/gpu-check-rehearsal
rm -rf "$rehearsal" && mkdir -p "$rehearsal/bin"
ln -s ../../tests/sqz_gpu_tests ../../apps/sqz ../../bench/sqz-bench "$rehearsal/bin/"
OUT=$rehearsal/out SQZ_GPU_CHECK_BIN=$PWD/$rehearsal/bin SQZ_GPU_CHECK_SKIP="torch cudnn python" \
  SQZ_GPU_CHECK_TEST_FILTER='Sizes/FusedOneFire.*/0:Sizes/FusedOneFire.*/1' \
  SQZ_GPU_CHECK_BENCH_MODELS="squeezenet1_1 squeezenet1_0" \
  SQZ_GPU_CHECK_BENCH_ARGS="--backends fused,unfused --precisions fp16 \
--inputs 64 --batches 1,2 --warmup 0 --iters 1" \
  SQZ_GPU_CHECK_EXPECT="--expect-backends fused,unfused --expect-batches 1,2" \
  scripts/gpu-check.sh >"$rehearsal/run.log" 2>&1 ||
  { cat "$rehearsal/run.log"; echo "emu-check: the gpu-check rehearsal failed"; exit 1; }
for want in 'env +ok' 'tests +ok' 'bench +ok' 'layers +ok' 'sanitize +unavailable' 'ncu +unavailable'; do
  grep -Eq "^  $want " "$rehearsal/out/summary.txt" ||
    { cat "$rehearsal/out/summary.txt"; echo "emu-check: gpu-check summary lacks '$want'"; exit 1; }
done
[ "$(find "$rehearsal/out" -type f | wc -l)" -le 7 ] ||
  { ls "$rehearsal/out"; echo "emu-check: gpu-check wrote more than its 7 files (a device call returns 8)"; exit 1; }
echo "gpu-check rehearsal: env, tests, bench and layers ok, sanitizers and ncu unavailable, $(find "$rehearsal/out" -type f | wc -l) files"

echo "== scripts/gpu-check.sh with a stale bundle, and --rerun building there without GoogleTest [$(date +%T)]"
# 1. A bundle built from other sources whose binaries load: they are used,
#    and the summary says the bundle is stale.
stale=build-emu/gpu-check-stale
rm -rf "$stale" && mkdir -p "$stale/bundle/bin" "$stale/bundle/lib"
ln -s ../../../tests/sqz_gpu_tests ../../../apps/sqz ../../../bench/sqz-bench "$stale/bundle/bin/"
echo "sources 0000000000000000" >"$stale/bundle/BUILD"
OUT=$stale/out SQZ_GPU_CHECK_BUNDLE=$stale/bundle SQZ_GPU_CHECK_TEST_FILTER='Sizes/FusedOneFire.*/0' \
  SQZ_GPU_CHECK_SKIP="bench torch sanitize cudnn layers python ncu" \
  scripts/gpu-check.sh >"$stale/run.log" 2>&1 ||
  { cat "$stale/run.log"; echo "emu-check: gpu-check with a stale bundle failed"; exit 1; }
for want in 'note: stale bundle' 'env +ok' 'tests +ok'; do
  grep -Eq "^  $want" "$stale/out/summary.txt" ||
    { cat "$stale/out/summary.txt"; echo "emu-check: stale-bundle summary lacks '$want'"; exit 1; }
done
# 2. --rerun after a first call whose tests failed and whose bench ran, with
#    binaries that do not load and no GoogleTest installed (as on the GPU
#    machine): it builds there with the bundle's GoogleTest sources, runs
#    the failed tests again and not the bench.
broken=build-emu/gpu-check-fallback
rm -rf "$broken" && mkdir -p "$broken/bundle/bin" "$broken/previous"
for b in sqz_gpu_tests sqz sqz-bench; do
  printf '#!/bin/sh\necho "%s: error while loading shared libraries" >&2\nexit 127\n' "$b" \
    >"$broken/bundle/bin/$b"
  chmod +x "$broken/bundle/bin/$b"
done
scripts/gpu-bundle.sh --googletest "$broken/bundle/googletest"
printf '%s\n' "gpu-check: started (the first call)" "  env       ok             9s  env.txt" \
  "  tests     FAILED        40s  tests.log" "  bench     ok            90s  bench.log" \
  "  torch     NOT RUN  20s of the budget left, needs 60s" >"$broken/previous/summary.txt"
OUT=$broken/out SQZ_GPU_CHECK_BUNDLE=$broken/bundle SQZ_GPU_CHECK_BUILD_DIR=build-emu-fallback \
  SQZ_GPU_CHECK_BUILD_ARGS="-DSQZ_EMULATE_DEVICE=ON -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON" \
  SQZ_GPU_CHECK_TEST_FILTER='Sizes/FusedOneFire.*/0' \
  SQZ_GPU_CHECK_SKIP="torch sanitize cudnn layers python ncu" \
  scripts/gpu-check.sh --rerun "$broken/previous" >"$broken/run.log" 2>&1 ||
  { cat "$broken/run.log"; echo "emu-check: gpu-check --rerun with a build there failed"; exit 1; }
for want in 'rerun of .*not run again: bench' 'env +ok' 'tests +ok' 'bench +skipped'; do
  grep -Eq "^  $want" "$broken/out/summary.txt" ||
    { cat "$broken/out/summary.txt"; echo "emu-check: fallback summary lacks '$want'"; exit 1; }
done
grep -q "GoogleTest built from" "$broken/out/env.txt" ||
  { echo "emu-check: the fallback build did not use the bundle's GoogleTest sources"; exit 1; }
echo "gpu-check: a stale bundle is used and said to be stale; --rerun builds there with the bundle's GoogleTest"

echo "== emulated device under AddressSanitizer + UBSan (build-emu-asan/) [$(date +%T)]"
BUILD_DIR=build-emu-asan SQZ_CMAKE_ARGS="$emu_args -DCMAKE_BUILD_TYPE=RelWithDebInfo \
-DSQZ_SANITIZE=address,undefined -DCMAKE_C_FLAGS=-fno-sanitize-recover=all \
-DCMAKE_CXX_FLAGS=-fno-sanitize-recover=all" scripts/setup.sh
# CI: the engine tests (streams, capture, refused arguments, allocation
# failures, memory, sharing), the single-Fire kernels and the planted
# defects; three times slower here, the model-wide runs are left to --full.
asan_tests='FusedOneFire|PlantedDefects|TensorCores|GpuEngine|Batcher'
asan_skip='TwoThreads|GraphsOnAndOff|Layouts'
if [ $full = 1 ]; then
  asan_tests=$gpu_tests
  asan_skip='^$'
fi
SQZ_TEST_QUICK=$quick ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-emu-asan --output-on-failure -j2 -R "$asan_tests" -E "$asan_skip"

echo "== emulated device with initcheck (build-emu-initcheck/: reads of unwritten shared memory) [$(date +%T)]"
# Every load and store of the kernels is checked against the bytes of
# shared memory its block has written (emu/initcheck.cc): the single-Fire
# kernels at every size (stem, Fire, classifier; both math paths, every
# bypass, pool folded or not, partial tiles), the complex-bypass v1.0 at
# every batch on the unfused backend (its pools, element-wise and
# conversion kernels) and the fused fp16 one, and the planted unwritten
# reads. (Fused fp32 at every batch takes 85 s here: --full.)
BUILD_DIR=build-emu-initcheck SQZ_CMAKE_ARGS="$emu_args -DSQZ_EMU_INITCHECK=ON" scripts/setup.sh
initcheck_tests='FusedOneFire|PlantedDefects|TensorCores|EveryBatchUpToTheMaximum/(unfused|fused_fp16)'
[ $full = 1 ] && initcheck_tests=$gpu_tests
SQZ_TEST_QUICK=$quick ctest --test-dir build-emu-initcheck --output-on-failure -j2 \
  -R "$initcheck_tests"

echo "== emulated device under ThreadSanitizer (build-emu-tsan/: kernels on small shapes) [$(date +%T)]"
# OpenMP off: libgomp is not instrumented, and only the kernels are at stake.
BUILD_DIR=build-emu-tsan SQZ_CMAKE_ARGS="$emu_args -DCMAKE_BUILD_TYPE=RelWithDebInfo \
-DSQZ_SANITIZE=thread -DSQZ_WITH_OPENMP=OFF" scripts/setup.sh
# Sizes 1, 7, 13 and 27 already cover both math paths (fp32 runs the CUDA
# cores, fp16 the tensor cores), every bypass, the folded pool and partial
# last tiles; 55, 57 and 113 take minutes each under ThreadSanitizer.
tsan_skip='FusedOneFire.*object <(37|39|71)-'
# The batcher's threads, queue and callbacks on the cpu engine (the emulated
# engines take minutes per batcher test under ThreadSanitizer).
[ $full = 1 ] && tsan_skip='^$'
SQZ_TEST_QUICK=1 TSAN_OPTIONS=halt_on_error=1 \
  ctest --test-dir build-emu-tsan --output-on-failure -j2 \
  -R 'FusedOneFire|PlantedDefects|TensorCores|BatcherTest.*/cpu' -E "$tsan_skip"
echo "== emulated device: all passed [$(date +%T)]"
