// Dirty bits: moving an area's per-page dirty bits into a caller's bitmap.
#pragma once

#include <cstdint>

#include "iommu/area.h"
#include "uvfio/iommu/ioas.h"

namespace uvfio::iommu {

/// ORs the dirty pages of `a` within [first, last] (inside the area) into `sink`, clearing them
/// in the area if `clear`.
void report_dirty(Area& a, uint64_t first, uint64_t last, const DirtySink& sink, bool clear);

/// Sets the sink bits covering [first, last] (clipped to the sink's range).
void mark_sink(const DirtySink& sink, uint64_t sink_len, uint64_t first, uint64_t last);

}  // namespace uvfio::iommu
