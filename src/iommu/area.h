// Area: one IOVA range of an IOAS mapped onto Pages with device permissions (iopt_area).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

#include "iommu/pages.h"

namespace uvfio::iommu {

// Dirty bits, one per IOAS page: held inline for areas of up to 64 pages (most mappings, and
// every one-page mapping), on the heap beyond, so small maps cost one allocation less.
class DirtyBits {
 public:
  /// Sizes the bitmap for `pages` pages, all clean. False if memory ran out.
  bool allocate(uint64_t pages) {
    if (pages <= 64) return true;
    heap_.reset(new (std::nothrow) std::atomic<uint64_t>[(pages + 63) / 64]());
    return heap_ != nullptr;
  }
  /// Word `w` (bits for pages 64w..64w+63). Device threads set bits through a const Area.
  std::atomic<uint64_t>& operator[](uint64_t w) const { return heap_ ? heap_[w] : inline_; }

 private:
  mutable std::atomic<uint64_t> inline_{0};
  std::unique_ptr<std::atomic<uint64_t>[]> heap_;
};

struct Area {
  uint64_t iova;  // first IOVA
  uint64_t last;  // last IOVA (inclusive)
  uint32_t perm;  // kPermRead | kPermWrite
  std::shared_ptr<Pages> pages;
  uint64_t pages_offset;  // byte offset of `iova` within pages
  unsigned page_shift;    // the IOAS page size, for dirty bits

  // Pins held by accesses; changed under the IOAS lock in shared mode, read under it exclusive.
  std::atomic<uint32_t> pins{0};
  // Pins held for writing: those pages count as dirty for as long as they are pinned.
  std::atomic<uint32_t> write_pins{0};
  // Set by an unmap waiting for pins to go: no new pins on this area.
  std::atomic<bool> prevent_access{false};
  // One bit per IOAS page; written by device threads (fetch_or), read/cleared by read_dirty.
  DirtyBits dirty;

  uint64_t length() const { return last - iova + 1; }
  uint64_t page_count() const { return length() >> page_shift; }
  std::byte* host(uint64_t at) const { return pages->base() + pages_offset + (at - iova); }

  void mark_dirty(uint64_t first, uint64_t last_byte) const {
    uint64_t p = (first - iova) >> page_shift, e = (last_byte - iova) >> page_shift;
    for (; p <= e; ++p) {
      uint64_t bit = uint64_t{1} << (p & 63);
      auto& w = dirty[p >> 6];
      if (!(w.load(std::memory_order_relaxed) & bit)) w.fetch_or(bit, std::memory_order_relaxed);
    }
  }
};

}  // namespace uvfio::iommu
