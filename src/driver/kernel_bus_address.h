// Bus addresses for the kernel's no-IOMMU mode: the physical address of pinned, physically
// contiguous process memory, read from /proc/self/pagemap.
#pragma once

#include <string>

#include "driver/noiommu_dma.h"

namespace uvfio::driver::detail {

/// A BusAddressFn for a kernel no-IOMMU device: locks [va, va+length) in memory (mlock), reads
/// its page frames from `pagemap` (normally /proc/self/pagemap) and returns the physical address
/// of `va`. Throws driver::Error (op "DMA map", `target`) when the memory cannot be locked
/// (ENOMEM/EPERM: the locked-memory limit), when pagemap hides frame numbers (EPERM: it needs
/// CAP_SYS_ADMIN), when a page is not resident (EFAULT), or when the range is not physically
/// contiguous (EINVAL: a buffer of more than one page needs huge pages).
///
/// The lock is never undone here (no-IOMMU has no unmap to hook): it ends when the memory is
/// unmapped, as a DmaBuffer's is when its last user goes. mlock keeps pages resident; only
/// hugetlbfs pages are also safe from compaction moving them — another reason for huge pages.
BusAddressFn pagemap_bus_address(std::string pagemap, std::string target);

}  // namespace uvfio::driver::detail
