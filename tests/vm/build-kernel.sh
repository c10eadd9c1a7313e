#!/usr/bin/env bash
# Builds the VM test kernel from Debian's linux-source-6.12 plus tests/vm/kernel.config, and links
# it as <outdir>/bzImage. The image is cached outside the tree, keyed by the fragment and the
# source package version, because a build takes minutes and the result only depends on those two.
# Usage: tests/vm/build-kernel.sh [outdir]   (default: build/vm)
# Env: UVFIO_CACHE (default ~/.cache/uvfio), JOBS (default nproc).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
outdir=${1:-$repo/build/vm}
fragment=$here/kernel.config
cache=${UVFIO_CACHE:-$HOME/.cache/uvfio}
tarball=$cache/linux-source-6.12/linux-source-6.12.tar.xz  # fetched by deps.sh
jobs=${JOBS:-$(nproc)}

[ -f "$tarball" ] || { echo "uvfio: $tarball missing; run tests/vm/deps.sh" >&2; exit 1; }
srcver=$(cat "$cache/linux-source-6.12/VERSION")
key=$({ cat "$fragment"; echo "linux-source-6.12 $srcver"; } | sha256sum | cut -c1-16)
image_dir=$cache/vm-kernel-$key
mkdir -p "$outdir"

if [ ! -f "$image_dir/bzImage" ]; then
  echo "uvfio: building VM kernel (linux-source-6.12 $srcver, key $key); takes minutes" >&2
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/vm-kernel-build.XXXXXX")
  # The built tree is ~1 GB and only the bzImage is kept; remove it even on failure.
  trap 'rm -rf "$work"' EXIT
  log=$outdir/kernel-build.log
  tar -C "$work" -xf "$tarball"
  ksrc=$work/linux-source-6.12
  if ! (
    set -e
    cd "$ksrc"
    # tinyconfig is the smallest base; the fragment turns on exactly what the tests need.
    make -s tinyconfig
    scripts/kconfig/merge_config.sh -m .config "$fragment"
    make -s olddefconfig
  ) >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "uvfio: kernel configuration failed (full log: $log)" >&2
    exit 1
  fi
  # olddefconfig silently drops symbols whose dependencies are unmet; a dropped line would mean a
  # kernel that quietly lacks a feature the scenarios then skip, so insist on every one.
  lost=()
  while IFS= read -r line; do
    case $line in
      CONFIG_*=*)
        grep -qxF -- "$line" "$ksrc/.config" || lost+=("$line") ;;
      "# CONFIG_"*" is not set")
        sym=${line#\# }
        sym=${sym%% *}
        ! grep -q "^$sym=" "$ksrc/.config" || lost+=("$line") ;;
    esac
  done <"$fragment"
  if [ ${#lost[@]} -gt 0 ]; then
    printf 'uvfio: kernel.config line lost by olddefconfig: %s\n' "${lost[@]}" >&2
    exit 1
  fi
  if ! make -C "$ksrc" -j"$jobs" bzImage >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "uvfio: kernel build failed (full log: $log)" >&2
    exit 1
  fi
  # Publish atomically so an interrupted build never leaves a half-written cached image.
  mkdir -p "$image_dir.tmp.$$"
  cp "$ksrc/arch/x86/boot/bzImage" "$ksrc/.config" "$image_dir.tmp.$$/"
  mv -T "$image_dir.tmp.$$" "$image_dir" 2>/dev/null || rm -rf "$image_dir.tmp.$$"
fi
ln -sfn "$image_dir/bzImage" "$outdir/bzImage"
