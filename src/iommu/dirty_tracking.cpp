// Dirty tracking: devices' writes through accesses mark IOAS pages; control reads and clears.
#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "iommu/dirty_bits.h"
#include "iommu/ioas_state.h"

namespace uvfio::iommu {

void mark_sink(const DirtySink& sink, uint64_t sink_len, uint64_t first, uint64_t last) {
  const uint64_t sink_last = sink.base_iova + (sink_len - 1);
  if (last < sink.base_iova || first > sink_last) return;
  first = std::max(first, sink.base_iova);
  last = std::min(last, sink_last);
  const auto sh = static_cast<unsigned>(std::countr_zero(sink.page_size));
  for (uint64_t b = (first - sink.base_iova) >> sh, e = (last - sink.base_iova) >> sh; b <= e;
       ++b) {
    sink.bitmap[b / 64] |= uint64_t{1} << (b % 64);
  }
}

void report_dirty(Area& a, uint64_t first, uint64_t last, const DirtySink& sink, bool clear) {
  const uint64_t sink_len = sink.bitmap.size() * 64 * sink.page_size;
  uint64_t p = (first - a.iova) >> a.page_shift, e = (last - a.iova) >> a.page_shift;
  while (p <= e) {
    auto& word = a.dirty[p / 64];
    // Clean words are only read: clearing them would commit the bitmap's untouched pages.
    uint64_t bits = word.load(std::memory_order_relaxed);
    if (clear && bits != 0) bits = word.exchange(0, std::memory_order_relaxed);
    // Bits of this word outside [p, e] must survive a clear: put them back.
    const uint64_t w0 = p & ~uint64_t{63};
    uint64_t in_range = ~uint64_t{0};
    if (p > w0) in_range &= ~((uint64_t{1} << (p - w0)) - 1);
    if (e < w0 + 63) in_range &= (uint64_t{1} << (e - w0 + 1)) - 1;
    if (clear && (bits & ~in_range)) word.fetch_or(bits & ~in_range, std::memory_order_relaxed);
    bits &= in_range;
    while (bits) {
      const uint64_t page = w0 + static_cast<uint64_t>(std::countr_zero(bits));
      bits &= bits - 1;
      const uint64_t at = a.iova + (page << a.page_shift);
      mark_sink(sink, sink_len, at, at + ((uint64_t{1} << a.page_shift) - 1));
    }
    p = w0 + 64;
  }
}

void Ioas::set_dirty_tracking(bool enabled) {
  std::unique_lock lk(state_->mu);
  if (enabled && !state_->dirty_tracking.load(std::memory_order_relaxed)) {
    // Starting afresh: nothing is dirty yet (pages pinned for writing are reported anyway).
    for (auto& [iova, a] : state_->areas) {
      for (uint64_t w = 0, n = (a->page_count() + 63) / 64; w < n; ++w) {
        a->dirty.clear_word(w);
      }
    }
  }
  state_->dirty_tracking.store(enabled, std::memory_order_release);
}

bool Ioas::dirty_tracking() const {
  return state_->dirty_tracking.load(std::memory_order_acquire);
}

Result<void> Ioas::read_dirty(uint64_t iova, uint64_t length, uint64_t page_size,
                              std::span<uint64_t> bitmap, bool clear) {
  IoasState& s = *state_;
  if (!std::has_single_bit(page_size) || page_size < s.page_size) return Errno{EINVAL};
  if (length == 0 || ((iova | length) & (page_size - 1))) return Errno{EINVAL};
  if (iova + (length - 1) < iova) return Errno{EOVERFLOW};
  const uint64_t bits = length / page_size;
  if (bitmap.size() < (bits + 63) / 64) return Errno{EINVAL};
  if (!s.dirty_tracking.load(std::memory_order_acquire)) return Errno{EINVAL};
  std::fill(bitmap.begin(), bitmap.end(), 0);
  const DirtySink sink{iova, page_size, bitmap};
  const uint64_t last = iova + (length - 1);

  {
    std::shared_lock lk(s.mu);
    for (Area* a = s.first_area(iova, last); a != nullptr;) {
      report_dirty(*a, std::max(iova, a->iova), std::min(last, a->last), sink, clear);
      if (a->last >= last) break;
      a = s.first_area(a->last + 1, last);
    }
  }
  // Pages pinned for writing may be written at any time: always dirty. Lock order is
  // access -> IOAS, so collect the accesses first and lock each on its own.
  std::vector<std::shared_ptr<Access::Core>> live;
  {
    std::lock_guard alk(s.access_mu);
    for (auto& w : s.accesses) {
      if (auto core = w.lock()) live.push_back(std::move(core));
    }
  }
  for (auto& core : live) {
    std::lock_guard clk(core->mu);
    for (const auto& pin : core->pins) {
      if (pin.write) mark_sink(sink, length, pin.iova, pin.iova + (pin.length - 1));
    }
  }
  // The sink covers whole bitmap words; clip bits past `length`.
  if (bits % 64) bitmap[bits / 64] &= (uint64_t{1} << (bits % 64)) - 1;
  return {};
}

}  // namespace uvfio::iommu
