// IovaRange: an inclusive range of IO virtual addresses, as iommufd expresses them.
#pragma once

#include <cstdint>

namespace uvfio::iommu {

/// [start, last], both inclusive, so the whole 64-bit space is expressible.
struct IovaRange {
  uint64_t start = 0;
  uint64_t last = 0;

  bool contains(uint64_t iova) const { return start <= iova && iova <= last; }
  bool intersects(const IovaRange& o) const { return start <= o.last && o.start <= last; }
  bool operator==(const IovaRange&) const = default;
};

}  // namespace uvfio::iommu
