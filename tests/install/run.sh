#!/usr/bin/env bash
# Installs the build tree into a temporary prefix and builds a program against it, once through
# the CMake package (shared and static library) and once through pkg-config. Run by CTest.
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
for f in include/uvfio/iommu/ioas.h include/uvfio/uapi/iommufd.h lib/cmake/uvfio/uvfioConfig.cmake \
         lib/pkgconfig/uvfio.pc bin/uvfio; do
  [ -e "$tmp/prefix/$f" ] || { echo "install lacks $f" >&2; exit 1; }
done
ls "$tmp"/prefix/lib/libuvfio.so* "$tmp"/prefix/lib/libuvfio.a >/dev/null

cmake -S "$src/tests/install/consumer" -B "$tmp/consumer" -G Ninja \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/consumer/consumer_shared"
"$tmp/consumer/consumer_static"
# The shared build really uses the installed library.
# (No `ldd | grep -q`: grep exiting early would SIGPIPE ldd and fail the pipeline.)
libs=$(LD_LIBRARY_PATH="$tmp/prefix/lib" ldd "$tmp/consumer/consumer_shared")
[[ $libs == *"$tmp/prefix/lib/libuvfio.so"* ]] || { echo "consumer_shared does not use the installed libuvfio" >&2; exit 1; }

export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
g++ -o "$tmp/pc" "$src/tests/install/consumer/main.cpp" $(pkg-config --cflags --libs uvfio)
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/pc"
"$tmp/prefix/bin/uvfio" version
