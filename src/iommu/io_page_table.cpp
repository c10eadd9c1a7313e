#include "iommu/io_page_table.h"

#include <sys/mman.h>

#include "uvfio/base/fault_injection.h"

#include <cassert>
#include <new>

namespace uvfio::iommu {
namespace {

constexpr size_t kChunk = size_t{2} << 20;

// Pages covered by one entry at `level` (level 0 entries cover one page), as a shift.
constexpr unsigned span_shift(int level) {
  return static_cast<unsigned>(IoPageTable::kBits * level);
}

// Visits the entries of a table at `level` (its first page `base`) that pages [first, last]
// touch: fn(index, slot_first, f, l, whole) gets the part [f, l] of the range in that entry's
// slot and whether it covers the slot whole. Stops early when fn returns false.
template <class Fn>
bool for_each_slot(int level, uint64_t base, uint64_t first, uint64_t last, Fn&& fn) {
  const unsigned sh = span_shift(level);
  for (uint64_t i = (first - base) >> sh, hi = (last - base) >> sh; i <= hi; ++i) {
    const uint64_t slot_first = base + (i << sh);
    const uint64_t slot_last = slot_first + ((uint64_t{1} << sh) - 1);
    const uint64_t f = first > slot_first ? first : slot_first;
    const uint64_t l = last < slot_last ? last : slot_last;
    if (!fn(i, slot_first, f, l, f == slot_first && l == slot_last)) return false;
  }
  return true;
}

}  // namespace

IoPageTable::IoPageTable(unsigned page_shift)
    : page_shift_(page_shift),
      max_levels_(static_cast<int>((64 - page_shift + kBits - 1) / kBits)) {
  Node* root = alloc_node();
  if (root == nullptr) throw std::bad_alloc();
  root_.store(reinterpret_cast<uintptr_t>(root) | 1, std::memory_order_relaxed);
}

IoPageTable::~IoPageTable() {
  for (void* c : chunks_) ::munmap(c, kChunk);
}

IoPageTable::Node* IoPageTable::alloc_node() {
  if (fault::should_fail("io_page_table: node")) return nullptr;
  std::lock_guard lk(arena_mu_);
  if (free_.empty()) {
    // Over-allocate to align the chunk to 2 MiB so that it can be one huge page.
    void* raw =
        ::mmap(nullptr, 2 * kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    auto base = reinterpret_cast<uintptr_t>(raw);
    uintptr_t aligned = (base + kChunk - 1) & ~(kChunk - 1);
    if (aligned > base) ::munmap(raw, aligned - base);
    ::munmap(reinterpret_cast<void*>(aligned + kChunk), base + 2 * kChunk - aligned - kChunk);
    ::madvise(reinterpret_cast<void*>(aligned), kChunk, MADV_HUGEPAGE);  // best effort
    chunks_.push_back(reinterpret_cast<void*>(aligned));
    free_.reserve(free_.size() + kChunk / sizeof(Node));
    for (size_t i = kChunk / sizeof(Node); i-- > 0;) {
      free_.push_back(reinterpret_cast<Node*>(aligned + i * sizeof(Node)));
    }
  }
  Node* n = free_.back();
  free_.pop_back();
  ++in_use_;
  // Fresh chunk memory is zero; free_retired() zeroes recycled nodes. Either way every entry is 0.
  return n;
}

void IoPageTable::free_node(Node* n) {
  std::lock_guard lk(arena_mu_);
  free_.push_back(n);
  --in_use_;
}

size_t IoPageTable::table_count() const {
  std::lock_guard lk(arena_mu_);
  return in_use_;
}

bool IoPageTable::node_empty(const Node* n) {
  for (const auto& e : n->e) {
    if (e.load(std::memory_order_relaxed) != 0) return false;
  }
  return true;
}

// Adds levels on top until the root covers `last_pfn`: the old root becomes entry 0 of a new one.
// An empty root just covers more: pushing it down would leave a leafless chain under slot 0 that
// a whole-slot leaf must then retire table by table.
bool IoPageTable::grow(uint64_t last_pfn) {
  uintptr_t root = root_.load(std::memory_order_relaxed);
  int levels = static_cast<int>(root & kLevelMask);
  while (levels < max_levels_ && (last_pfn >> (kBits * levels)) != 0) {
    if (node_empty(reinterpret_cast<Node*>(root & ~kLevelMask))) {
      ++levels;
      root = (root & ~kLevelMask) | static_cast<uintptr_t>(levels);
      root_.store(root, std::memory_order_release);
      continue;
    }
    Node* top = alloc_node();
    if (top == nullptr) return false;
    top->e[0].store(root & ~kLevelMask, std::memory_order_relaxed);
    ++levels;
    root = reinterpret_cast<uintptr_t>(top) | static_cast<uintptr_t>(levels);
    root_.store(root, std::memory_order_release);
  }
  return true;
}

bool IoPageTable::prepare(uint64_t first_iova, uint64_t last_iova) {
  if (!grow(last_iova >> page_shift_)) return false;
  uintptr_t root = root_.load(std::memory_order_relaxed);
  return prepare_at(reinterpret_cast<Node*>(root & ~kLevelMask),
                    static_cast<int>(root & kLevelMask) - 1, 0, first_iova >> page_shift_,
                    last_iova >> page_shift_);
}

// Allocates child tables for every slot the range covers only partly. Slots covered whole take a
// leaf and need nothing. Children are published right away: empty tables are harmless to readers.
bool IoPageTable::prepare_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last) {
  return for_each_slot(level, base, first, last,
                       [&](uint64_t i, uint64_t slot_first, uint64_t f, uint64_t l, bool whole) {
                         if (level == 0 || whole) return true;
                         const uintptr_t v = n->e[i].load(std::memory_order_relaxed);
                         assert(!(v & kLeaf));
                         Node* child = reinterpret_cast<Node*>(v);
                         if (child == nullptr) {
                           child = alloc_node();
                           if (child == nullptr) return false;
                           n->e[i].store(reinterpret_cast<uintptr_t>(child),
                                         std::memory_order_release);
                         }
                         return prepare_at(child, level - 1, slot_first, f, l);
                       });
}

void IoPageTable::insert(uint64_t first_iova, uint64_t last_iova, Area* area,
                         std::vector<void*>* retired) {
  uintptr_t root = root_.load(std::memory_order_relaxed);
  insert_at(reinterpret_cast<Node*>(root & ~kLevelMask), static_cast<int>(root & kLevelMask) - 1, 0,
            first_iova >> page_shift_, last_iova >> page_shift_,
            reinterpret_cast<uintptr_t>(area) | kLeaf, retired);
}

void IoPageTable::insert_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last,
                            uintptr_t leaf, std::vector<void*>* retired) {
  for_each_slot(level, base, first, last,
                [&](uint64_t i, uint64_t slot_first, uint64_t f, uint64_t l, bool whole) {
                  const uintptr_t v = n->e[i].load(std::memory_order_relaxed);
                  if (level == 0 || whole) {
                    // A whole slot. It may hold leafless tables left by an earlier failed
                    // prepare (or an old root pushed down by grow), which a reader may still be
                    // walking: retire them all, don't free them.
                    assert(!(v & kLeaf));
                    n->e[i].store(leaf, std::memory_order_release);
                    if (v != 0) retire_subtree(reinterpret_cast<Node*>(v), retired);
                    return true;
                  }
                  insert_at(reinterpret_cast<Node*>(v), level - 1, slot_first, f, l, leaf, retired);
                  return true;
                });
}

