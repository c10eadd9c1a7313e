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
  /// PM: the power state field moved (0 = D0, 3 = D3hot).
  std::function<void(unsigned old_state, unsigned new_state)> power_state_changed;
  /// MSI per-vector Mask Bits changed (only with per-vector masking): re-check pending vectors.
  std::function<void()> msi_mask_changed;
  /// MSI-X Message Control Function Mask changed: re-check pending vectors.
  std::function<void()> msix_function_mask_changed;
};

/// Thread-safe (one internal mutex); owned by the core's PciCore.
class ConfigSpace {
 public:
  /// Builds config space for a validated layout: header, BARs, capability list from 0x40, and
  /// for PCIe functions the 4 KiB extended space. EINVAL if the capabilities do not fit.
  static Result<std::unique_ptr<ConfigSpace>> create(const DeviceLayout& layout);
  ~ConfigSpace();

  /// 256 for conventional PCI, 4096 for PCIe (the CONFIG region's size).
  size_t size() const;

  /// The CONFIG region's read/write (vfio_pci_config_rw): any length is split into naturally
  /// aligned 1/2/4-byte accesses; each goes through the permission table. Returns bytes done or
  /// -errno (-EINVAL past the end). Writes to read-only bits are ignored, W1C bits clear on 1,
  /// BAR writes are virtualized (sizing probe answers the size mask), capability pointers and
  /// MSI/MSI-X control are virtualized as the kernel does.
  ssize_t read(void* buf, size_t count, uint64_t pos);
  ssize_t write(const void* buf, size_t count, uint64_t pos);

  void set_events(ConfigEvents events);

  // --- the function's state, for the core and the device model ---
  uint16_t command() const;  // the function's Command register
  bool bus_master() const { return (command() & 0x4) != 0; }
  bool memory_enabled() const { return (command() & 0x2) != 0; }
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

  /// Back to the power-on state (both layers), as a function reset does.
  void reset();
  /// A copy of the config space as the driver reads it (for tests and `uvfio info`).
  std::vector<uint8_t> snapshot() const;

 private:
  ConfigSpace() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace uvfio::pci
