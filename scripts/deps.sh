#!/usr/bin/env bash
# Installs the Debian packages uvfio needs, once. Silent and fast when they are all present.
# Usage: scripts/deps.sh [extra-package ...]
set -euo pipefail

pkgs=(g++ cmake ninja-build make pkg-config git ccache
      libgtest-dev libgmock-dev libbenchmark-dev
      libfmt-dev nlohmann-json3-dev libcli11-dev
      clang-format clang-tidy
      clang libclang-rt-14-dev  # libFuzzer (libclang_rt.fuzzer) for make test-fuzz
      "$@")

missing=()
for p in "${pkgs[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "uvfio: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "uvfio: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
