// DmaIovaAllocator: the driver side's record of its DMA mappings and first-fit IOVA allocation
// over the usable ranges (type1 has no kernel allocator; iommufd's cannot respect a DMA mask).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>

#include "uvfio/iommu/iova_range.h"

namespace uvfio::driver::detail {

/// Not thread-safe: its owner (a DmaTransport) locks.
class DmaIovaAllocator {
 public:
  /// The lowest IOVA, aligned to `align` (a power of two), such that [iova, iova+length) lies in
  /// one of `usable`, ends at or below `limit` (inclusive) and overlaps no recorded mapping.
  /// IOVA 0 is never returned (a null bus address looks like a bug in every driver). nullopt if
  /// nothing fits.
  std::optional<uint64_t> find(std::span<const iommu::IovaRange> usable, uint64_t length,
                               uint64_t align, uint64_t limit) const;
  /// Records a mapping (made at an allocated, fixed or kernel-chosen IOVA).
  void insert(uint64_t iova, uint64_t length) { used_[iova] = length; }
  void erase(uint64_t iova) { used_.erase(iova); }
  size_t size() const { return used_.size(); }

 private:
  std::map<uint64_t, uint64_t> used_;  // iova -> length
};

}  // namespace uvfio::driver::detail
