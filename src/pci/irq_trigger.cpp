#include "pci/irq_trigger.h"

#include <linux/vfio.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace uvfio::pci {

bool TriggerSlot::signal() {
  std::lock_guard lk(mu_);
  if (!trigger_) return false;
  // A dropped signal (saturated counter) still counts as delivered: the eventfd is already
  // readable.
  (void)trigger_->signal();
  return true;
}

std::optional<EventfdRef> TriggerSlot::replace(std::optional<EventfdRef> trigger) {
  std::lock_guard lk(mu_);
  std::swap(trigger_, trigger);
  return trigger;
}

bool TriggerSlot::armed() const {
  std::lock_guard lk(mu_);
  return trigger_.has_value();
}

int set_ctx_trigger_single(TriggerSlot& slot, uint32_t count, uint32_t flags, const uint8_t* data) {
  if ((flags & VFIO_IRQ_SET_DATA_NONE) != 0) {
    // Loopback (count 1) or release (count 0) of an existing trigger. Kernel quirk: without a
    // trigger this falls through to the final EINVAL, whatever the count.
    if (slot.armed()) {
      if (count != 0) {
        slot.signal();
      } else {
        slot.reset();
      }
      return 0;
    }
  } else if ((flags & VFIO_IRQ_SET_DATA_BOOL) != 0) {
    if (count == 0) return -EINVAL;
    if (data[0] != 0) slot.signal();
    return 0;
  } else if ((flags & VFIO_IRQ_SET_DATA_EVENTFD) != 0) {
    if (count == 0) return -EINVAL;
    int32_t fd = 0;
    std::memcpy(&fd, data, sizeof fd);
    if (fd == -1) {
      slot.reset();
    } else if (fd >= 0) {
      auto ref = EventfdRef::get(fd);
      if (!ref) return -ref.error();
      slot.replace(std::move(*ref));
    }
    // Kernel quirk: fd < -1 is accepted and changes nothing.
    return 0;
  }
  return -EINVAL;
}

}  // namespace uvfio::pci
