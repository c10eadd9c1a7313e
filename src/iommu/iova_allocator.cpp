// Choosing an IOVA for a mapping without FIXED_IOVA, as iommufd's iopt_alloc_iova does.
#include <algorithm>
#include <bit>

#include "iommu/ioas_state.h"
#include "uvfio/iommu/memlock_account.h"

namespace uvfio::iommu {
namespace {

// Largest alignment worth keeping: a huge page, as the kernel caps it since 6.12.
constexpr uint64_t kMaxAlignment = uint64_t{2} << 20;

// Fits [a, a+length) inside [start, last] at the alignment and page offset; false if not.
bool fit(uint64_t start, uint64_t last, uint64_t length, uint64_t align, uint64_t page_offset,
         uint64_t* out) {
  uint64_t a = (start + align - 1) & ~(align - 1);
  if (a < start) return false;  // wrapped
  a |= page_offset;
  if (a >= last || last - a < length - 1) return false;
  *out = a;
  return true;
}

}  // namespace

Result<uint64_t> IoasState::choose_iova(uint64_t length, uint64_t addr) const {
  const uint64_t host_page = MemlockAccount::host_page_size();
  const uint64_t page_offset = addr % host_page;
  if (length == 0 || length >= UINT64_MAX / 2) return Errno{EOVERFLOW};
  uint64_t align = std::bit_ceil(length);
  if (addr != 0) align = std::min(align, uint64_t{1} << std::countr_zero(addr));
  align = std::min(align, kMaxAlignment);
  if (align < page_size) return Errno{EINVAL};

  // The kernel never hands out the first or the last page of the address space.
  const IovaRange whole{host_page, UINT64_MAX - host_page};
  std::vector<IovaRange> spans;
  if (allowed.empty()) {
    spans.push_back(whole);
  } else {
    for (const IovaRange& r : allowed) {
      uint64_t s = std::max(r.start, whole.start), l = std::min(r.last, whole.last);
      if (s <= l) spans.push_back({s, l});
    }
  }

  for (const IovaRange& span : spans) {
    // Walk the holes between used ranges (reserved ranges and areas) inside the span.
    uint64_t cursor = span.start;
    auto area_it = areas.upper_bound(span.start);
    if (area_it != areas.begin()) --area_it;
    auto res_it = reserved.begin();
    for (;;) {
      // Next used range at or after the cursor: the lower of the next area and next reserved.
      while (area_it != areas.end() && area_it->second->last < cursor) ++area_it;
      while (res_it != reserved.end() && res_it->last < cursor) ++res_it;
      uint64_t used_start = span.last, used_last = span.last;
      bool used = false;
      if (area_it != areas.end() && area_it->first <= span.last) {
        used_start = area_it->first;
        used_last = area_it->second->last;
        used = true;
      }
      if (res_it != reserved.end() && res_it->start <= span.last &&
          (!used || res_it->start < used_start)) {
        used_start = res_it->start;
        used_last = res_it->last;
        used = true;
      }
      if (!used) {
        uint64_t iova;
        if (fit(cursor, span.last, length, align, page_offset, &iova)) return iova;
        break;
      }
      if (used_start > cursor) {
        uint64_t iova;
        if (fit(cursor, used_start - 1, length, align, page_offset, &iova)) return iova;
      }
      if (used_last >= span.last) break;
      cursor = std::max(cursor, used_last + 1);
    }
  }
  return Errno{ENOSPC};
}

}  // namespace uvfio::iommu
