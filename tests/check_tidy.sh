#!/usr/bin/env bash
# Fails if clang-tidy (.clang-tidy) reports anything in uvfio's own non-test sources.
#
# A file found clean is remembered in a cache (UVFIO_TIDY_CACHE, default ~/.cache/uvfio/tidy)
# under a key made of everything its verdict depends on: the clang-tidy version, .clang-tidy, the
# file's compile command and the contents of the file and of every header it includes (ninja's
# recorded dependencies). Only clean verdicts are cached, so a finding is reported on every run.
# A file without recorded dependencies (not built yet) is always checked.
set -euo pipefail
clang_tidy=$1 src=$2 build=$3
cd "$src"
[ -f "$build/compile_commands.json" ] || { echo "no compile_commands.json in $build" >&2; exit 1; }
mapfile -t files < <(git ls-files 'src/*.cpp' 'tools/*.cpp' 'bench/*.cpp' 'examples/*.cpp' 2>/dev/null ||
                     find src tools bench examples -name '*.cpp')
cache=${UVFIO_TIDY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/uvfio/tidy}
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# file -> its dependency list (first object that compiles it), and one hash per distinct dependency.
(cd "$build" && ninja -t deps 2>/dev/null) | awk -v out="$work/deps" '
  /#deps/ { src = ""; first = 1; next }
  /^    / { p = $1; if (first) { src = p; first = 0; if (src in seen) { src = "" } else seen[src] = 1 }
            if (src != "") print src "\t" p > out; next }
' || true
touch "$work/deps"
cut -f2 "$work/deps" | sort -u | xargs -r sha256sum 2>/dev/null | awk '{ print $2 "\t" $1 }' >"$work/hashes" || true
awk '/"command":/ { cmd = $0 } /"file":/ { f = $0; sub(/.*"file": "/, "", f); sub(/".*/, "", f); print f "\t" cmd }' \
  "$build/compile_commands.json" >"$work/commands"
salt=$( { "$clang_tidy" --version; cat .clang-tidy; } | sha256sum | cut -c1-64)

key_of() {  # prints the cache key of $1 (absolute path), or nothing when its dependencies are unknown
  local abs=$1 deps
  deps=$(awk -F'\t' -v f="$abs" '$1 == f { print $2 }' "$work/deps")
  [ -n "$deps" ] || return 0
  { echo "$salt"
    awk -F'\t' -v f="$abs" '$1 == f { print $2 }' "$work/commands"
    awk -F'\t' 'NR == FNR { want[$1] = 1; next } ($1 in want) { print }' <(printf '%s\n' "$deps") "$work/hashes"
  } | sha256sum | cut -c1-64
}

todo=() keys=() cached=0
for f in "${files[@]}"; do
  k=$(key_of "$src/$f")
  if [ -n "$k" ] && [ -e "$cache/$k" ]; then cached=$((cached + 1)); continue; fi
  todo+=("$f"); keys+=("$k")
done

status=0
# One clang-tidy per file (so each file has its own verdict), nproc at a time.
for i in "${!todo[@]}"; do printf '%s\n%s\n' "$i" "${todo[$i]}"; done |
  xargs -r -d '\n' -n 2 -P "$(nproc)" sh -c '"$0" -p "$1" --quiet "$4" >"$2/out.$3" 2>"$2/err.$3"; echo $? >"$2/rc.$3"' \
    "$clang_tidy" "$build" "$work"
for i in "${!todo[@]}"; do
  if grep -E "(warning|error):" "$work/out.$i"; then
    status=1
  elif [ "$(cat "$work/rc.$i" 2>/dev/null)" != 0 ]; then
    echo "${todo[$i]}: clang-tidy failed:"; tail -5 "$work/err.$i"
    status=1
  elif [ -n "${keys[$i]}" ]; then
    : >"$cache/${keys[$i]}"
  fi
done
if [ $status -ne 0 ]; then
  echo "clang-tidy: findings above" >&2
  exit 1
fi
echo "clang-tidy: ${#files[@]} files clean (${cached} unchanged since a clean run, ${#todo[@]} checked)"
