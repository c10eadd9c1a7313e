// MsiIrqs: a function's MSI or MSI-X vectors as vfio-pci delivers them (the MSI half of
// vfio_pci_intrs.c): enabling an index, one eventfd per vector, and the device's messages honouring
// the MSI per-vector Mask / Pending bits in config space and the MSI-X table's Vector Control.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "pci/irq_trigger.h"

namespace uvfio::pci {

class ConfigSpace;
class MsixTable;

/// Thread-safety: the control methods (enable, set_block, disable, loopback) are serialised by the
/// caller (IrqController's igate). The device side (signal, deliver_msix, msi_mask_changed) may run
/// concurrently with them and with each other; each vector's eventfd lives in a TriggerSlot, so a
/// vector that was unassigned or disabled is never signalled after the control call returns.
class MsiIrqs {
 public:
  enum class Kind : uint8_t { kNone, kMsi, kMsix };

  /// `msi_vectors`: MSI Multiple Message Capable (0 without MSI), `msi_maskable`: MSI per-vector
  /// masking; `msix` null without MSI-X.
  MsiIrqs(ConfigSpace& config, MsixTable* msix, unsigned msi_vectors, bool msi_maskable,
          unsigned msix_vectors);
  ~MsiIrqs();
  MsiIrqs(const MsiIrqs&) = delete;
  MsiIrqs& operator=(const MsiIrqs&) = delete;

  Kind kind() const { return kind_.load(std::memory_order_acquire); }

  // --- control (caller holds igate) ---
  /// vfio_msi_enable: MSI with `nvec` vectors, or MSI-X. The caller checked no type is enabled.
  /// -ERANGE for nvec 0 (pci_alloc_irq_vectors with max < min), -EINVAL unless in D0.
  int enable(Kind kind, unsigned nvec);
  /// vfio_msi_set_block: assigns fds[i] (or -1 for all when fds is null) to vectors
  /// start..start+count-1. On a failure every vector from `start` up to the failed one is left
  /// unassigned, as the kernel's unwind does. 0 or -errno.
  int set_block(unsigned start, unsigned count, const int32_t* fds);
  /// vfio_msi_disable: unassigns every vector and disables MSI / MSI-X on the function.
  void disable();
  /// ACTION_TRIGGER with DATA_NONE (bools null) or DATA_BOOL: signals the assigned eventfds of
  /// the range directly (loopback, ignoring masks).
  void loopback(unsigned start, unsigned count, const uint8_t* bools);

  // --- device side, any thread ---
  /// The device sends message `vector` of the enabled type; dropped if none is enabled or Bus
  /// Master Enable is clear (a message is a memory write the function may not issue then).
  void signal(unsigned vector);
  /// MsixTable delivers an unmasked MSI-X vector.
  void deliver_msix(unsigned vector);
  /// MSI per-vector Mask Bits changed: send the pending vectors that are now unmasked.
  void msi_mask_changed();
  /// After a function reset: re-applies the enabled type to config space and the MSI-X Vector
  /// Control of the assigned vectors, as pci_restore_msi_state() does after a reset.
  void restore_state();

 private:
  int set_vector_signal(unsigned vector, int32_t fd);
  void msix_set_masked(unsigned vector, bool masked);
  void signal_msi(unsigned vector);

  ConfigSpace& config_;
  MsixTable* const msix_;
  const unsigned msi_vectors_;
  const bool msi_maskable_;  // without per-vector masking a message never waits
  const unsigned msix_vectors_;
  std::atomic<Kind> kind_{Kind::kNone};
  std::atomic<unsigned> nvec_{0};         // vectors usable by the enabled type
  std::unique_ptr<TriggerSlot[]> slots_;  // max(msi_vectors, msix_vectors)
  std::mutex msi_mask_mu_;  // orders a message's mask check against a mask change's re-check
};

}  // namespace uvfio::pci
