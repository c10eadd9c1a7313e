#include "iommu/ioas_state.h"

#include "base/grace_period.h"
#include "uvfio/base/fault_injection.h"

namespace uvfio::iommu {
namespace {

std::atomic<uint64_t> g_next_ioas_id{1};

unsigned log2_exact(uint64_t v) {
  return static_cast<unsigned>(__builtin_ctzll(v));
}

}  // namespace

void Retired::release() {
  if (empty()) return;
  synchronize_readers();
  if (table != nullptr) table->free_retired(&tables);
  areas.clear();  // drops Pages: munmap and uncharge happen here, after every reader left
}

IoasState::IoasState(const IoasOptions& o)
    : id(g_next_ioas_id.fetch_add(1)),
      page_size(o.page_size),
      page_shift(log2_exact(o.page_size)),
      account(o.account ? o.account : MemlockAccount::process_default()),
      table(log2_exact(o.page_size)),
      max_areas(o.max_areas) {}

Area* IoasState::first_area(uint64_t first, uint64_t last) const {
  auto it = areas.upper_bound(first);
  if (it != areas.begin()) {
    auto prev = std::prev(it);
    if (prev->second->last >= first) return prev->second.get();
  }
  if (it != areas.end() && it->first <= last) return it->second.get();
  return nullptr;
}

Area* IoasState::area_at(uint64_t iova) const {
  return first_area(iova, iova);
}

bool IoasState::reserved_intersects(uint64_t first, uint64_t last) const {
  for (const IovaRange& r : reserved) {
    if (r.start > last) break;
    if (r.last >= first) return true;
  }
  return false;
}

Result<Area*> IoasState::insert_area(uint64_t iova, uint64_t length, uint32_t perm,
                                     std::shared_ptr<Pages> pages, uint64_t pages_offset,
                                     Retired* retired) {
  if (fault::should_fail("ioas: area")) return Errno{ENOMEM};
  auto a = std::make_unique<Area>();
  a->iova = iova;
  a->last = iova + length - 1;
  a->perm = perm;
  a->pages = std::move(pages);
  a->pages_offset = pages_offset;
  a->page_shift = page_shift;
  if (fault::should_fail("ioas: dirty bitmap") || !a->dirty.allocate(length >> page_shift)) {
    return Errno{ENOMEM};
  }
  if (!table.prepare(a->iova, a->last)) return Errno{ENOMEM};
  Area* raw = a.get();
  retired->table = &table;
  table.insert(raw->iova, raw->last, raw, &retired->tables);
  areas.emplace(iova, std::move(a));
  return raw;
}

void IoasState::remove_area(Area* a, Retired* retired) {
  retired->table = &table;
  table.erase(a->iova, a->last, &retired->tables);
  auto it = areas.find(a->iova);
  retired->areas.push_back(std::move(it->second));
  areas.erase(it);
  // Invalidate every thread's last-area cache before the grace period starts.
  gen.fetch_add(1, std::memory_order_release);
}

void IoasState::notify_unmap(uint64_t iova, uint64_t length) {
  std::vector<std::shared_ptr<Access::Core>> live;
  {
    std::lock_guard lk(access_mu);
    for (auto& w : accesses) {
      if (auto c = w.lock()) live.push_back(std::move(c));
    }
  }
  for (auto& c : live) access_notify_unmap(*c, iova, length);
}

}  // namespace uvfio::iommu
