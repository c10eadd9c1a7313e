// IoasState: the internals of an Ioas shared by its map/unmap paths, accesses and dirty tracking.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "iommu/access_core.h"
#include "iommu/area.h"
#include "iommu/io_page_table.h"
#include "uvfio/iommu/access.h"
#include "uvfio/iommu/ioas.h"

namespace uvfio::iommu {

/// Objects unlinked under the lock, freed after a grace period once the lock is dropped.
struct Retired {
  IoPageTable* table = nullptr;  // where retired tables go back to
  std::vector<std::unique_ptr<Area>> areas;
  std::vector<void*> tables;
  bool empty() const { return areas.empty() && tables.empty(); }
  ~Retired() { release(); }
  /// Waits for readers (if anything was unlinked) and frees. Call without the IOAS lock.
  void release();
};

// Per-thread cache of the last area a lookup found; valid while the IOAS's generation (bumped on
// every area removal) is unchanged, so a hit costs one shared load and a range compare.
struct LastAreaCache {
  uint64_t ioas_id = 0;
  uint64_t gen = 0;
  Area* area = nullptr;
};
inline thread_local LastAreaCache tl_last_area;

struct IoasState {
  explicit IoasState(const IoasOptions& o);

  const uint64_t id;  // unique for the life of the process
  const uint64_t page_size;
  const unsigned page_shift;
  std::shared_ptr<MemlockAccount> account;

  // Exclusive: anything that adds or removes areas or changes ranges. Shared: pin/unpin and
  // dirty reads, which must not race with removal. Device reads/writes take neither.
  mutable std::shared_mutex mu;
  std::map<uint64_t, std::unique_ptr<Area>> areas;  // by first IOVA
  IoPageTable table;
  std::atomic<uint64_t> gen{1};
  std::vector<IovaRange> reserved;  // sorted by start; may overlap (several owners)
  std::vector<IovaRange> allowed;   // sorted, disjoint; empty: everything allowed
  uint32_t max_areas;
  std::atomic<bool> dirty_tracking{false};

  // Accesses attached to this IOAS, to notify on unmap of pinned pages.
  std::mutex access_mu;
  std::vector<std::weak_ptr<Access::Core>> accesses;

  // --- helpers (callers hold `mu` as noted) ---
  /// Lowest area intersecting [first, last]; any lock mode.
  Area* first_area(uint64_t first, uint64_t last) const;
  /// Area containing `iova`; any lock mode.
  Area* area_at(uint64_t iova) const;
  bool reserved_intersects(uint64_t first, uint64_t last) const;
  /// Inserts a new area (exclusive). ENOMEM if the page table cannot grow; nothing changes then.
  Result<Area*> insert_area(uint64_t iova, uint64_t length, uint32_t perm,
                            std::shared_ptr<Pages> pages, uint64_t pages_offset, Retired* retired);
  /// Unlinks an area (exclusive); it is freed by `retired` after a grace period.
  void remove_area(Area* a, Retired* retired);
  /// Chooses an IOVA for `length` bytes (iopt_alloc_iova); `addr` is the source's host address
  /// (0 if unknown). Exclusive or shared.
  Result<uint64_t> choose_iova(uint64_t length, uint64_t addr) const;
  /// Asks the accesses holding pins in [iova, iova+length) to drop them. Call without `mu`.
  void notify_unmap(uint64_t iova, uint64_t length);

  /// The area mapping `iova`, or null; call inside a read section.
  Area* lookup(uint64_t iova) {
    uint64_t g = gen.load(std::memory_order_acquire);
    LastAreaCache& c = tl_last_area;
    if (c.ioas_id == id && c.gen == g && iova - c.area->iova <= c.area->last - c.area->iova) {
      return c.area;
    }
    Area* a = table.lookup(iova);
    if (a != nullptr) c = {id, g, a};
    return a;
  }
};

}  // namespace uvfio::iommu
