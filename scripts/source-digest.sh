#!/usr/bin/env bash
# Prints a short digest of the sources a build of sqz depends on (C, C++,
# CUDA and CMake files). scripts/gpu-bundle.sh records it with the binaries
# it builds; scripts/gpu-check.sh uses carried binaries only when the digest
# of the tree it runs in is the same, and builds there otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
find CMakeLists.txt cmake include runtime kernels models apps bench tests emu -type f \
  \( -name '*.c' -o -name '*.h' -o -name '*.cc' -o -name '*.cu' -o -name '*.cuh' \
  -o -name '*.in' -o -name '*.cmake' -o -name CMakeLists.txt \) -print0 |
  LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16
