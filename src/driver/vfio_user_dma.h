// VfioUserDmaTransport: a vfio-user device's DMA space. The client is the IOMMU: it allocates
// the IOVAs itself and tells the server with DMA_MAP / DMA_UNMAP. A buffer with an fd (a
// DmaBuffer's memfd) is passed with it, so the server maps the same pages and device DMA goes
// through shared memory; memory without an fd (DmaSpace::map_memory) becomes an fd-less map
// whose DMA travels as DMA_READ / DMA_WRITE messages, served by the connection.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "driver/dma_iova_allocator.h"
#include "driver/transport.h"
#include "driver/vfio_user_connection.h"

namespace uvfio::driver::detail {

/// Thread-safe (one lock around the IOVA bookkeeping and its messages).
class VfioUserDmaTransport : public DmaTransport {
 public:
  explicit VfioUserDmaTransport(std::shared_ptr<VfioUserConnection> conn);
  ~VfioUserDmaTransport() override;

  DmaKind kind() const override { return DmaKind::kVfioUser; }
  bool translates() const override { return true; }
  /// The whole 64-bit space: vfio-user states no IOVA ranges (IOVA 0 is still never allocated).
  std::vector<iommu::IovaRange> iova_ranges() const override;
  /// The server's pgsizes, without sizes below the CPU page (the server mmaps our fds).
  uint64_t page_sizes() const override;
  /// DMA_MAP at `iova` or an allocated IOVA. ENOSPC (the server's max_dma_maps reached, or no
  /// room below `limit`); the server's errno otherwise (EEXIST for an overlap).
  uint64_t map(const DmaRequest& req, std::optional<uint64_t> iova, uint64_t limit,
               uint64_t align) override;
  /// DMA_UNMAP of exactly one earlier map. With the connection gone the server has dropped
  /// every map already, so the unmap completes locally.
  void unmap(uint64_t iova, uint64_t length) override;
  const std::string& target() const override { return conn_->target(); }

 private:
  std::shared_ptr<VfioUserConnection> conn_;
  std::mutex mu_;
  DmaIovaAllocator iovas_;
  std::set<uint64_t> fdless_;  // IOVAs of the maps served by messages
};

}  // namespace uvfio::driver::detail
