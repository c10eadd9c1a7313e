// Unmap: which areas an unmap request removes, per front end, with the kernel's errno.
//
//  iommufd (iopt_unmap_iova_range, 6.12.y): areas are removed lowest first, one at a time; an
//    area not wholly inside the range stops the walk with ENOENT (areas already removed stay
//    removed); nothing removed is ENOENT, except for unmap-all which succeeds on an empty IOAS.
//    No alignment rule of its own: only area boundaries matter.
//  type1 v2 (vfio_dma_do_unmap): the range may not split a mapping (EINVAL, checked up front);
//    every mapping inside is removed; an empty range succeeds with 0 bytes.
//  type1 v1: every mapping whose first IOVA lies in the range is removed whole, even past the
//    range's end; a mapping that begins below the range stops the walk (success, 0 bytes).
//
// Pinned areas: the accesses are asked (synchronously, without the IOAS lock) to unpin, then
// the walk restarts; after 100 fruitless tries on one area the unmap fails with EDEADLK.
#include <cerrno>

#include "iommu/dirty_bits.h"
#include "iommu/ioas_state.h"
#include "uvfio/iommu/ioas.h"

namespace uvfio::iommu {
namespace {

constexpr int kMaxUnpinTries = 100;

// Shared walk for every front end. [first, last] is the request; `all` is unmap-all.
Result<uint64_t> unmap_walk(IoasState& s, uint64_t first, uint64_t last, Frontend fe,
                            const DirtySink* dirty) {
  uint64_t unmapped = 0;
  int tries = 0;
  uint64_t start = first;
  Retired retired;
  int rc = 0;
  {
    std::unique_lock lk(s.mu);
    if (fe == Frontend::kType1v2) {
      if (Area* a = s.area_at(first); a && a->iova != first) return Errno{EINVAL};
      if (Area* a = s.area_at(last); a && a->last != last) return Errno{EINVAL};
    }
    for (;;) {
      Area* a = s.first_area(start, last);
      if (a == nullptr) break;
      if (fe == Frontend::kIommufd && (a->iova < first || a->last > last)) {
        rc = ENOENT;
        break;
      }
      if (fe == Frontend::kType1v1 && a->iova < first) break;
      if (a->iova != start) tries = 0;
      if (a->pins.load(std::memory_order_acquire) != 0) {
        start = a->iova;
        const uint64_t a_iova = a->iova, a_len = a->length();
        a->prevent_access.store(true, std::memory_order_release);
        if (++tries > kMaxUnpinTries) {
          a->prevent_access.store(false, std::memory_order_release);
          rc = EDEADLK;
          break;
        }
        lk.unlock();
        s.notify_unmap(a_iova, a_len);
        lk.lock();
        continue;  // the area may be gone or changed: look again
      }
      if (dirty != nullptr) report_dirty(*a, a->iova, a->last, *dirty, /*clear=*/true);
      unmapped += a->length();
      const uint64_t a_last = a->last;
      s.remove_area(a, &retired);
      if (a_last >= last) break;
      start = a_last + 1;
    }
  }
  retired.release();  // the unmap completes only once no device can still reach the memory
  if (rc != 0) return Errno{rc};
  if (fe == Frontend::kIommufd && unmapped == 0) return Errno{ENOENT};
  return unmapped;
}

}  // namespace

Result<uint64_t> Ioas::unmap(uint64_t iova, uint64_t length, Frontend fe, const DirtySink* dirty) {
  if (fe == Frontend::kIommufd) {
    // iommufd_ioas_unmap: (0, U64_MAX) is unmap-all.
    if (iova == 0 && length == UINT64_MAX) return unmap_all(fe);
    if (iova == UINT64_MAX || length == UINT64_MAX) return Errno{EOVERFLOW};
    if (length == 0) return Errno{EINVAL};
    if (iova + (length - 1) < iova) return Errno{EOVERFLOW};
  } else {
    const uint64_t mask = state_->page_size - 1;
    if ((iova & mask) || length == 0 || (length & mask)) return Errno{EINVAL};
    if (iova + (length - 1) < iova) return Errno{EINVAL};
  }
  return unmap_walk(*state_, iova, iova + (length - 1), fe, dirty);
}

Result<uint64_t> Ioas::unmap_all(Frontend fe) {
  // Both iopt_unmap_all and type1's UNMAP_ALL take everything and succeed when empty. The
  // range rules do not apply (every area lies inside), so any front end's walk will do.
  auto r = unmap_walk(*state_, 0, UINT64_MAX, fe == Frontend::kIommufd ? Frontend::kType1v2 : fe,
                      nullptr);
  return r;
}

}  // namespace uvfio::iommu
