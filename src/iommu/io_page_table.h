// IoPageTable: the IOAS's translation structure, a radix page table like a hardware IOMMU's.
//
// IOVA page numbers index levels of 512 entries; an entry is empty, a pointer to the next level,
// or a leaf pointing at an Area. An area that covers a whole aligned slot of a higher level is
// stored there once (as a huge page would be), so map/unmap cost does not grow with the area's
// size. The depth grows with the highest IOVA mapped (as AMD's IOMMU page tables do), so IOVAs
// below 512 GiB take three dependent loads whatever the number of areas. Tables are 4 KiB,
// page-aligned and carved from 2 MiB huge-page chunks, so walks stay in few TLB entries.
// Writers (under the IOAS lock) publish with release stores; lookups run lock-free inside a read
// section, and unlinked tables are recycled only after a grace period.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace uvfio::iommu {

struct Area;

class IoPageTable {
 public:
  explicit IoPageTable(unsigned page_shift);
  ~IoPageTable();
  IoPageTable(const IoPageTable&) = delete;
  IoPageTable& operator=(const IoPageTable&) = delete;

  /// Grows the table and allocates what insert(first, last) will need, so that insert cannot
  /// fail. Returns false if memory ran out (what was allocated stays, empty and harmless).
  bool prepare(uint64_t first_iova, uint64_t last_iova);
  /// Points [first, last] (page-aligned bounds, prepared, currently empty) at `area`. Empty
  /// tables a leaf replaces go to `retired`.
  void insert(uint64_t first_iova, uint64_t last_iova, Area* area, std::vector<void*>* retired);
  /// Empties [first, last]; tables that become empty are unlinked and handed to `retired`, to be
  /// recycled with free_retired() after a grace period.
  void erase(uint64_t first_iova, uint64_t last_iova, std::vector<void*>* retired);
  /// Recycles retired tables. May be called without the IOAS lock.
  void free_retired(std::vector<void*>* retired);

  /// Prepares splitting the mapping between `cut_iova` and the next page: a leaf whose slot
  /// straddles that boundary is replaced by an equivalent table (every entry the same leaf), so
  /// that replace() can then point the two sides at different areas without allocating.
  /// Readers see the same translation throughout. False if memory ran out (nothing to undo).
  bool prepare_split(uint64_t cut_iova);
  /// Points every page of [first, last] (currently mapped, prepared) at `area`, in place: each
  /// entry goes from its old area straight to the new one.
  void replace(uint64_t first_iova, uint64_t last_iova, Area* area);

  /// The area mapping `iova`, or null. Call inside a read section.
  Area* lookup(uint64_t iova) const {
    const uint64_t pfn = iova >> page_shift_;
    const uintptr_t root = root_.load(std::memory_order_acquire);
    int level = static_cast<int>(root & kLevelMask) - 1;
    if (pfn >> (kBits * (level + 1)) != 0) return nullptr;  // above the highest mapping
    const Node* n = reinterpret_cast<const Node*>(root & ~kLevelMask);
    for (;; --level) {
      const uintptr_t e = n->e[(pfn >> (kBits * level)) & kMask].load(std::memory_order_acquire);
      if (e & kLeaf) return reinterpret_cast<Area*>(e & ~kLeaf);
      if (e == 0 || level == 0) return nullptr;
      n = reinterpret_cast<const Node*>(e);
    }
  }

  /// Tables in use (for tests and statistics).
  size_t table_count() const;

  static constexpr int kBits = 9;
  static constexpr uint64_t kMask = (1u << kBits) - 1;

 private:
  static constexpr uintptr_t kLeaf = 1;
  static constexpr uintptr_t kLevelMask = 0xfff;  // low bits of the root word: the depth
  struct alignas(4096) Node {
    std::atomic<uintptr_t> e[1u << kBits];
  };
  static_assert(sizeof(Node) == 4096);

  Node* alloc_node();
  void free_node(Node* n);
  static bool node_empty(const Node* n);
  /// Hands `n` and every table below it (none holds a leaf) to `retired`.
  static void retire_subtree(Node* n, std::vector<void*>* retired);
  bool grow(uint64_t last_pfn);
  bool prepare_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last);
  void insert_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last, uintptr_t leaf,
                 std::vector<void*>* retired);
  void erase_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last,
                std::vector<void*>* retired);
  void replace_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last, uintptr_t leaf);

  unsigned page_shift_;
  int max_levels_;
  std::atomic<uintptr_t> root_;  // Node* | depth

  // Node arena: 2 MiB chunks, recycled through a free list. Guarded by arena_mu_ because
  // retired tables come back after a grace period, outside the IOAS lock.
  mutable std::mutex arena_mu_;
  std::vector<void*> chunks_;
  std::vector<Node*> free_;
  size_t in_use_ = 0;
};

}  // namespace uvfio::iommu
