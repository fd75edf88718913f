#!/usr/bin/env bash
# Installs what is missing (Debian packages; as root, or through sudo) and
# builds sqz into build/. Safe to run again: it only does what is missing.
#
# Environment: BUILD_DIR (default build), SQZ_CMAKE_ARGS (extra configure
# arguments), SQZ_SKIP_APT=1 to never call apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}

# Debian packages: the build tools, GoogleTest, libjpeg-turbo, libpng and
# pkg-config; Python's venv, and libpython3.11 for Triton's Python stub (the
# serving tests). The CUDA toolkit and cuDNN are used when present, not installed.
packages=(cmake ninja-build g++ make pkg-config libgtest-dev libjpeg62-turbo-dev libpng-dev
  python3 python3-venv libpython3.11)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ "${SQZ_SKIP_APT:-0}" != 1 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# nvcc is often outside PATH on a fresh machine.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release ${SQZ_CMAKE_ARGS:-}
fi
cmake --build "$build_dir" --parallel "$(nproc)"
