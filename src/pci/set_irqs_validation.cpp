#include "pci/set_irqs_validation.h"

#include <cerrno>
#include <limits>

namespace uvfio::pci {

int validate_set_irqs(const vfio_irq_set& hdr, uint32_t num_irqs, uint32_t max_irq_type,
                      size_t* data_size) {
  constexpr uint32_t kKnownFlags = VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK;
  // The kernel's overflow test: start + count must stay below U32_MAX, so it cannot wrap below.
  if (hdr.argsz < kIrqSetMinsz || hdr.index >= max_irq_type ||
      hdr.count >= std::numeric_limits<uint32_t>::max() - hdr.start ||
      (hdr.flags & ~kKnownFlags) != 0) {
    return -EINVAL;
  }
  if (data_size != nullptr) *data_size = 0;

  if (hdr.start >= num_irqs || hdr.start + hdr.count > num_irqs) return -EINVAL;

  size_t size = 0;
  switch (hdr.flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
    case VFIO_IRQ_SET_DATA_NONE:
      size = 0;
      break;
    case VFIO_IRQ_SET_DATA_BOOL:
      size = sizeof(uint8_t);
      break;
    case VFIO_IRQ_SET_DATA_EVENTFD:
      size = sizeof(int32_t);
      break;
    default:  // none or several data types
      return -EINVAL;
  }

  if (size != 0) {
    // 64-bit arithmetic: count * 4 cannot wrap.
    if (size_t{hdr.argsz} - kIrqSetMinsz < size_t{hdr.count} * size) return -EINVAL;
    if (data_size == nullptr) return -EINVAL;
    *data_size = size_t{hdr.count} * size;
  }
  return 0;
}

}  // namespace uvfio::pci
