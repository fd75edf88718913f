#!/usr/bin/env bash
# Prepares, on this machine (no GPU needed), everything scripts/gpu-check.sh
# needs on the GPU machine, so that its device minutes go to running, not to
# compiling:
#
#   .gpu/bin/     sqz_gpu_tests, sqz, sqz-bench, built here for sm_90
#                 (Release, build-gpu/)
#   .gpu/lib/     libsqz.so and the Debian libraries the GPU machine's image
#                 may lack (libjpeg.so.62, libpng16, libgomp); CUDA, cuBLAS
#                 and cuDNN are not copied: gpu-check.sh finds them there
#   .gpu/googletest/  Debian's GoogleTest sources (package googletest), for
#                 a build there when the binaries do not load: the GPU
#                 machine has no GoogleTest and cannot install one
#   .gpu/BUILD    what was built, from which commit, with which toolkit
#   .data/        a copy of the shared data (SQZ_DATA_DIR there)
#
# Both folders are ignored by git; the device call carries them:
#   run(command="bash scripts/gpu-check.sh", carry=[".gpu", ".data"])
# The whole working tree that travels must stay under 64 MiB; this script
# prints what the two folders weigh and fails above the limit.
#
# Environment: SQZ_DATA_DIR (default ../shared/data beside the checkout),
# BUILD_DIR (default build-gpu).
# scripts/gpu-bundle.sh --googletest DIR copies only the GoogleTest sources,
# into DIR (scripts/emu-check.sh rehearses the build there with them).
set -euo pipefail
cd "$(dirname "$0")/.."

# copy_googletest DIR: the parts of Debian's GoogleTest sources (package
# googletest) that build gtest and gtest_main.
copy_googletest() {
  local src=/usr/src/googletest dir=$1
  [ -f "$src/googletest/src/gtest-all.cc" ] ||
    { echo "gpu-bundle: no GoogleTest sources in $src (Debian package googletest)" >&2; exit 1; }
  mkdir -p "$dir/googletest"
  cp "$src/CMakeLists.txt" "$dir/"
  cp -r "$src/googletest/CMakeLists.txt" "$src/googletest/cmake" "$src/googletest/include" \
    "$src/googletest/src" "$dir/googletest/"
}
if [ "${1:-}" = --googletest ]; then
  copy_googletest "${2:?usage: gpu-bundle.sh --googletest DIR}"
  exit 0
fi
data=${SQZ_DATA_DIR:-$PWD/../shared/data}
build=${BUILD_DIR:-build-gpu}
limit_mib=64

command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
echo "== build ($build: Release, sm_90)"
cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DSQZ_EMULATE_DEVICE=OFF >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target sqz sqz_cli sqz_bench sqz_gpu_tests

echo "== .gpu/"
rm -rf .gpu
mkdir -p .gpu/bin .gpu/lib
cp "$build/tests/sqz_gpu_tests" "$build/apps/sqz" "$build/bench/sqz-bench" .gpu/bin/
cp -P "$build"/libsqz.so* .gpu/lib/
# The libraries of Debian's that Ubuntu-based images name differently or may
# not have; each is self-contained (glibc only), so the newer glibc there
# loads it.
for so in libjpeg.so.62 libpng16.so.16 libgomp.so.1; do
  path=$(ldd .gpu/lib/libsqz.so | awk -v so="$so" '$1 == so { print $3 }')
  [ -n "$path" ] || continue
  cp -L "$path" ".gpu/lib/$so"
done
strip --strip-unneeded .gpu/bin/* .gpu/lib/*.so* 2>/dev/null || true
copy_googletest .gpu/googletest
{
  echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!.gpu' ':!.data' || echo ' (with uncommitted changes)')"
  echo "sources $(scripts/source-digest.sh)"
  echo "built $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -m), $(nvcc --version | tail -n 1)"
  echo "cuDNN headers $(grep -h -m3 -E 'define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ' \
    "$(dirname "$(dirname "$(command -v nvcc)")")"/include/cudnn_version.h 2>/dev/null |
    awk '{printf "%s%s", sep, $3; sep="."}')"
  echo "needs:"
  ldd .gpu/bin/sqz_gpu_tests .gpu/lib/libsqz.so | awk '/=>/ { print "  " $1 }' | sort -u
} >.gpu/BUILD

echo "== .data/ (from $data)"
[ -d "$data" ] || { echo "gpu-bundle: no data folder at $data (set SQZ_DATA_DIR)" >&2; exit 1; }
mkdir -p .data
cp -a "$data"/. .data/

size_of() { du -sb "$@" | awk '{ s += $1 } END { print s }'; }
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -n 1 | awk '{ print $1 }')
untracked=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null |
  tail -n 1 | awk '{ print $1 }')
carried=$(size_of .gpu .data)
total=$((tracked + ${untracked:-0} + carried))
printf 'travels: tracked %.1f MiB, untracked %.1f MiB, .gpu + .data %.1f MiB; %.1f of %d MiB\n' \
  "$(echo "$tracked / 1048576" | bc -l)" "$(echo "${untracked:-0} / 1048576" | bc -l)" \
  "$(echo "$carried / 1048576" | bc -l)" "$(echo "$total / 1048576" | bc -l)" "$limit_mib"
if [ "$total" -gt $((limit_mib * 1048576)) ]; then
  echo "gpu-bundle: over the ${limit_mib} MiB a device call may carry" >&2
  exit 1
fi
cat .gpu/BUILD
echo 'ready: run(command="bash scripts/gpu-check.sh", carry=[".gpu", ".data"], timeout_s=300)'
