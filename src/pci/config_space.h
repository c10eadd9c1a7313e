// ConfigSpace: a PCI function's configuration space as vfio-pci presents it. Two layers, as in
// the kernel: the function's own ("physical") config registers with their hardware semantics
// (writable bits, write-1-to-clear bits, bits only the device sets), and vfio-pci's per-bit
// permission table over them (vfio_pci_config.c: virtualized bits live in vconfig, writable
// non-virtualized bits pass through to the function, the rest are read-only to the driver).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>

#include "uvfio/base/result.h"
#include "uvfio/pci/device_model.h"

namespace uvfio::pci {

/// Where the core learns that a driver's config write changed the function. Called with no
/// ConfigSpace lock held, after the write is visible.
struct ConfigEvents {
  /// Command register changed (INTx Disable, Bus Master, Memory/IO enable).
  std::function<void(uint16_t old_cmd, uint16_t new_cmd)> command_changed;
  /// PCIe Device Control "Initiate Function Level Reset" written as 1 (FLR-capable functions).
  std::function<void()> flr;
  /// PM: the power state field moved (0 = D0, 3 = D3hot). On D3hot -> D0 without PmSpec
  /// no_soft_reset the function has reset itself: ConfigSpace already restored the config state
  /// (as vfio-pci does with pm_save); the listener resets the device model.
  std::function<void(unsigned old_state, unsigned new_state)> power_state_changed;
  /// MSI per-vector Mask Bits changed (only with per-vector masking): re-check pending vectors.
  std::function<void()> msi_mask_changed;
  /// MSI-X Message Control Function Mask changed: re-check pending vectors. (uvfio lets the
  /// driver write the Function Mask; the kernel drops writes to the MSI-X capability.)
  std::function<void()> msix_function_mask_changed;
};

/// Thread-safe (one internal mutex); owned by the core's PciCore.
class ConfigSpace {
 public:
  /// Builds config space for a layout: header, BARs, capability list from 0x40, and for PCIe
  /// functions the 4 KiB extended space. EINVAL if the capabilities do not fit in 0x40..0xff or
  /// the layout is impossible (bad BAR sizes or slots, two capabilities of one kind, MSI vectors
  /// not a power of two up to 32, MSI-X table/PBA outside a memory BAR, interrupt pin > 4). The
  /// result is already enable()d, so it is usable before the first open.
  static Result<std::unique_ptr<ConfigSpace>> create(const DeviceLayout& layout);
  ~ConfigSpace();

  /// 256 for conventional PCI, 4096 for PCIe (the CONFIG region's size).
  size_t size() const;

  /// The CONFIG region's read/write (vfio_pci_config_rw): any length is split into naturally
  /// aligned 1/2/4-byte accesses; each goes through the permission table. Returns bytes done or
  /// -errno: -EFAULT when any byte lies past the end (as vfio_config_do_rw; nothing is done) or
  /// buf is null; 0 for count 0. Writes to read-only bits are ignored, BAR writes are
  /// virtualized (sizing probe answers the size mask), capability pointers and MSI/MSI-X control
  /// are virtualized as the kernel does. The offset is relative to the region (the core strips
  /// the region index).
  ssize_t read(void* buf, size_t count, uint64_t pos);
  ssize_t write(const void* buf, size_t count, uint64_t pos);

  void set_events(ConfigEvents events);

  // --- the function's state, for the core and the device model ---
  /// Command as the driver reads it: INTx Disable is vfio-pci's virtual bit, the rest (Memory,
  /// I/O, Bus Master) is the function's.
  uint16_t command() const;
  bool bus_master() const { return (command() & 0x4) != 0; }
  /// Memory Space as vfio-pci gates BAR access on it (__vfio_pci_memory_enabled): the driver's
  /// last written Memory bit, kept in vconfig; it differs from command() only after the
  /// function's own bit changed behind the driver (a D3hot -> D0 restore).
  bool memory_enabled() const;
  bool intx_disabled() const { return (command() & 0x400) != 0; }
  /// Status.Interrupt Status (bit 3): the function's INTx line level.
  void set_interrupt_status(bool asserted);
  unsigned power_state() const;  // 0 = D0, 3 = D3hot

  /// Offset of a standard capability in config space, if present (PCI_CAP_ID_*).
  std::optional<uint8_t> find_capability(uint8_t cap_id) const;

  // MSI (physical side; the driver enables it with SET_IRQS, not through config).
  /// Sets the function's MSI Enable and Multiple Message Enable (log2 of nvec, rounded up), as
  /// pci_alloc_irq_vectors does; remembers nvec as msi_qmax for the virtualized QSIZE field.
  void set_msi_enabled(bool enabled, unsigned nvec);
  bool msi_enabled() const;
  /// Per-vector Mask Bit of MSI vector `v` (false without per-vector masking).
  bool msi_vector_masked(unsigned v) const;
  /// Pending Bits register (per-vector masking only).
  void set_msi_pending(unsigned v, bool pending);
  bool msi_pending(unsigned v) const;

  // MSI-X
  void set_msix_enabled(bool enabled);
  bool msix_enabled() const;
  bool msix_function_masked() const;

  /// A first open (vfio_pci_core_enable + vfio_config_init): Bus Master off, Memory/IO decode
  /// on for the BAR kinds the function has (pci_enable_device), a function reset, MSI/MSI-X off,
  /// INTx Disable clear, and the driver's view (vconfig) rebuilt from the function: BARs read the
  /// host addresses again, Interrupt Line 0, MSI address/data 0. The core calls it on first open.
  void enable();
  /// The last close (vfio_pci_core_disable): back to D0, Bus Master off, and the function's
  /// state as enable() saved it. The core calls it after the IRQ side disabled interrupts.
  void disable();

  /// A function reset as vfio-pci does it for VFIO_DEVICE_RESET, FLR and bus resets
  /// (pci_try_reset_function): the function goes to D0, its state is saved, every register goes
  /// back to power-on and the saved state is written back. The driver's view is kept (vconfig
  /// is untouched, BARs, Command, Interrupt Line, MSI programming stay); lost is what a reset
  /// clears and nothing restores: Status/DevSta error bits, Interrupt Status, MSI Pending Bits,
  /// the MSI-X Function Mask. Fires no events (the caller is resetting).
  void reset();
  /// A copy of the config space as the driver reads it (for tests and `uvfio info`).
  std::vector<uint8_t> snapshot() const;

 private:
  ConfigSpace() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace uvfio::pci