void IoPageTable::erase(uint64_t first_iova, uint64_t last_iova, std::vector<void*>* retired) {
  uintptr_t root = root_.load(std::memory_order_relaxed);
  erase_at(reinterpret_cast<Node*>(root & ~kLevelMask), static_cast<int>(root & kLevelMask) - 1, 0,
           first_iova >> page_shift_, last_iova >> page_shift_, retired);
}

void IoPageTable::erase_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last,
                           std::vector<void*>* retired) {
  for_each_slot(level, base, first, last,
                [&](uint64_t i, uint64_t slot_first, uint64_t f, uint64_t l, bool /*whole*/) {
                  const uintptr_t v = n->e[i].load(std::memory_order_relaxed);
                  if (v == 0) return true;
                  if (v & kLeaf) {
                    n->e[i].store(0, std::memory_order_release);
                    return true;
                  }
                  auto* child = reinterpret_cast<Node*>(v);
                  if (level > 0) erase_at(child, level - 1, slot_first, f, l, retired);
                  if (node_empty(child)) {
                    n->e[i].store(0, std::memory_order_release);
                    retired->push_back(child);  // readers may still be walking it
                  }
                  return true;
                });
}

bool IoPageTable::prepare_split(uint64_t cut_iova) {
  const uint64_t right = (cut_iova >> page_shift_) + 1;  // first page of the right side
  const uintptr_t root = root_.load(std::memory_order_relaxed);
  Node* n = reinterpret_cast<Node*>(root & ~kLevelMask);
  for (int level = static_cast<int>(root & kLevelMask) - 1; level > 0; --level) {
    const unsigned sh = span_shift(level);
    std::atomic<uintptr_t>& e = n->e[(right >> sh) & kMask];
    const uintptr_t v = e.load(std::memory_order_relaxed);
    if (v == 0) return true;                                    // nothing mapped there
    if ((right & ((uint64_t{1} << sh) - 1)) == 0) return true;  // boundary between slots
    if (v & kLeaf) {
      // A huge leaf with the boundary inside: spell it out one level down, same translation.
      Node* child = alloc_node();
      if (child == nullptr) return false;
      for (auto& c : child->e) c.store(v, std::memory_order_relaxed);
      e.store(reinterpret_cast<uintptr_t>(child), std::memory_order_release);
      n = child;
    } else {
      n = reinterpret_cast<Node*>(v);
    }
  }
  return true;
}

