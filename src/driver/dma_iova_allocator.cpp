#include "driver/dma_iova_allocator.h"

#include <algorithm>
#include <vector>

namespace uvfio::driver::detail {
namespace {

/// `v` rounded up to `align`; nullopt on overflow.
std::optional<uint64_t> align_up(uint64_t v, uint64_t align) {
  const uint64_t mask = align - 1;
  if (v > UINT64_MAX - mask) return std::nullopt;
  return (v + mask) & ~mask;
}

}  // namespace

std::optional<uint64_t> DmaIovaAllocator::find(std::span<const iommu::IovaRange> usable,
                                               uint64_t length, uint64_t align,
                                               uint64_t limit) const {
  if (length == 0 || align == 0 || (align & (align - 1)) != 0) return std::nullopt;
  std::vector<iommu::IovaRange> ranges(usable.begin(), usable.end());
  std::sort(ranges.begin(), ranges.end(),
            [](const auto& a, const auto& b) { return a.start < b.start; });
  for (const auto& r : ranges) {
    const uint64_t hi = std::min(r.last, limit);
    std::optional<uint64_t> cand = align_up(std::max<uint64_t>(r.start, 1), align);
    while (cand && *cand <= hi && hi - *cand >= length - 1) {
      const uint64_t last = *cand + length - 1;
      // The mapping starting at or before cand, and the first one after it.
      auto next = used_.upper_bound(*cand);
      if (next != used_.begin()) {
        auto prev = std::prev(next);
        if (prev->second > 0 && prev->first + (prev->second - 1) >= *cand) {
          cand = prev->first + (prev->second - 1) == UINT64_MAX
                     ? std::nullopt
                     : align_up(prev->first + prev->second, align);
          continue;
        }
      }
      if (next != used_.end() && next->first <= last) {
        cand = next->first + (next->second - 1) == UINT64_MAX
                   ? std::nullopt
                   : align_up(next->first + next->second, align);
        continue;
      }
      return cand;
    }
  }
  return std::nullopt;
}

}  // namespace uvfio::driver::detail
