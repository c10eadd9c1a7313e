// IoPageTable: the IOAS's translation structure, a radix page table like a hardware IOMMU's.
//
// IOVA page numbers index levels of 512 entries; an entry is empty, a pointer to the next level,
// or a leaf pointing at an Area. An area that covers a whole aligned slot of a higher level is
// stored there once (as a huge page would be), so map/unmap cost does not grow with the area's
// size and a lookup is at most `levels` dependent loads whatever the number of areas.
// Writers (under the IOAS lock) publish with release stores; lookups run lock-free inside a read
// section, and unlinked tables are freed only after a grace period.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace uvfio::iommu {

struct Area;

class IoPageTable {
 public:
  explicit IoPageTable(unsigned page_shift);
  ~IoPageTable();
  IoPageTable(const IoPageTable&) = delete;
  IoPageTable& operator=(const IoPageTable&) = delete;

  /// Allocates the tables that insert(first, last) will need, so that insert cannot fail.
  /// Returns false (nothing published, nothing to undo) if memory ran out.
  bool prepare(uint64_t first_iova, uint64_t last_iova);
  /// Points [first, last] (page-aligned bounds, prepared, currently empty) at `area`. Empty
  /// tables a leaf replaces go to `retired`.
  void insert(uint64_t first_iova, uint64_t last_iova, Area* area, std::vector<void*>* retired);
  /// Empties [first, last]; tables that become empty are unlinked and handed to `retired` to be
  /// freed after a grace period (free_retired).
  void erase(uint64_t first_iova, uint64_t last_iova, std::vector<void*>* retired);
  static void free_retired(std::vector<void*>* retired);

  /// The area mapping `iova`, or null. Call inside a read section.
  Area* lookup(uint64_t iova) const {
    uint64_t pfn = iova >> page_shift_;
    const Node* n = root_;
    for (int level = levels_ - 1;; --level) {
      uintptr_t e = n->e[(pfn >> (kBits * level)) & kMask].load(std::memory_order_acquire);
      if (e & kLeaf) return reinterpret_cast<Area*>(e & ~kLeaf);
      if (e == 0 || level == 0) return nullptr;
      n = reinterpret_cast<const Node*>(e);
    }
  }

  static constexpr int kBits = 9;
  static constexpr uint64_t kMask = (1u << kBits) - 1;

 private:
  static constexpr uintptr_t kLeaf = 1;
  struct Node {
    std::atomic<uintptr_t> e[1u << kBits];
    uint32_t used = 0;  // non-empty entries; writer-only
  };
  static Node* new_node();
  bool prepare_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last);
  void insert_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last, uintptr_t leaf,
                 std::vector<void*>* retired);
  void erase_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last,
                std::vector<void*>* retired);
  static void destroy(Node* n, int level);

  unsigned page_shift_;
  int levels_;
  Node* root_;
};

}  // namespace uvfio::iommu
