// Ioas: mapping, copying and IOVA-range configuration. Unmap rules live in unmap_rules.cpp,
// dirty tracking in dirty_tracking.cpp.
#include "uvfio/iommu/ioas.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <new>
#include <tuple>

#include "uvfio/base/fault_injection.h"

#include "iommu/ioas_state.h"

namespace uvfio::iommu {
namespace {

bool valid_page_size(uint64_t ps) {
  return std::has_single_bit(ps) && ps >= 1024 && ps <= (uint64_t{1} << 30);
}

uint32_t perm_of(uint32_t flags) {
  return ((flags & kMapRead) ? kPermRead : 0) | ((flags & kMapWrite) ? kPermWrite : 0);
}

// One piece of memory to become one area: a slice of Pages.
struct Piece {
  std::shared_ptr<Pages> pages;
  uint64_t offset;  // within pages
  uint64_t length;
};

}  // namespace

Result<std::shared_ptr<Ioas>> Ioas::create(const IoasOptions& options) {
  if (!valid_page_size(options.page_size)) return Errno{EINVAL};
  try {
    return std::shared_ptr<Ioas>(new Ioas(options));
  } catch (const std::bad_alloc&) {
    return Errno{ENOMEM};
  }
}

Ioas::Ioas(const IoasOptions& options) : state_(std::make_unique<IoasState>(options)) {}

Ioas::~Ioas() {
  // Accesses hold a reference while attached, so no device can be reading any more.
  Retired retired;
  {
    std::unique_lock lk(state_->mu);
    while (!state_->areas.empty())
      state_->remove_area(state_->areas.begin()->second.get(), &retired);
  }
  retired.release();
}

uint64_t Ioas::page_size() const {
  return state_->page_size;
}
const std::shared_ptr<MemlockAccount>& Ioas::account() const {
  return state_->account;
}

// Where a mapping of `length` bytes goes: checks the IOVA (or chooses one) under the exclusive
// lock, in the kernel's order and before any memory is touched (the kernel checks placement
// before it pins): iopt_alloc_area_pages for iommufd, vfio_dma_do_map for type1.
static Result<uint64_t> place(const IoasState& s, uint64_t length, uint64_t iova, uint32_t flags,
                              Frontend fe, uint64_t addr_hint, size_t new_areas) {
  const uint64_t mask = s.page_size - 1;
  if (fe != Frontend::kIommufd) {
    if (s.first_area(iova, iova + length - 1)) return Errno{EEXIST};
    if (s.max_areas != 0 && s.areas.size() >= s.max_areas) return Errno{ENOSPC};
    if (s.reserved_intersects(iova, iova + length - 1)) return Errno{EINVAL};
    return iova;
  }
  if (length & mask) return Errno{EINVAL};
  if (flags & kMapFixedIova) {
    if (iova & mask) return Errno{EINVAL};
    if (iova + (length - 1) < iova) return Errno{EOVERFLOW};
    if (s.reserved_intersects(iova, iova + length - 1)) return Errno{EINVAL};
    if (s.first_area(iova, iova + length - 1)) return Errno{EEXIST};
  } else {
    auto chosen = s.choose_iova(length, addr_hint);
    if (!chosen) return Errno{chosen.error()};
    iova = *chosen;
  }
  // iommufd itself has no entry limit; uvfio's IOAS applies max_areas to every front end.
  if (s.max_areas != 0 && s.areas.size() + new_areas > s.max_areas) return Errno{ENOSPC};
  return iova;
}

// Inserts one area per piece from `iova` on (iopt_insert_area). Nothing stays inserted on error.
static Result<void> insert_pieces(IoasState& s, const std::vector<Piece>& pieces, uint64_t iova,
                                  uint32_t flags, Retired* retired) {
  const uint32_t perm = perm_of(flags);
  for (const Piece& p : pieces) {
    if ((perm & kPermWrite) && !p.pages->writable()) return Errno{EPERM};
    // Remote memory has no host address: its offset alone must be aligned.
    const uintptr_t host = p.pages->remote() != nullptr
                               ? p.offset
                               : reinterpret_cast<uintptr_t>(p.pages->base() + p.offset);
    if (host & (s.page_size - 1)) return Errno{EINVAL};
  }
  std::vector<Area*> added;
  for (const Piece& p : pieces) {
    auto a = s.insert_area(iova, p.length, perm, p.pages, p.offset, retired);
    if (!a) {
      for (Area* x : added) s.remove_area(x, retired);
      return Errno{a.error()};
    }
    added.push_back(*a);
    iova += p.length;
  }
  return {};
}

Result<uint64_t> Ioas::map(const MemorySource& src, uint64_t iova, uint32_t flags, Frontend fe) {
  IoasState& s = *state_;
  const uint64_t length = src.length();
  const uint64_t mask = s.page_size - 1;
  const uint64_t addr =
      src.is_file() || src.is_remote() ? src.offset() : reinterpret_cast<uintptr_t>(src.addr());
  if (fe == Frontend::kIommufd) {
    // iommufd_ioas_map, then iopt_alloc_pages.
    if (flags & ~kMapFlagsMask) return Errno{EOPNOTSUPP};
    if (iova == UINT64_MAX || length == UINT64_MAX) return Errno{EOVERFLOW};
    if (!(flags & (kMapRead | kMapWrite))) return Errno{EINVAL};
    if (length == 0) return Errno{EINVAL};
    if (addr + length < addr) return Errno{EOVERFLOW};
  } else {
    // vfio_iommu_type1_map_dma / vfio_dma_do_map: type1 always maps at the caller's IOVA.
    if (flags & ~kMapFlagsMask) return Errno{EINVAL};
    if (!(flags & kMapFixedIova)) return Errno{EINVAL};
    if (!(flags & (kMapRead | kMapWrite))) return Errno{EINVAL};
    if (length == 0 || ((length | iova | addr) & mask)) return Errno{EINVAL};
    if (iova + (length - 1) < iova || addr + (length - 1) < addr) return Errno{EINVAL};
  }

  Retired retired;
  Result<uint64_t> r = Errno{EINVAL};
  {
    std::unique_lock lk(s.mu);
    r = place(s, length, iova, flags, fe, src.is_file() || src.is_remote() ? 0 : addr, 1);
    if (!r) return r;
    // iopt_insert_area's page-offset rule, checked before the memory is pinned.
    if (addr & mask) return Errno{EINVAL};
    auto pages = Pages::create(src, flags & kMapWrite, s.account);
    if (!pages) return Errno{pages.error()};
    if (auto ins = insert_pieces(s, {{*pages, 0, length}}, *r, flags, &retired); !ins) {
      r = Errno{ins.error()};
    }
  }
  retired.release();
  return r;
}

Result<uint64_t> Ioas::copy_from(Ioas& src, uint64_t src_iova, uint64_t length, uint64_t dst_iova,
                                 uint32_t flags) {
  // iommufd_ioas_copy.
  if (flags & ~kMapFlagsMask) return Errno{EOPNOTSUPP};
  if (length == UINT64_MAX || src_iova == UINT64_MAX || dst_iova == UINT64_MAX) {
    return Errno{EOVERFLOW};
  }
  if (!(flags & (kMapRead | kMapWrite))) return Errno{EINVAL};

  // iopt_get_pages: the source range must be covered by contiguous areas.
  if (length == 0) return Errno{EINVAL};
  if (src_iova + (length - 1) < src_iova) return Errno{EOVERFLOW};
  std::vector<Piece> pieces;
  uint64_t hint = 0;
  {
    std::shared_lock lk(src.state_->mu);
    const uint64_t last = src_iova + (length - 1);
    uint64_t at = src_iova;
    for (;;) {
      Area* a = src.state_->area_at(at);
      if (a == nullptr) return Errno{ENOENT};
      uint64_t end = std::min(a->last, last);
      pieces.push_back({a->pages, a->pages_offset + (at - a->iova), end - at + 1});
      if (end == last) break;
      at = end + 1;
    }
    const Piece& f = pieces.front();
    hint =
        f.pages->remote() != nullptr ? 0 : reinterpret_cast<uintptr_t>(f.pages->base() + f.offset);
  }

  IoasState& s = *state_;
  Retired retired;
  Result<uint64_t> r = Errno{EINVAL};
  {
    std::unique_lock lk(s.mu);
    r = place(s, length, dst_iova, flags, Frontend::kIommufd, hint, pieces.size());
    if (r) {
      if (auto ins = insert_pieces(s, pieces, *r, flags, &retired); !ins) r = Errno{ins.error()};
    }
  }
  retired.release();
  return r;
}

Result<void> Ioas::split_at(uint64_t iova) {
  IoasState& s = *state_;
  Retired retired;
  {
    std::unique_lock lk(s.mu);
    Area* a = s.area_at(iova);
    if (a == nullptr || iova == a->last) return {};
    if ((iova + 1) & (s.page_size - 1)) return Errno{EINVAL};
    if (a->prevent_access.load(std::memory_order_acquire)) return Errno{EBUSY};
    if (a->pins.load(std::memory_order_acquire) != 0) return Errno{EINVAL};
    if (s.max_areas != 0 && s.areas.size() >= s.max_areas) return Errno{ENOSPC};
    if (fault::should_fail("ioas: split")) return Errno{ENOMEM};
    auto left = std::make_unique<Area>();
    auto right = std::make_unique<Area>();
    for (auto [piece, first, last] :
         {std::tuple{left.get(), a->iova, iova}, std::tuple{right.get(), iova + 1, a->last}}) {
      piece->iova = first;
      piece->last = last;
      piece->perm = a->perm;
      piece->pages = a->pages;
      piece->pages_offset = a->pages_offset + (first - a->iova);
      piece->page_shift = a->page_shift;
      if (!piece->dirty.allocate(piece->page_count())) return Errno{ENOMEM};
    }
    if (!s.table.prepare_split(iova)) return Errno{ENOMEM};
    // Past this point nothing can fail. Dirty bits first, then the switch-over.
    for (Area* piece : {left.get(), right.get()}) {
      for (uint64_t p = 0; p < piece->page_count(); ++p) {
        const uint64_t src = ((piece->iova - a->iova) >> a->page_shift) + p;
        if (a->dirty[src / 64].load(std::memory_order_relaxed) >> (src % 64) & 1) {
          piece->dirty[p / 64].fetch_or(uint64_t{1} << (p % 64), std::memory_order_relaxed);
        }
      }
    }
    s.table.replace(left->iova, left->last, left.get());
    s.table.replace(right->iova, right->last, right.get());
    auto it = s.areas.find(a->iova);
    retired.table = &s.table;
    retired.areas.push_back(std::move(it->second));
    it->second = std::move(left);
    s.areas.emplace(right->iova, std::move(right));
    s.gen.fetch_add(1, std::memory_order_release);  // caches may hold the old area
  }
  retired.release();
  return {};
}

std::vector<IovaRange> Ioas::iova_ranges() const {
  std::shared_lock lk(state_->mu);
  std::vector<IovaRange> out;
  uint64_t cursor = 0;
  bool done = false;
  for (const IovaRange& r : state_->reserved) {
    if (r.last < cursor) continue;
    if (r.start > cursor) out.push_back({cursor, r.start - 1});
    if (r.last == UINT64_MAX) {
      done = true;
      break;
    }
    cursor = std::max(cursor, r.last + 1);
  }
  if (!done) out.push_back({cursor, UINT64_MAX});
  return out;
}

Result<void> Ioas::set_allowed_iovas(std::span<const IovaRange> ranges) {
  // iommufd_ioas_allow_iovas + iopt_set_allow_iova.
  std::vector<IovaRange> sorted;
  for (const IovaRange& r : ranges) {
    if (r.start >= r.last) return Errno{EINVAL};
    for (const IovaRange& o : sorted) {
      if (o.intersects(r)) return Errno{EINVAL};
    }
    sorted.push_back(r);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const IovaRange& a, const IovaRange& b) { return a.start < b.start; });
  std::unique_lock lk(state_->mu);
  for (const IovaRange& r : sorted) {
    if (state_->reserved_intersects(r.start, r.last)) return Errno{EADDRINUSE};
  }
  state_->allowed = std::move(sorted);
  return {};
}

