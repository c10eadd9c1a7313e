// The VFIO core's generic SET_IRQS header check (vfio_set_irqs_validate_and_prepare in the
// kernel's vfio_main.c), which vfio-pci runs before its per-index dispatch.
#pragma once

#include <linux/vfio.h>

#include <cstddef>
#include <cstdint>

namespace uvfio::pci {

/// Bytes of vfio_irq_set up to and including `count`: the header SET_IRQS always reads.
inline constexpr size_t kIrqSetMinsz = offsetof(vfio_irq_set, count) + sizeof(uint32_t);

/// Checks a SET_IRQS header against the index's vector count `num_irqs` and the number of indexes
/// `max_irq_type`. Returns 0 or -EINVAL, and in `*data_size` the bytes of data that follow the
/// header (0 for DATA_NONE). As in the kernel:
///  - argsz below the header, index >= max_irq_type, start + count reaching U32_MAX, or flags
///    outside the data and action masks: EINVAL;
///  - start >= num_irqs (so any request on an index with no vectors) or start + count past it;
///  - exactly one data type (NONE, BOOL or EVENTFD), else EINVAL;
///  - argsz must cover count elements of BOOL (u8) / EVENTFD (s32) data.
/// Zero or several action bits pass here: the per-index dispatch answers those with ENOTTY.
int validate_set_irqs(const vfio_irq_set& hdr, uint32_t num_irqs, uint32_t max_irq_type,
                      size_t* data_size);

}  // namespace uvfio::pci