void IoPageTable::replace(uint64_t first_iova, uint64_t last_iova, Area* area) {
  const uintptr_t root = root_.load(std::memory_order_relaxed);
  replace_at(reinterpret_cast<Node*>(root & ~kLevelMask), static_cast<int>(root & kLevelMask) - 1,
             0, first_iova >> page_shift_, last_iova >> page_shift_,
             reinterpret_cast<uintptr_t>(area) | kLeaf);
}

void IoPageTable::replace_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last,
                             uintptr_t leaf) {
  for_each_slot(
      level, base, first, last,
      [&](uint64_t i, uint64_t slot_first, uint64_t f, uint64_t l, [[maybe_unused]] bool whole) {
        const uintptr_t v = n->e[i].load(std::memory_order_relaxed);
        if (v & kLeaf) {
          // A leaf lies wholly inside the range replaced (prepare_split saw to that).
          assert(level == 0 || whole);
          n->e[i].store(leaf, std::memory_order_release);
          return true;
        }
        assert(v != 0 && level > 0);
        replace_at(reinterpret_cast<Node*>(v), level - 1, slot_first, f, l, leaf);
        return true;
      });
}

void IoPageTable::retire_subtree(Node* n, std::vector<void*>* retired) {
  for (const auto& e : n->e) {
    const uintptr_t v = e.load(std::memory_order_relaxed);
    assert(!(v & kLeaf));  // only leafless tables are ever replaced whole
    if (v != 0 && !(v & kLeaf)) retire_subtree(reinterpret_cast<Node*>(v), retired);
  }
  retired->push_back(n);
}

void IoPageTable::free_retired(std::vector<void*>* retired) {
  // No reader walks them any more: zero them (a retired subtree still links its children) so
  // alloc_node() hands out empty tables.
  for (void* p : *retired) {
    auto* n = static_cast<Node*>(p);
    for (auto& e : n->e) e.store(0, std::memory_order_relaxed);
    free_node(n);
  }
  retired->clear();
}

}  // namespace uvfio::iommu
