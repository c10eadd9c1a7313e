#!/usr/bin/env bash
# Fails if clang-tidy (.clang-tidy) reports anything in uvfio's own non-test sources.
set -euo pipefail
clang_tidy=$1 src=$2 build=$3
cd "$src"
[ -f "$build/compile_commands.json" ] || { echo "no compile_commands.json in $build" >&2; exit 1; }
mapfile -t files < <(git ls-files 'src/*.cpp' 'tools/*.cpp' 'bench/*.cpp' 'examples/*.cpp' 2>/dev/null ||
                     find src tools bench examples -name '*.cpp')
out=$(printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 4 "$clang_tidy" -p "$build" --quiet 2>/dev/null || true)
if printf '%s\n' "$out" | grep -E "(warning|error):"; then
  echo "clang-tidy: findings above" >&2
  exit 1
fi
echo "clang-tidy: ${#files[@]} files clean"
