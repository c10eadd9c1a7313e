#!/usr/bin/env bash
# Packs the VM harness initramfs: static busybox, tests/vm/init and uvfio's binaries with the
# shared libraries they load (found with ldd) and the dynamic loader, at the paths the host has
# them. So the VM runs exactly the binaries `make test` built in build/, with no second (static)
# build of the library: the guest kernel is fine with the host's glibc.
# Usage: tests/vm/mkinitrd.sh OUTPUT.gz BINARY...   (each BINARY lands in /bin under its name)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: mkinitrd.sh OUTPUT.gz BINARY...}
shift
[ $# -gt 0 ] || { echo "usage: mkinitrd.sh OUTPUT.gz BINARY..." >&2; exit 2; }
busybox=/bin/busybox

# busybox is the guest's shell and every tool; a dynamic one would need its own libraries and
# Debian's busybox-static is static, so insist (a stray /bin/busybox from another package would
# otherwise fail in the guest with a bare "not found").
if LC_ALL=C readelf -l "$busybox" | grep -q INTERP; then
  echo "uvfio: $busybox is dynamically linked; install busybox-static" >&2
  exit 1
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run}
cp "$busybox" "$root/bin/busybox"
install -m 755 "$here/init" "$root/init"

# Copies one library to the path the host loads it from (following symlinks for the content),
# stripped of debug info the guest cannot use.
copy_lib() {
  local path=$1
  [ -e "$root$path" ] && return 0
  mkdir -p "$root$(dirname "$path")"
  strip --strip-unneeded -o "$root$path" "$(readlink -f "$path")" 2>/dev/null ||
    cp -L "$path" "$root$path"
}

for bin in "$@"; do
  [ -x "$bin" ] || { echo "uvfio: $bin is not an executable (build it first)" >&2; exit 1; }
  # Debug info triples the size; the unstripped binary stays in the build directory.
  strip -o "$root/bin/$(basename "$bin")" "$bin"
  LC_ALL=C readelf -l "$bin" | grep -q INTERP || continue  # static: nothing to copy
  # ldd lines: "libx.so.N => /path (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO
  # has no file. A library ldd cannot find would fail the guest at exec: refuse it here.
  if ldd "$bin" | grep -q 'not found'; then
    ldd "$bin" | grep 'not found' >&2
    echo "uvfio: $bin needs libraries this host lacks" >&2
    exit 1
  fi
  while read -r lib; do
    copy_lib "$lib"
  done < <(ldd "$bin" | sed -n -e 's/^.*=> \(\/[^ ]*\) (0x[0-9a-f]*)$/\1/p' \
                              -e 's/^[[:space:]]*\(\/[^ ]*\) (0x[0-9a-f]*)$/\1/p')
done
# The loader's own path (PT_INTERP) must exist as named; /lib64 is a symlink on some hosts.
interp=$(LC_ALL=C readelf -l "$1" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
[ -z "$interp" ] || copy_lib "$interp"

# newc is the format the kernel unpacks; sorted names keep the archive stable between runs.
(cd "$root" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
