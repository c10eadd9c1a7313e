#!/usr/bin/env bash
# Runs the vfio-user server fuzzer (libFuzzer, ASan+UBSan) for SECONDS from the committed seed
# corpus; fails on any crash, leak, sanitizer report, timeout or broken invariant.
# Usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]   (make test-fuzz builds BUILD_DIR first)
set -euo pipefail

build=${1:?usage: tests/fuzz/run.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
src=$(cd "$(dirname "$0")" && pwd)
fuzzer=$build/tests/fuzz/vfio_user_server_fuzzer
[ -x "$fuzzer" ] || { echo "vfio-user fuzz: $fuzzer is not built" >&2; exit 1; }

# New inputs go to a working corpus in the build dir (kept between runs); the committed seeds are
# only read. Findings land in $build/fuzz-artifacts/ with the input that caused them.
work=$build/fuzz-corpus
artifacts=$build/fuzz-artifacts
mkdir -p "$work" "$artifacts"

# allocator_may_return_null: the IOAS allocates dirty bitmaps with nothrow new and answers
# ENOMEM when that fails, as it should for an absurd window; memory that is really committed is
# still bounded by -malloc_limit_mb and -rss_limit_mb below (a finding when exceeded).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
log=$build/fuzz.log
echo "vfio-user fuzz: ${seconds}s from $(ls "$src/corpus" | wc -l) seeds (log: $log)"
set +e
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
  -max_len=8192 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "$src/corpus" >"$log" 2>&1
rc=$?
set -e
if [ $rc -ne 0 ]; then
  tail -n 60 "$log" >&2
  echo "vfio-user fuzz: FAILED (exit $rc); reproduce with: $fuzzer $artifacts/<crash-file>" >&2
  exit 1
fi
grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | tr '\n' ' '
echo
echo "vfio-user fuzz: passed"
