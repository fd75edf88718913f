#!/usr/bin/env bash
# Installs the built library into a temporary prefix, then builds and runs the
# example program against it twice: through find_package(sqz CONFIG) and
# through pkg-config. Usage: run_install_test.sh BUILD_DIR EXAMPLES_DIR
set -euo pipefail
build=$1
examples=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
image="$work/gray.ppm"
printf 'P6\n4 4\n255\n' >"$image"
head -c 48 /dev/zero | tr '\0' '\200' >>"$image"

"${CMAKE:-cmake}" --install "$build" --prefix "$work/prefix" >/dev/null
"${CMAKE:-cmake}" -S "$examples" -B "$work/cmake-build" -G "${GENERATOR:-Unix Makefiles}" \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
"${CMAKE:-cmake}" --build "$work/cmake-build" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib:${LD_LIBRARY_PATH:-}" "$work/cmake-build/classify" "$image"

libdir=$(ls -d "$work"/prefix/lib*/pkgconfig | head -n1)
PKG_CONFIG_PATH="$libdir" pkg-config --exists sqz
"${CC:-cc}" "$examples/classify.c" -o "$work/classify-pc" \
  $(PKG_CONFIG_PATH="$libdir" pkg-config --cflags --libs sqz)
LD_LIBRARY_PATH="$(dirname "$libdir"):${LD_LIBRARY_PATH:-}" "$work/classify-pc" "$image"
# The installed command-line tool runs without LD_LIBRARY_PATH (its rpath).
"$work/prefix/bin/sqz" --version
echo "install test passed"
