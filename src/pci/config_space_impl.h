// ConfigSpace's internals, shared by the files that implement its parts: the access path and state
// (config_space.cpp), the standard header (config_header.cpp), BARs (bar_emulation.cpp) and one
// file per capability (pm_, msi_, msix_, express_capability.cpp).
#pragma once

#include <linux/pci_regs.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "pci/config_function.h"
#include "pci/config_permissions.h"
#include "pci/config_space.h"

namespace uvfio::pci {

/// Guarded by `mu`; ConfigSpace's public methods take it, everything here assumes it is held.
struct ConfigSpace::Impl {
  explicit Impl(size_t size) : phys(size), perms(size), vconfig(size) {}

  /// Events an access caused, fired by ConfigSpace after `mu` is released.
  struct Pending {
    bool command = false;
    uint16_t old_cmd = 0;
    uint16_t new_cmd = 0;
    bool flr = false;
    bool power = false;
    unsigned old_state = 0;
    unsigned new_state = 0;
    bool msi_mask = false;
    bool msix_function_mask = false;
  };

  mutable std::mutex mu;
  ConfigFunction phys;      // the function's own registers
  ConfigPermissions perms;  // vfio-pci's per-bit table
  std::vector<uint8_t> vconfig;
  ConfigEvents events;

  // --- the layout, fixed at create() ---
  bool express = false;
  uint8_t interrupt_pin = 0;
  std::array<BarSpec, 6> bars{};
  std::array<uint64_t, 6> bar_addr{};  // where the "host" placed each BAR (0: unimplemented)
  uint32_t rom_size = 0;
  uint32_t rom_addr = 0;
  std::optional<uint8_t> pm_pos, msi_pos, msix_pos, exp_pos;
  PmSpec pm{};
  MsiSpec msi{};
  MsixSpec msix{};
  ExpressSpec exp{};

  // --- vfio-pci's state ---
  bool bardirty = true;         // vfio_bar_fixup pending
  unsigned msi_qmax = 0;        // log2 of the vectors SET_IRQS enabled (kept, as the kernel does)
  bool msi_irq_active = false;  // irq_type == MSI: SET_IRQS enabled MSI
  std::vector<uint8_t> open_state;  // pci_saved_state taken by enable(), restored by disable()
  std::vector<uint8_t> pm_save;  // vdev->pm_save: state kept across D3hot for NoSoftRst- functions

  // --- access path (config_space.cpp) ---
  uint32_t do_read(size_t pos, unsigned count);
  void do_write(size_t pos, unsigned count, uint32_t val, Pending& ev);
  uint32_t default_read(size_t pos, unsigned count) const;
  void default_write(size_t pos, unsigned count, uint32_t val);
  /// vfio_direct_config_read: the function's value, capability ID and next pointer from vconfig.
  uint32_t direct_read(size_t pos, unsigned count, size_t offset) const;
  uint32_t vread(size_t pos, unsigned count) const;
  void vwrite(size_t pos, unsigned count, uint32_t val);
  /// vfio_config_init: vconfig from the function, plus the kernel's fix-ups.
  void config_init();
  /// pci_try_reset_function as the function sees it: to D0, save, reset, restore.
  void function_reset();

  // --- standard header (config_header.cpp) ---
  void init_header(const DeviceLayout& layout, uint8_t first_cap);
  void init_header_perms();
  uint32_t basic_read(size_t pos, unsigned count);
  void basic_write(size_t pos, unsigned count, uint32_t val, Pending& ev);
  /// Command as the driver reads it: INTx Disable from vconfig, the rest from the function.
  uint16_t visible_command() const;

  // --- BARs (bar_emulation.cpp) ---
  /// Places the BARs and the ROM as firmware would; EINVAL when a window cannot hold them.
  int assign_bars(const DeviceLayout& layout);
  void init_bars();
  void bar_fixup();

  // --- capabilities (one file each) ---
  /// A capability's ID and next pointer in the function (both read-only).
  void define_cap_header(size_t pos, uint8_t id, uint8_t next) {
    phys.define(pos + PCI_CAP_LIST_ID, 1, id);
    phys.define(pos + PCI_CAP_LIST_NEXT, 1, next);
  }
  /// Claims a capability's `length` bytes in the permission table for `id`, its next pointer
  /// virtualized (the kernel's chain as vconfig holds it).
  void claim_cap(size_t pos, size_t length, uint8_t id) {
    perms.claim(pos, length, id);
    perms.set8(pos + PCI_CAP_LIST_NEXT, 0xff, 0);
  }

  static size_t pm_length();
  void init_pm(size_t pos, uint8_t next, const PmSpec& spec);
  void pm_write(size_t pos, unsigned count, uint32_t val, size_t offset, Pending& ev);
  unsigned power_state() const;
  void set_power_state(unsigned state, Pending* ev);

  static size_t msi_length(const MsiSpec& spec);
  void init_msi(size_t pos, uint8_t next, const MsiSpec& spec);
  void msi_write(size_t pos, unsigned count, uint32_t val, size_t offset, Pending& ev);
  size_t msi_mask_pos() const;     // absolute offset of Mask Bits (per-vector masking only)
  size_t msi_pending_pos() const;  // absolute offset of Pending Bits

  static size_t msix_length();
  void init_msix(size_t pos, uint8_t next, const MsixSpec& spec);
  void msix_write(size_t pos, unsigned count, uint32_t val, Pending& ev);

  static size_t exp_length(const ExpressSpec& spec);
  void init_exp(size_t pos, uint8_t next, const ExpressSpec& spec);
  void exp_write(size_t pos, unsigned count, uint32_t val, size_t offset, Pending& ev);
};

}  // namespace uvfio::pci
