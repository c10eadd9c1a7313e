#!/usr/bin/env bash
# Boots the VM test kernel under QEMU (TCG), once per IOMMU setup, runs tests/vm/init's steps in
# each and checks their output from the serial console:
#   iommu    VT-d: legacy container + type1, iommufd, the device cdev; edu demo on legacy, iommufd
#   noiommu  no VT-d, vfio.enable_unsafe_noiommu_mode=1: no-IOMMU groups only; edu demo on noiommu
#   bypass   VT-d for edu, NVMe behind a root port that bypasses the IOMMU, no-IOMMU mode on:
#            an ordinary group and a no-IOMMU group in one boot (the mixed no-IOMMU scenarios)
# Every boot also checks uvfio ls (text and --json), uvfio bind/unbind (NVMe: nvme -> vfio-pci ->
# nvme; edu: none -> vfio-pci -> none), uvfio info pci:<edu> and the kernel log.
# When all three boots ran, the three "kernel conformance (PATH): N/N identical" lines and the edu
# demo's "result: PASS" on legacy, iommufd and noiommu must all have appeared.
# Usage: tests/vm/run.sh [OUT-DIR [BOOT...]]   (default: build/vm, all three boots)
# Expects OUT-DIR/bzImage (build-kernel.sh) and OUT-DIR/initrd.gz (mkinitrd.sh); writes each
# boot's serial console to OUT-DIR/boot-<boot>.log and QEMU's own messages to
# OUT-DIR/boot-<boot>.qemu.log.
# Env: UVFIO_VM_TIMEOUT seconds per boot (default 300); UVFIO_VM_CHECK_ONLY=1 checks the logs of
# an earlier run again without booting (for working on the checks).
# QEMU's option syntax is full of commas inside array elements:
# shellcheck disable=SC2054
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
outdir=${1:-$here/../../build/vm}
shift || true
boots=("$@")
all_boots=(iommu noiommu bypass)
[ ${#boots[@]} -gt 0 ] || boots=("${all_boots[@]}")
limit=${UVFIO_VM_TIMEOUT:-300}
kernel=$outdir/bzImage
initrd=$outdir/initrd.gz
for f in "$kernel" "$initrd"; do
  [ -f "$f" ] || { echo "uvfio: $f missing (make test-vm builds it)" >&2; exit 1; }
done
# A tiny blank disk: the NVMe controller only needs to exist; nothing does I/O on it.
nvme_img=$outdir/nvme.img nvme_img2=$outdir/nvme2.img
[ -f "$nvme_img" ] || truncate -s 4M "$nvme_img"
[ -f "$nvme_img2" ] || truncate -s 4M "$nvme_img2"

# KVM is not assumed (CI runners rarely have it); TCG is slow but a boot takes seconds.
common=(-accel tcg -nographic -no-reboot -net none -kernel "$kernel" -initrd "$initrd"
        -device edu -drive "file=$nvme_img,if=none,format=raw,id=nv0")
# panic=-1 makes a kernel panic (or init exiting) end QEMU at once instead of hanging.
# no_timer_check: under TCG on a loaded host the IO-APIC timer check can miss its ticks and
# panic ("timer doesn't work through Interrupt-remapped IO-APIC"); the timer itself is fine.
append="console=ttyS0 panic=-1 no_timer_check"
vtd=(-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on)

# Sets args (QEMU command line), paths (the conformance lines the boot must print), demos (the
# paths the edu demo runs on; passed to init as uvfio.demo=) and nvme_driver (the NVMe
# controller's driver before bind and after unbind) for one boot.
args=() paths=() demos=() nvme_driver=nvme
set_boot() {
  nvme_driver=nvme
  case $1 in
    # A second edu and NVMe controller as the functions of one multi-function device (no ACS:
    # one IOMMU group) for the scenarios about a group whose other device is on another driver
    # (nvme) or on pci-stub.
    iommu) paths=(legacy iommufd) demos=(legacy iommufd)
           args=("${vtd[@]}" -m 512 "${common[@]}" -device nvme,serial=uvfio0,drive=nv0
                 -drive "file=$nvme_img2,if=none,format=raw,id=nv1"
                 -device edu,addr=05.0,multifunction=on
                 -device nvme,serial=uvfio1,drive=nv1,addr=05.1
                 -append "$append intel_iommu=on") ;;
    # 256 MiB: without an IOMMU edu sees physical addresses, and it reaches only the low 256 MiB.
    noiommu) paths=(noiommu) demos=(noiommu)
             args=(-machine q35 -m 256 "${common[@]}" -device nvme,serial=uvfio0,drive=nv0
                   -append "$append vfio.enable_unsafe_noiommu_mode=1") ;;
    # Behind the bypassing root port the NVMe controller's interrupts never arrive while
    # interrupt remapping is on, so the nvme driver would time out command after command at boot:
    # it is kept from registering, and this boot's round trip is "(none) -> vfio-pci -> (none)".
    bypass) paths=(legacy iommufd noiommu) demos=() nvme_driver="(none)"
            args=("${vtd[@]}" -m 512 "${common[@]}"
                  -device pxb-pcie,id=pxb1,bus_nr=0x80,bypass_iommu=true
                  -device pcie-root-port,id=rp1,bus=pxb1,chassis=1
                  -device nvme,serial=uvfio0,drive=nv0,bus=rp1
                  -append "$append intel_iommu=on vfio.enable_unsafe_noiommu_mode=1 initcall_blacklist=nvme_init")
            ;;
    *) echo "uvfio: unknown boot '$1' (iommu, noiommu, bypass)" >&2; return 1 ;;
  esac
  local d
  d=$(IFS=,; echo "${demos[*]}")
  args[${#args[@]}-1]+=" uvfio.demo=$d"
}

# The QEMU of the boot in progress, so an interrupted run does not leave it behind.
qemu_pid=""
cleanup() { [ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- reading a boot's log ---
text=""
marker() { sed -n "s/^=== uvfio-vm: $1 \(.*\)$/\1/p" <<<"$text" | tail -n 1; }
# A step's output (between its begin and exit markers) and its exit status ("" if it never ended).
section() {
  awk -v b="=== uvfio-vm: step $1 begin" -v e="=== uvfio-vm: step $1 exit " \
    'index($0, e) == 1 { on = 0 } on { print } $0 == b { on = 1 }' <<<"$text"
}
step_rc() { marker "step $1 exit"; }
driver_after() {  # the last driver line for BDF after step NAME
  awk -v s="=== uvfio-vm: step $2 exit " -v d="=== uvfio-vm: driver $1 " \
    'index($0, s) == 1 { on = 1 } on && index($0, d) == 1 { print substr($0, length(d) + 1); exit }' \
    <<<"$text"
}

# --- checks: each prints one PASS/FAIL line; failures are collected ---
boot_failures=0
pass() { echo "  PASS $boot $1"; }
fail() { echo "  FAIL $boot $1"; boot_failures=$((boot_failures + 1)); }
# Fails CHECK unless step NAME exited 0; prints the step's last lines as the reason.
step_ok() {
  local rc
  rc=$(step_rc "$1")
  if [ "$rc" = "0" ]; then return 0; fi
  fail "$2: step $1 ${rc:+exited $rc}${rc:-never finished}"
  section "$1" | tail -n 5 | sed 's/^/      | /'
  return 1
}
# Fails CHECK unless step NAME's output has a line matching the extended regex RE.
has_line() {
  # Not grep -q: quitting early would SIGPIPE the producer and fail the pipeline (pipefail).
  section "$1" | grep -E -- "$2" >/dev/null && return 0
  fail "$3: no line matching '$2' in step $1"
  return 1
}

all_path_lines=() all_demos=()
never_run=""  # scenarios skipped in every boot checked so far, one name per line
never_run_init=1  # no boot checked yet
check_conformance() {
  local out rc line p n ok=1 skips
  out=$(section conformance)
  # "SKIP <name> [<kernel function>]: ..." -> "<name>"
  skips=$(sed -n 's/^SKIP \(.*\) \[[^]]*\]: .*$/\1/p' <<<"$out" | LC_ALL=C sort)
  if [ $never_run_init -eq 1 ]; then
    never_run=$skips never_run_init=0
  else
    never_run=$(LC_ALL=C comm -12 <(echo "$never_run") <(echo "$skips"))
  fi
  rc=$(step_rc conformance)
  # 0: all ran; 3: nothing failed but some scenarios need another boot's setup.
  if [ "$rc" != 0 ] && [ "$rc" != 3 ]; then
    fail "conformance: exit status ${rc:-missing}"
    ok=0
  fi
  if grep -qE '^(FAIL|DIFF) ' <<<"$out"; then
    fail "conformance: $(grep -cE '^(FAIL|DIFF) ' <<<"$out") FAIL/DIFF lines"
    grep -E '^(FAIL|DIFF) ' <<<"$out" | sed 's/^/      | /'
    ok=0
  fi
  grep -E '^KNOWN ' <<<"$out" | sed 's/^/      known kernel-version difference: /' || true
  for p in "${paths[@]}"; do
    line=$(grep -E "^kernel conformance \($p\): " <<<"$out" || true)
    if [ -z "$line" ]; then
      fail "conformance: no '$p' line"
      ok=0
      continue
    fi
    echo "    $line"
    # "I/N identical" or "I/N identical, K known difference(s)": I + K must be N, N > 0.
    [[ $line =~ :\ ([0-9]+)/([0-9]+)\ identical(,\ ([0-9]+)\ known)? ]] || { fail "$line"; ok=0; continue; }
    n=${BASH_REMATCH[2]}
    if [ "$n" -eq 0 ] || [ $((BASH_REMATCH[1] + ${BASH_REMATCH[4]:-0})) -ne "$n" ]; then
      fail "conformance ($p): $line"
      ok=0
      continue
    fi
    all_path_lines+=("$p")
  done
  grep -E '^conformance \(' <<<"$out" | sed 's/^/    /' || true
  [ $ok -eq 0 ] || pass "conformance: every scenario this boot reaches identical on kernel and emulation"
}

check_boot() {
  local edu nvme dev p before
  text=$(tr -d '\r' <"$log")
  if ! grep -qx '=== uvfio-vm: done' <<<"$text"; then
    fail "init did not finish (log: $log)"
    grep -E 'Kernel panic|=== uvfio-vm: step .* begin' <<<"$text" | tail -n 3 | sed 's/^/      | /'
  fi
  edu=$(marker "info edu") nvme=$(marker "info nvme")
  if [ -z "$edu" ] || [ "$edu" = missing ] || [ -z "$nvme" ] || [ "$nvme" = missing ]; then
    fail "devices: edu '${edu:-?}', NVMe '${nvme:-?}' (QEMU's -device edu / nvme)"
    return
  fi
  # uvfio ls, before anything is bound: the host's paths and both devices with their drivers.
  if step_ok ls-before "uvfio ls" &&
     has_line ls-before '^Kernel VFIO paths:' "uvfio ls" &&
     has_line ls-before "^ +$edu +1234:11e8 .* driver \(none\)" "uvfio ls (edu)" &&
     has_line ls-before "^ +$nvme +[0-9a-f]{4}:[0-9a-f]{4} .* driver ${nvme_driver//[()]/.}" \
       "uvfio ls (NVMe on $nvme_driver)"; then
    pass "uvfio ls: paths, edu without driver, NVMe on $nvme_driver"
  fi
  if step_ok ls-json "uvfio ls --json" &&
     has_line ls-json '"groups": \[' "uvfio ls --json" &&
     has_line ls-json "\"bdf\": \"$nvme\"" "uvfio ls --json (NVMe)" &&
     has_line ls-json "\"driver\": $([ "$nvme_driver" = nvme ] && echo '"nvme"' || echo null)" \
       "uvfio ls --json (NVMe driver)" &&
     has_line ls-json '"ids": "1234:11e8"' "uvfio ls --json (edu)"; then
    pass "uvfio ls --json: groups, NVMe on $nvme_driver, edu"
  fi
  # uvfio bind, then unbind back to what each device had.
  for dev in "$nvme" "$edu"; do
    before=$([ "$dev" = "$nvme" ] && echo "$nvme_driver" || echo "(none)")
    if step_ok "bind-$dev" "uvfio bind $dev"; then
      if [ "$(driver_after "$dev" "bind-$dev")" = vfio-pci ]; then
        pass "uvfio bind $dev: $before -> vfio-pci"
      else
        fail "uvfio bind $dev: driver afterwards '$(driver_after "$dev" "bind-$dev")', not vfio-pci"
      fi
    fi
    if step_ok "unbind-$dev" "uvfio unbind $dev"; then
      if [ "$(driver_after "$dev" "unbind-$dev")" = "$before" ]; then
        pass "uvfio unbind $dev: vfio-pci -> $before"
      else
        fail "uvfio unbind $dev: driver afterwards '$(driver_after "$dev" "unbind-$dev")', not $before"
      fi
    fi
  done
  if step_ok ls-bound "uvfio ls (bound)" &&
     has_line ls-bound "^ +$edu +1234:11e8 .* driver vfio-pci" "uvfio ls (edu on vfio-pci)" &&
     has_line ls-bound '^IOMMU group [0-9]+ \((type [^,]*|no-IOMMU), viable' "uvfio ls (viable group)"; then
    pass "uvfio ls after bind: edu on vfio-pci in a viable group"
  fi
  check_conformance
  if step_ok info "uvfio info pci:$edu" &&
     has_line info "1234:11e8" "uvfio info (IDs)" &&
     has_line info '^Regions:' "uvfio info (regions)" &&
     has_line info '^ +0 BAR0 +size 0x100000 ' "uvfio info (edu's 1 MiB BAR0)" &&
     has_line info '^DMA space:' "uvfio info (DMA space)"; then
    pass "uvfio info pci:$edu: IDs, regions, BAR0, DMA space"
  fi
  if step_ok info-json "uvfio info --json pci:$edu" &&
     has_line info-json '"regions": \[' "uvfio info --json (regions)" &&
     has_line info-json '"ids": "1234:11e8"' "uvfio info --json (edu's IDs)"; then
    pass "uvfio info --json pci:$edu"
  fi
  for p in "${demos[@]}"; do
    if step_ok "demo-$p" "uvfio demo pci:$edu,iommu=$p" &&
       has_line "demo-$p" '^result: PASS' "uvfio demo ($p)"; then
      pass "edu demo on $p: $(section "demo-$p" | grep -E '^result: ' | tail -n 1)"
      all_demos+=("$p")
    fi
  done
  # The kernel itself must not have complained (a WARN in vfio or iommufd is a bug to chase).
  if section dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace' >/dev/null; then
    fail "kernel log: $(section dmesg | grep -cE 'WARNING:|BUG:|Oops|Call Trace') warning lines"
    section dmesg | grep -E -A3 'WARNING:|BUG:|Oops' | head -n 12 | sed 's/^/      | /'
  else
    pass "kernel log: no warnings"
  fi
}

failed=() times=()
for boot in "${boots[@]}"; do
  set_boot "$boot"
  log=$outdir/boot-$boot.log
  t0=$SECONDS
  echo "uvfio: VM boot '$boot' (log: $log)"
  status=0
  if [ "${UVFIO_VM_CHECK_ONLY:-0}" != 1 ]; then
    # timeout kills QEMU if the guest hangs; -k follows up with SIGKILL if it ignores SIGTERM.
    timeout -k 10 "$limit" qemu-system-x86_64 "${args[@]}" </dev/null >"$log" \
      2>"$outdir/boot-$boot.qemu.log" &
    qemu_pid=$!
    wait "$qemu_pid" || status=$?
    qemu_pid=""
  fi
  boot_failures=0
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    fail "no power-off within ${limit}s (UVFIO_VM_TIMEOUT)"
  fi
  check_boot
  times+=("$boot $((SECONDS - t0))s")
  [ "$boot_failures" -eq 0 ] || failed+=("$boot")
done

# Across the boots: every path compared, the edu driver passing on every path.
boot=all
boot_failures=0
if [ ${#boots[@]} -eq ${#all_boots[@]} ]; then
  for p in legacy iommufd noiommu; do
    [[ " ${all_path_lines[*]} " == *" $p "* ]] || fail "no boot printed 'kernel conformance ($p): N/N identical'"
    [[ " ${all_demos[*]} " == *" $p "* ]] || fail "the edu demo did not pass on $p in any boot"
  done
  # Every scenario must have run on the kernel in some boot (each boot skips what needs another
  # boot's machine).
  if [ -n "$never_run" ]; then
    fail "$(wc -l <<<"$never_run") scenarios ran in no boot:"
    while IFS= read -r name; do echo "      | $name"; done <<<"$never_run"
  fi
  [ "$boot_failures" -ne 0 ] ||
    pass "every scenario ran in some boot, identical; the edu demo passed on legacy, iommufd, noiommu"
fi
[ "$boot_failures" -eq 0 ] || failed+=("(across boots)")

summary=$(printf '%s, ' "${times[@]}")
if [ ${#failed[@]} -gt 0 ]; then
  echo "uvfio: VM tests FAILED in: ${failed[*]} (${summary%, }; logs in $outdir)"
  exit 1
fi
echo "uvfio: VM tests passed (${summary%, })"
