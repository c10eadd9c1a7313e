// Area: one IOVA range of an IOAS mapped onto Pages with device permissions (iopt_area).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

#include <sys/mman.h>

#include "iommu/pages.h"

namespace uvfio::iommu {

// Dirty bits, one per IOAS page: held inline for areas of up to 64 pages (most mappings, and
// every one-page mapping), in their own anonymous mapping beyond, so small maps cost one
// allocation less.
class DirtyBits {
 public:
  DirtyBits() = default;
  DirtyBits(const DirtyBits&) = delete;
  DirtyBits& operator=(const DirtyBits&) = delete;
  ~DirtyBits() {
    if (words_ != nullptr) ::munmap(words_, bytes_);
  }
  /// Sizes the bitmap for `pages` pages, all clean. False if memory ran out. Beyond 64 pages
  /// the bits live in an anonymous NORESERVE mapping: untouched pages of it cost nothing, so a
  /// huge window nobody writes to (a vfio-user client's fd-less map of terabytes) commits no
  /// memory for its bitmap, only for the words that actually get dirty bits.
  bool allocate(uint64_t pages) {
    if (pages <= 64) return true;
    const uint64_t bytes = (pages + 63) / 64 * sizeof(uint64_t);
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    words_ = static_cast<std::atomic<uint64_t>*>(p);
    bytes_ = bytes;
    return true;
  }
  /// Word `w` (bits for pages 64w..64w+63). Device threads set bits through a const Area.
  std::atomic<uint64_t>& operator[](uint64_t w) const { return words_ ? words_[w] : inline_; }
  /// Clears word `w`, writing only if it holds a bit (so clean words stay uncommitted).
  void clear_word(uint64_t w) const {
    auto& word = (*this)[w];
    if (word.load(std::memory_order_relaxed) != 0) word.store(0, std::memory_order_relaxed);
  }

 private:
  static_assert(sizeof(std::atomic<uint64_t>) == sizeof(uint64_t) &&
                std::atomic<uint64_t>::is_always_lock_free);
  mutable std::atomic<uint64_t> inline_{0};
  std::atomic<uint64_t>* words_ = nullptr;  // zero-filled anonymous memory: all bits clean
  uint64_t bytes_ = 0;
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
