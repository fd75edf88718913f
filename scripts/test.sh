#!/usr/bin/env bash
# Runs every test: builds (scripts/setup.sh), runs the GoogleTest suites
# through ctest (GPU tests skip with the reason when there is no GPU), then
# the host code's corruption and allocation-failure tests again under
# AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Then the emulated device's suite (scripts/emu-check.sh): the GPU tests on
# the real kernels, run on the CPU, plain and under the sanitizers. Then the
# Python package's tests, Triton Inference Server hosting sqz (serving),
# and a bounded run of every fuzz harness.
#
# Environment: SQZ_DATA_DIR (default ../shared/data beside the checkout),
# SQZ_SKIP_SANITIZERS=1 to skip the host sanitizer pass, SQZ_SKIP_EMU=1 to
# skip the emulated device, SQZ_SKIP_FUZZ=1 to skip fuzzing (or
# SQZ_FUZZ_SECONDS=N per harness, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== ctest (build/) [$(date +%T)]"
ctest --test-dir build --output-on-failure

if [ "${SQZ_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "== sanitizers (build-asan/: host code, address + undefined) [$(date +%T)]"
  BUILD_DIR=build-asan SQZ_CMAKE_ARGS="-DSQZ_WITH_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
-DSQZ_SANITIZE=address,undefined -DCMAKE_C_FLAGS=-fno-sanitize-recover=all \
-DCMAKE_CXX_FLAGS=-fno-sanitize-recover=all" scripts/setup.sh
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure \
    -E 'RealWeights|install_example'
fi
# ---- the emulated device: the real CUDA kernels and GPU engine on the CPU
# (scripts/emu-check.sh: Release, AddressSanitizer, ThreadSanitizer builds).
if [ "${SQZ_SKIP_EMU:-0}" != 1 ]; then
  scripts/emu-check.sh
fi
# ---- Python: the sqz package, ONNX export, ONNX Runtime cross-check -------
# (bindings/python, tests/python; docs/python.md). A virtual environment in
# build/venv, made once; pip only fetches what is missing. A package that
# cannot be installed fails the run: these tests never skip for want of one.
echo "== python (build/venv: sqz package, ONNX export, ONNX Runtime cross-check) [$(date +%T)]"
venv=build/venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  numpy pytest onnx onnxruntime "setuptools>=68" wheel
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps \
  --no-build-isolation --force-reinstall ./bindings/python
rm -rf bindings/python/build bindings/python/*.egg-info
SQZ_LIBRARY="$PWD/build/libsqz.so" SQZ_CLI="$PWD/build/apps/sqz" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/python
# ---- end of the Python block ------------------------------------------------
# ---- Serving: Triton Inference Server hosting sqz through PyTriton ----------
# (python -m sqz.serve; tests/serving, docs/serving.md), on loopback only.
# PyTriton's Python stub links Debian's libpython3.11, so this environment is
# made with /usr/bin/python3, not whatever python3 is first in PATH.
echo "== serving (build/serve-venv: Triton Inference Server through PyTriton, loopback) [$(date +%T)]"
serve_venv=build/serve-venv
[ -x "$serve_venv/bin/python" ] || /usr/bin/python3 -m venv "$serve_venv"
"$serve_venv/bin/python" -m pip install -q --disable-pip-version-check \
  numpy pytest nvidia-pytriton "tritonclient[http,grpc]"
SQZ_LIBRARY="$PWD/build/libsqz.so" PYTHONPATH="$PWD/bindings/python" \
  SQZ_SERVING_RESULTS="$PWD/build/serving" \
  "$serve_venv/bin/python" -m pytest -q -p no:cacheprovider tests/serving
# ---- Fuzzing: every parser of untrusted input, about a minute each -------
# (scripts/fuzz.sh: libFuzzer under ASan + UBSan, atheris for Python; any
# finding fails the run; docs/reliability.md).
if [ "${SQZ_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz (build-fuzz/: ${SQZ_FUZZ_SECONDS:-60} s per harness) [$(date +%T)]"
  scripts/fuzz.sh "${SQZ_FUZZ_SECONDS:-60}"
fi
echo "== all tests passed [$(date +%T)]"
