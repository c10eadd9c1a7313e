#!/usr/bin/env bash
# Boots the VM test kernel under QEMU (TCG) and runs uvfio-conformance --provider kernel in it,
# once per IOMMU setup, because each setup reaches scenarios the others must skip:
#   iommu    VT-d: legacy container + type1, iommufd, the device cdev
#   noiommu  no VT-d, vfio.enable_unsafe_noiommu_mode=1: no-IOMMU groups only
#   bypass   VT-d for edu, NVMe behind a root port that bypasses the IOMMU, no-IOMMU mode on:
#            an ordinary group and a no-IOMMU group in one boot
# Usage: tests/vm/run.sh [BUILD-DIR [BOOT...]]   (default: build-vm, all three boots)
# Expects BUILD-DIR/bzImage (build-kernel.sh) and BUILD-DIR/initrd.gz (mkinitrd.sh); writes the
# serial console of each boot to BUILD-DIR/boot-<boot>.log.
# Env: UVFIO_VM_TIMEOUT seconds per boot (default 300).
# QEMU's option syntax is full of commas inside array elements:
# shellcheck disable=SC2054
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
outdir=${1:-$here/../../build-vm}
shift || true
boots=("$@")
[ ${#boots[@]} -gt 0 ] || boots=(iommu noiommu bypass)
limit=${UVFIO_VM_TIMEOUT:-300}
kernel=$outdir/bzImage
initrd=$outdir/initrd.gz
for f in "$kernel" "$initrd"; do
  [ -f "$f" ] || { echo "uvfio: $f missing (make test-vm builds it)" >&2; exit 1; }
done
# A tiny blank disk: the NVMe controller only needs to exist, the scenarios never do I/O on it.
nvme_img=$outdir/nvme.img
[ -f "$nvme_img" ] || truncate -s 4M "$nvme_img"

# KVM is not assumed (CI runners rarely have it); TCG is slow but a boot takes seconds.
common=(-accel tcg -m 512 -nographic -no-reboot -net none -kernel "$kernel" -initrd "$initrd"
        -device edu -drive "file=$nvme_img,if=none,format=raw,id=nv0")
# panic=-1 makes a kernel panic (or init exiting) end QEMU at once instead of hanging.
# no_timer_check: under TCG on a loaded host the IO-APIC timer check can miss its ticks and
# panic ("timer doesn't work through Interrupt-remapped IO-APIC"); the timer itself is fine.
append="console=ttyS0 panic=-1 no_timer_check"
vtd=(-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on)

# Sets args to the QEMU command line of one boot.
args=()
set_args() {
  case $1 in
    iommu) args=("${vtd[@]}" "${common[@]}" -device nvme,serial=uvfio0,drive=nv0
                 -append "$append intel_iommu=on") ;;
    noiommu) args=(-machine q35 "${common[@]}" -device nvme,serial=uvfio0,drive=nv0
                   -append "$append vfio.enable_unsafe_noiommu_mode=1") ;;
    bypass) args=("${vtd[@]}" "${common[@]}"
                  -device pxb-pcie,id=pxb1,bus_nr=0x80,bypass_iommu=true
                  -device pcie-root-port,id=rp1,bus=pxb1,chassis=1
                  -device nvme,serial=uvfio0,drive=nv0,bus=rp1
                  -append "$append intel_iommu=on vfio.enable_unsafe_noiommu_mode=1") ;;
    *) echo "uvfio: unknown boot '$1' (iommu, noiommu, bypass)" >&2; return 1 ;;
  esac
}

# The QEMU of the boot in progress, so an interrupted run does not leave it behind.
qemu_pid=""
cleanup() { [ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Checks one boot's serial log; prints the result line, returns non-zero on failure.
check_log() {
  local boot=$1 log=$2 text summary rc bound fails passed total skipped
  text=$(tr -d '\r' <"$log")
  summary=$(grep -E '^conformance \(kernel\): [0-9]+/[0-9]+ passed' <<<"$text" | tail -n 1 || true)
  rc=$(sed -n 's/^=== uvfio-vm: conformance exit status \([0-9]*\)$/\1/p' <<<"$text" | tail -n 1)
  bound=$(grep -c '^=== uvfio-vm: bound .* -> vfio-pci group ' <<<"$text" || true)
  fails=$(grep -c '^FAIL ' <<<"$text" || true)
  if [ -z "$summary" ] || [ -z "$rc" ]; then
    echo "kernel conformance ($boot): FAILED, no summary or exit status (log: $log)"
    grep -E '^(FAIL |Kernel panic|=== uvfio-vm:)' <<<"$text" | sed 's/^/  /' || true
    return 1
  fi
  [[ $summary =~ ([0-9]+)/([0-9]+)\ passed(,\ ([0-9]+)\ skipped)? ]]
  passed=${BASH_REMATCH[1]} total=${BASH_REMATCH[2]} skipped=${BASH_REMATCH[4]:-0}
  local why=()
  [ "$fails" -eq 0 ] || why+=("$fails FAIL lines")
  [ "$passed" -eq "$total" ] || why+=("$passed of $total passed")
  # Without both devices on vfio-pci every scenario would skip and the boot would look green.
  [ "$bound" -eq 2 ] || why+=("$bound of 2 devices bound to vfio-pci")
  [ "$total" -gt 0 ] || why+=("no scenario ran")
  # uvfio-conformance exits 1 when anything skipped, and every boot skips what only another
  # boot's IOMMU setup can reach; so 1 is accepted exactly when skips explain it.
  if ! { [ "$rc" -eq 0 ] || { [ "$rc" -eq 1 ] && [ "$skipped" -gt 0 ]; }; }; then
    why+=("exit status $rc")
  fi
  if [ ${#why[@]} -gt 0 ]; then
    local reasons
    reasons=$(printf '%s; ' "${why[@]}")
    echo "kernel conformance ($boot): FAILED: ${reasons%; } (log: $log)"
    grep '^FAIL ' <<<"$text" | sed 's/^/  /' || true
    return 1
  fi
  echo "kernel conformance ($boot): $passed/$total passed, $skipped skipped"
}

failed=() times=()
for boot in "${boots[@]}"; do
  set_args "$boot"
  log=$outdir/boot-$boot.log
  t0=$SECONDS
  # timeout kills QEMU if the guest hangs; -k follows up with SIGKILL if it ignores SIGTERM.
  timeout -k 10 "$limit" qemu-system-x86_64 "${args[@]}" </dev/null >"$log" 2>&1 &
  qemu_pid=$!
  status=0
  wait "$qemu_pid" || status=$?
  qemu_pid=""
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "kernel conformance ($boot): FAILED: no power-off within ${limit}s (log: $log)"
    failed+=("$boot")
    continue
  fi
  check_log "$boot" "$log" || failed+=("$boot")
  times+=("$boot $((SECONDS - t0))s")
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "uvfio: VM conformance FAILED in ${#failed[@]} of ${#boots[@]} boots: ${failed[*]}"
  exit 1
fi
summary=$(printf '%s, ' "${times[@]}")
echo "uvfio: VM conformance passed (${summary%, })"
