// Type1DmaTransport: a device's DMA space as a VFIO container with VFIO_TYPE1v2_IOMMU.
#pragma once

#include <mutex>
#include <string>

#include "driver/dma_iova_allocator.h"
#include "driver/system_fd.h"
#include "driver/transport.h"

namespace uvfio::driver::detail {

/// Owns the container and the group fd: the group stays in the container (and the mappings
/// with it) until the last DmaMapping and the device are gone. Thread-safe (one lock).
class Type1DmaTransport : public DmaTransport {
 public:
  Type1DmaTransport(SystemFd container, SystemFd group, std::string target);
  ~Type1DmaTransport() override;

  DmaKind kind() const override { return DmaKind::kType1; }
  bool translates() const override { return true; }
  std::vector<iommu::IovaRange> iova_ranges() const override;
  uint64_t page_sizes() const override;
  uint64_t map(const DmaRequest& req, std::optional<uint64_t> iova, uint64_t limit,
               uint64_t align) override;
  void unmap(uint64_t iova, uint64_t length) override;
  const std::string& target() const override { return target_; }

 private:
  struct Info {
    uint64_t pgsizes = 0;
    std::vector<iommu::IovaRange> ranges;
  };
  Info get_info() const;

  // Destroyed in reverse: the group leaves the container before the container closes.
  SystemFd container_;
  SystemFd group_;
  std::string target_;
  mutable std::mutex mu_;
  DmaIovaAllocator iovas_;
};

}  // namespace uvfio::driver::detail
