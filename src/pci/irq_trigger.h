// TriggerSlot: where one interrupt's eventfd lives (an INTx or MSI/MSI-X vector's trigger, or the
// ERR / REQ context), and the ERR/REQ rules for setting it (vfio_pci_set_ctx_trigger_single).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>

#include "pci/eventfd_ref.h"

namespace uvfio::pci {

/// Thread-safe. One leaf mutex is held across the eventfd write, so once replace() or reset()
/// returns no thread is still signalling the old eventfd (the kernel gets the same guarantee from
/// synchronize_irq / free_irq before it puts the eventfd context). Never call other locks' owners
/// while holding it: it is the innermost lock of the vfio-pci interrupt code.
class TriggerSlot {
 public:
  /// Signals the eventfd if one is set; false when the slot is empty.
  bool signal();
  /// Installs `trigger` (or empties the slot) and returns the previous one.
  std::optional<EventfdRef> replace(std::optional<EventfdRef> trigger);
  /// Empties the slot; the old eventfd is released before returning.
  void reset() { replace(std::nullopt); }
  bool armed() const;

 private:
  mutable std::mutex mu_;
  std::optional<EventfdRef> trigger_;
};

/// SET_IRQS ACTION_TRIGGER for the single-eventfd indexes ERR and REQ, with the kernel's quirks:
/// DATA_NONE signals (count 1) or releases (count 0) an existing eventfd and is EINVAL when none
/// is set; DATA_BOOL and DATA_EVENTFD need count 1; fd -1 releases, fd >= 0 installs (EBADF /
/// EINVAL as eventfd_ctx_fdget), any other negative fd is ignored. `data` holds count elements.
/// Returns 0 or -errno.
int set_ctx_trigger_single(TriggerSlot& slot, uint32_t count, uint32_t flags, const uint8_t* data);

}  // namespace uvfio::pci
