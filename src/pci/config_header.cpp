// The standard config header (0x00-0x3f): the function's registers and vfio-pci's permissions
// for them (init_pci_cap_basic_perm, vfio_basic_config_read/write).
#include <linux/pci_regs.h>

#include "pci/config_space_impl.h"

namespace uvfio::pci {

namespace {

constexpr uint32_t kAllVirt = 0xffffffff;
constexpr uint32_t kAllWrite = 0xffffffff;

constexpr bool is_bar(size_t offset) {
  return (offset >= PCI_BASE_ADDRESS_0 && offset < PCI_BASE_ADDRESS_5 + 4) ||
         (offset >= PCI_ROM_ADDRESS && offset < PCI_ROM_ADDRESS + 4);
}

// Status bits a PCI function reports and software clears by writing 1.
constexpr uint16_t kStatusW1c = PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT |
                                PCI_STATUS_REC_TARGET_ABORT | PCI_STATUS_REC_MASTER_ABORT |
                                PCI_STATUS_SIG_SYSTEM_ERROR | PCI_STATUS_DETECTED_PARITY;

}  // namespace

void ConfigSpace::Impl::init_header(const DeviceLayout& layout, uint8_t first_cap) {
  interrupt_pin = layout.interrupt_pin;
  phys.define(PCI_VENDOR_ID, 2, layout.vendor_id);
  phys.define(PCI_DEVICE_ID, 2, layout.device_id);
  phys.define(PCI_COMMAND, 2, 0,
              PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
                  PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
  phys.define(PCI_STATUS, 2, first_cap != 0 ? PCI_STATUS_CAP_LIST : 0, 0, kStatusW1c);
  phys.define(PCI_CLASS_REVISION, 4, (layout.class_code & 0xffffff) << 8 | layout.revision);
  phys.define(PCI_CACHE_LINE_SIZE, 1, 0, 0xff);
  // PCIe hardwires the Latency Timer to 0; conventional PCI lets software set it.
  phys.define(PCI_LATENCY_TIMER, 1, 0, express ? 0 : 0xff);
  phys.define(PCI_HEADER_TYPE, 1, PCI_HEADER_TYPE_NORMAL);
  phys.define(PCI_BIST, 1, 0);  // not BIST capable: writes do nothing
  init_bars();
  phys.define(PCI_SUBSYSTEM_VENDOR_ID, 2, layout.subsystem_vendor_id);
  phys.define(PCI_SUBSYSTEM_ID, 2, layout.subsystem_id);
  phys.define(PCI_CAPABILITY_LIST, 1, first_cap);
  phys.define(PCI_INTERRUPT_LINE, 1, 0, 0xff);
  phys.define(PCI_INTERRUPT_PIN, 1, layout.interrupt_pin);
  init_header_perms();
}

void ConfigSpace::Impl::init_header_perms() {
  perms.claim(0, PCI_STD_HEADER_SIZEOF, ConfigPermissions::kBasic);
  // IDs are virtualized (for SR-IOV VFs, which read FFFF) and read-only.
  perms.set16(PCI_VENDOR_ID, 0xffff, 0);
  perms.set16(PCI_DEVICE_ID, 0xffff, 0);
  // Only INTx Disable is virtualized (vfio-pci masks INTx itself); Memory, I/O, Bus Master and
  // the rest are written through to the function.
  perms.set16(PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 0xffff);
  // Status: the Capabilities List bit is virtualized; nothing is writable, so the error bits the
  // function clears on a 1 cannot be cleared through vfio-pci.
  perms.set16(PCI_STATUS, PCI_STATUS_CAP_LIST, 0);
  perms.set8(PCI_CACHE_LINE_SIZE, 0, 0xff);
  perms.set8(PCI_LATENCY_TIMER, 0, 0xff);
  perms.set8(PCI_BIST, 0, 0xff);
  for (size_t bar = PCI_BASE_ADDRESS_0; bar <= PCI_BASE_ADDRESS_5; bar += 4)
    perms.set32(bar, kAllVirt, kAllWrite);
  perms.set32(PCI_ROM_ADDRESS, kAllVirt, kAllWrite);
  perms.set8(PCI_CAPABILITY_LIST, 0xff, 0);
  perms.set8(PCI_INTERRUPT_LINE, 0xff, 0xff);
  perms.set8(PCI_INTERRUPT_PIN, 0xff, 0);
}

uint16_t ConfigSpace::Impl::visible_command() const {
  return static_cast<uint16_t>(default_read(PCI_COMMAND, 2));
}

uint32_t ConfigSpace::Impl::basic_read(size_t pos, unsigned count) {
  if (is_bar(pos)) bar_fixup();
  return default_read(pos, count);
}

void ConfigSpace::Impl::basic_write(size_t pos, unsigned count, uint32_t val, Pending& ev) {
  const size_t offset = pos;  // the header starts at 0
  const uint16_t before = visible_command();
  // The kernel restores the physical BARs here when it detects a reset it did not do; an
  // emulated function's BARs only change through this class, so there is nothing to restore.
  default_write(pos, count, val);
  if (offset == PCI_COMMAND) {
    // Remember the driver's Memory/IO enable in vconfig (the kernel uses it to spot a backdoor
    // reset and as the memory-enable gate for BAR access).
    const uint32_t mask = PCI_COMMAND_MEMORY | PCI_COMMAND_IO;
    vwrite(PCI_COMMAND, 2, (vread(PCI_COMMAND, 2) & ~mask) | (val & mask));
  }
  if (offset >= PCI_COMMAND && offset <= PCI_COMMAND + 1) {
    const uint16_t after = visible_command();
    if (after != before) {
      if (!ev.command) ev.old_cmd = before;
      ev.command = true;
      ev.new_cmd = after;
    }
  }
  if (is_bar(offset)) bardirty = true;
}

}  // namespace uvfio::pci