std::vector<IovaRange> Ioas::allowed_iovas() const {
  std::shared_lock lk(state_->mu);
  return state_->allowed;
}

Result<void> Ioas::add_reserved(IovaRange range) {
  // iopt_reserve_iova.
  if (range.start > range.last) return Errno{EINVAL};
  std::unique_lock lk(state_->mu);
  if (state_->first_area(range.start, range.last)) return Errno{EADDRINUSE};
  for (const IovaRange& a : state_->allowed) {
    if (a.intersects(range)) return Errno{EADDRINUSE};
  }
  auto& res = state_->reserved;
  res.insert(
      std::upper_bound(res.begin(), res.end(), range,
                       [](const IovaRange& a, const IovaRange& b) { return a.start < b.start; }),
      range);
  return {};
}

Result<void> Ioas::remove_reserved(IovaRange range) {
  std::unique_lock lk(state_->mu);
  auto& res = state_->reserved;
  auto it = std::find(res.begin(), res.end(), range);
  if (it == res.end()) return Errno{ENOENT};
  res.erase(it);
  return {};
}

std::vector<AreaInfo> Ioas::areas() const {
  std::shared_lock lk(state_->mu);
  std::vector<AreaInfo> out;
  out.reserve(state_->areas.size());
  for (const auto& [iova, a] : state_->areas) {
    out.push_back({a->iova, a->length(), a->perm, a->pins.load(std::memory_order_relaxed)});
  }
  return out;
}

size_t Ioas::area_count() const {
  std::shared_lock lk(state_->mu);
  return state_->areas.size();
}

uint32_t Ioas::areas_available() const {
  std::shared_lock lk(state_->mu);
  if (state_->max_areas == 0) return UINT32_MAX;
  size_t n = state_->areas.size();
  return n >= state_->max_areas ? 0 : static_cast<uint32_t>(state_->max_areas - n);
}

uint32_t Ioas::max_areas() const {
  std::shared_lock lk(state_->mu);
  return state_->max_areas;
}

void Ioas::set_max_areas(uint32_t max) {
  std::unique_lock lk(state_->mu);
  state_->max_areas = max;
}

}  // namespace uvfio::iommu
