// IommufdDmaTransport: a device's DMA space as an IOAS in an iommufd, the device attached to it.
#pragma once

#include <mutex>
#include <string>

#include "driver/dma_iova_allocator.h"
#include "driver/system_fd.h"
#include "driver/transport.h"

namespace uvfio::driver::detail {

/// Owns the iommufd (and with it the IOAS). Thread-safe (one lock for map/unmap).
class IommufdDmaTransport : public DmaTransport {
 public:
  IommufdDmaTransport(SystemFd iommufd, uint32_t ioas_id, std::string target);

  DmaKind kind() const override { return DmaKind::kIommufd; }
  bool translates() const override { return true; }
  std::vector<iommu::IovaRange> iova_ranges() const override;
  uint64_t page_sizes() const override;
  uint64_t map(const DmaRequest& req, std::optional<uint64_t> iova, uint64_t limit,
               uint64_t align) override;
  void unmap(uint64_t iova, uint64_t length) override;
  const std::string& target() const override { return target_; }

  uint32_t ioas_id() const { return ioas_id_; }

 private:
  struct Ranges {
    std::vector<iommu::IovaRange> ranges;
    uint64_t alignment = 0;
  };
  Ranges query() const;

  SystemFd iommufd_;
  uint32_t ioas_id_;
  std::string target_;
  mutable std::mutex mu_;
  DmaIovaAllocator iovas_;
};

}  // namespace uvfio::driver::detail
