#!/usr/bin/env bash
# Fails if any C++ file differs from what clang-format would make of it.
set -euo pipefail
clang_format=$1 src=$2
cd "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.h' '*.cpp')
else
  mapfile -t files < <(find include src tools examples tests bench -name '*.h' -o -name '*.cpp')
fi
"$clang_format" --dry-run --Werror "${files[@]}"
echo "clang-format: ${#files[@]} files clean"
