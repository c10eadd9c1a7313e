#!/usr/bin/env bash
# Packs the VM harness initramfs: static busybox, tests/vm/init and the static conformance binary.
# Usage: tests/vm/mkinitrd.sh STATIC-BINARY OUTPUT.gz
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?usage: mkinitrd.sh STATIC-BINARY OUTPUT.gz}
out=${2:?usage: mkinitrd.sh STATIC-BINARY OUTPUT.gz}
busybox=/bin/busybox

# The guest has no libraries at all: refuse a dynamic binary here rather than see the VM fail
# with a bare "not found" from the shell.
for f in "$bin" "$busybox"; do
  if LC_ALL=C readelf -l "$f" | grep -q INTERP; then
    echo "uvfio: $f is dynamically linked; the initramfs needs static binaries" >&2
    exit 1
  fi
done

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp}
cp "$busybox" "$root/bin/busybox"
install -m 755 "$here/init" "$root/init"
# Debug info triples the size and the guest cannot use it; the unstripped binary stays in build-vm.
strip -o "$root/uvfio-conformance" "$bin"
# newc is the format the kernel unpacks; sorted names keep the archive stable between runs.
(cd "$root" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
