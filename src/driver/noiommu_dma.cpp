#include "driver/noiommu_dma.h"

#include <unistd.h>

#include <fmt/format.h>

#include "uvfio/driver/error.h"

namespace uvfio::driver::detail {

NoIommuDmaTransport::NoIommuDmaTransport(SystemFd container, SystemFd group,
                                         BusAddressFn bus_address, std::string target)
    : container_(std::move(container)),
      group_(std::move(group)),
      bus_address_(std::move(bus_address)),
      target_(std::move(target)) {}

uint64_t NoIommuDmaTransport::page_sizes() const {
  return static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

uint64_t NoIommuDmaTransport::map(const DmaRequest& req, std::optional<uint64_t> iova,
                                  uint64_t limit, uint64_t /*align*/) {
  // No-IOMMU: VFIO_IOMMU_MAP_DMA answers ENOTTY on such a container, so there is nothing to ask;
  // the device simply uses the memory's bus address.
  const uint64_t bus = bus_address_(req.va, req.length);
  if (bus >= static_cast<uint64_t>(-4095)) {
    throw Error("DMA map", target_, static_cast<int>(-static_cast<int64_t>(bus)),
                "no bus address for the memory (no-IOMMU)");
  }
  if (iova && *iova != bus) {
    throw Error("DMA map", target_, EINVAL,
                fmt::format("no-IOMMU: the bus address is fixed at {:#x}, {:#x} was asked for", bus,
                            *iova));
  }
  if (req.length - 1 > UINT64_MAX - bus || bus + (req.length - 1) > limit) {
    throw Error("DMA map", target_, ERANGE,
                fmt::format("no-IOMMU: bus addresses {:#x}..{:#x} exceed the DMA limit {:#x}", bus,
                            bus + (req.length - 1), limit));
  }
  return bus;
}

}  // namespace uvfio::driver::detail
