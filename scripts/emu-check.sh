#!/usr/bin/env bash
# The emulated device's whole suite: the real CUDA kernels and the GPU
# engine (fused and unfused backends) on the CPU (emu/, docs/architecture.md).
#   build-emu/       Release: the GPU tests (every model against the cpu
#                    reference, real weights, graphs, streams, threads,
#                    out-of-memory), the planted-defect tests, and
#                    sqz / sqz-bench on the emulated device
#   build-emu-asan/  the same suite (real weights aside) under
#                    AddressSanitizer + UndefinedBehaviorSanitizer
#   build-emu-tsan/  the Fire, stem and classifier kernels on small shapes
#                    covering every variant, and the planted races, under
#                    ThreadSanitizer
# Usage: scripts/emu-check.sh [--build-only]   (--build-only: build-emu only,
# leaving build-emu/apps/sqz and build-emu/bench/sqz-bench ready to run)
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
gpu_tests='Gpu|Fused|PlantedDefects|EmulatedDevice'

echo "== emulated device (build-emu/: GPU suite, planted defects, CLI and bench)"
ctest --test-dir build-emu --output-on-failure -j2 -R "$gpu_tests|emulated"

echo "== emulated device under AddressSanitizer + UBSan (build-emu-asan/)"
BUILD_DIR=build-emu-asan SQZ_CMAKE_ARGS="$emu_args -DCMAKE_BUILD_TYPE=RelWithDebInfo \
-DSQZ_SANITIZE=address,undefined -DCMAKE_C_FLAGS=-fno-sanitize-recover=all \
-DCMAKE_CXX_FLAGS=-fno-sanitize-recover=all" scripts/setup.sh
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-emu-asan --output-on-failure -j2 -R "$gpu_tests" -E RealWeights

echo "== emulated device under ThreadSanitizer (build-emu-tsan/: kernels on small shapes)"
# OpenMP off: libgomp is not instrumented, and only the kernels are at stake.
BUILD_DIR=build-emu-tsan SQZ_CMAKE_ARGS="$emu_args -DCMAKE_BUILD_TYPE=RelWithDebInfo \
-DSQZ_SANITIZE=thread -DSQZ_WITH_OPENMP=OFF" scripts/setup.sh
SQZ_TEST_QUICK=1 TSAN_OPTIONS=halt_on_error=1 \
  ctest --test-dir build-emu-tsan --output-on-failure -j2 \
  -R 'FusedOneFire|FusedModels|PlantedDefects|TwoThreads'
echo "== emulated device: all passed"
