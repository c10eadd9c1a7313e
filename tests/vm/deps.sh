#!/usr/bin/env bash
# Installs what the VM tests (make test-vm, part of make test) need on top of scripts/deps.sh, once.
# Silent and fast when everything is present.
#
# linux-source-6.12 comes from bookworm-backports: Debian's own kernels ship without IOMMUFD and
# VFIO_NOIOMMU, so we build our own (tests/vm/build-kernel.sh). The backports suite is reached
# through a private sources list and a private package-list directory, so the machine's apt
# configuration (sources, lists, caches) is never touched.
set -euo pipefail

# binutils and xz-utils are linux-source-6.12's own dependencies; installed here from the
# system's sources because the private apt run below sees only bookworm-backports.
pkgs=(qemu-system-x86 busybox-static flex bison libelf-dev bc perl gcc make binutils xz-utils)

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

missing=()
for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
cache=${UVFIO_CACHE:-$HOME/.cache/uvfio}
[ ${#missing[@]} -eq 0 ] && [ -f "$cache/linux-source-6.12/VERSION" ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || {
    echo "uvfio: need root (or sudo) for apt-get: ${missing[*]} linux-source-6.12" >&2
    exit 1
  }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive

if [ ${#missing[@]} -gt 0 ]; then
  echo "uvfio: installing ${missing[*]}" >&2
  if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
    $sudo apt-get update -q >/dev/null
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# The kernel source is data, not something to install: the .deb is downloaded from backports
# through a private sources list and only its tarball is extracted into the cache. Installing it
# would let apt pull backports' linux-libc-dev over the system's 6.1 headers.
src_dir=$cache/linux-source-6.12
if [ ! -f "$src_dir/VERSION" ]; then
  echo "uvfio: fetching linux-source-6.12 from bookworm-backports" >&2
  tmp=$(mktemp -d)
  trap '$sudo rm -rf "$tmp"' EXIT
  chmod 755 "$tmp"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
    "http://deb.debian.org/debian bookworm-backports main" >"$tmp/sources.list"
  mkdir -p "$tmp/lists/partial" "$tmp/debs"
  # apt downloads as the unprivileged _apt user when it exists; let it write there.
  if id _apt >/dev/null 2>&1; then $sudo chown -R _apt:root "$tmp/lists" "$tmp/debs"; fi
  # SourceParts=- drops /etc/apt/sources.list.d; a private Lists dir keeps `update` from pruning
  # the system's lists; empty pkgcache paths keep apt from rewriting /var/cache/apt/*.bin.
  apt_private=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=-"
               -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::pkgcache="
               -o "Dir::Cache::srcpkgcache=")
  $sudo apt-get "${apt_private[@]}" update -q >/dev/null
  (cd "$tmp/debs" && $sudo apt-get "${apt_private[@]}" download -q linux-source-6.12 >/dev/null)
  deb=$(ls "$tmp"/debs/linux-source-6.12_*.deb)
  mkdir -p "$src_dir"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$src_dir" --strip-components=3 \
    ./usr/src/linux-source-6.12.tar.xz
  dpkg-deb -f "$deb" Version >"$src_dir/VERSION"
fi
