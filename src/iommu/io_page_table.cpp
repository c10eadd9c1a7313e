#include "iommu/io_page_table.h"

#include <cassert>
#include <new>

namespace uvfio::iommu {
namespace {

// Pages covered by one entry at `level` (level 0 entries cover one page), as a shift.
constexpr unsigned span_shift(int level) {
  return static_cast<unsigned>(IoPageTable::kBits * level);
}

}  // namespace

IoPageTable::IoPageTable(unsigned page_shift)
    : page_shift_(page_shift),
      levels_(static_cast<int>((64 - page_shift + kBits - 1) / kBits)),
      root_(new_node()) {
  if (root_ == nullptr) throw std::bad_alloc();
}

IoPageTable::~IoPageTable() {
  destroy(root_, levels_ - 1);
}

IoPageTable::Node* IoPageTable::new_node() {
  auto* n = new (std::nothrow) Node;
  if (n == nullptr) return nullptr;
  for (auto& e : n->e) e.store(0, std::memory_order_relaxed);
  return n;
}

void IoPageTable::destroy(Node* n, int level) {
  if (level > 0) {
    for (auto& e : n->e) {
      uintptr_t v = e.load(std::memory_order_relaxed);
      if (v != 0 && !(v & kLeaf)) destroy(reinterpret_cast<Node*>(v), level - 1);
    }
  }
  delete n;
}

bool IoPageTable::prepare(uint64_t first_iova, uint64_t last_iova) {
  return prepare_at(root_, levels_ - 1, 0, first_iova >> page_shift_, last_iova >> page_shift_);
}

// Allocates child tables for every slot the range covers only partly. Slots covered whole take a
// leaf and need nothing. Children are published right away: empty tables are harmless to readers.
bool IoPageTable::prepare_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last) {
  unsigned sh = span_shift(level);
  uint64_t lo = (first - base) >> sh, hi = (last - base) >> sh;
  for (uint64_t i = lo; i <= hi; ++i) {
    uint64_t slot_first = base + (i << sh);
    uint64_t slot_last = slot_first + ((uint64_t{1} << sh) - 1);
    uint64_t f = first > slot_first ? first : slot_first;
    uint64_t l = last < slot_last ? last : slot_last;
    if (level == 0 || (f == slot_first && l == slot_last)) continue;
    uintptr_t v = n->e[i].load(std::memory_order_relaxed);
    assert(!(v & kLeaf));
    Node* child = reinterpret_cast<Node*>(v);
    if (child == nullptr) {
      child = new_node();
      if (child == nullptr) return false;
      n->e[i].store(reinterpret_cast<uintptr_t>(child), std::memory_order_release);
      ++n->used;
    }
    if (!prepare_at(child, level - 1, slot_first, f, l)) return false;
  }
  return true;
}

void IoPageTable::insert(uint64_t first_iova, uint64_t last_iova, Area* area,
                         std::vector<void*>* retired) {
  insert_at(root_, levels_ - 1, 0, first_iova >> page_shift_, last_iova >> page_shift_,
            reinterpret_cast<uintptr_t>(area) | kLeaf, retired);
}

void IoPageTable::insert_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last,
                            uintptr_t leaf, std::vector<void*>* retired) {
  unsigned sh = span_shift(level);
  uint64_t lo = (first - base) >> sh, hi = (last - base) >> sh;
  for (uint64_t i = lo; i <= hi; ++i) {
    uint64_t slot_first = base + (i << sh);
    uint64_t slot_last = slot_first + ((uint64_t{1} << sh) - 1);
    uint64_t f = first > slot_first ? first : slot_first;
    uint64_t l = last < slot_last ? last : slot_last;
    uintptr_t v = n->e[i].load(std::memory_order_relaxed);
    if (level == 0 || (f == slot_first && l == slot_last)) {
      // A whole slot: it may still hold an empty table left by prepare(); replace it.
      assert(v == 0 || (!(v & kLeaf) && reinterpret_cast<Node*>(v)->used == 0));
      if (v == 0) ++n->used;
      n->e[i].store(leaf, std::memory_order_release);
      // An empty table (left by an earlier failed prepare) may still be walked by a reader.
      if (v != 0) retired->push_back(reinterpret_cast<Node*>(v));
      continue;
    }
    insert_at(reinterpret_cast<Node*>(v), level - 1, slot_first, f, l, leaf, retired);
  }
}

void IoPageTable::erase(uint64_t first_iova, uint64_t last_iova, std::vector<void*>* retired) {
  erase_at(root_, levels_ - 1, 0, first_iova >> page_shift_, last_iova >> page_shift_, retired);
}

void IoPageTable::erase_at(Node* n, int level, uint64_t base, uint64_t first, uint64_t last,
                           std::vector<void*>* retired) {
  unsigned sh = span_shift(level);
  uint64_t lo = (first - base) >> sh, hi = (last - base) >> sh;
  for (uint64_t i = lo; i <= hi; ++i) {
    uint64_t slot_first = base + (i << sh);
    uint64_t slot_last = slot_first + ((uint64_t{1} << sh) - 1);
    uint64_t f = first > slot_first ? first : slot_first;
    uint64_t l = last < slot_last ? last : slot_last;
    uintptr_t v = n->e[i].load(std::memory_order_relaxed);
    if (v == 0) continue;
    if (v & kLeaf) {
      n->e[i].store(0, std::memory_order_release);
      --n->used;
      continue;
    }
    auto* child = reinterpret_cast<Node*>(v);
    if (level > 0) erase_at(child, level - 1, slot_first, f, l, retired);
    if (child->used == 0) {
      n->e[i].store(0, std::memory_order_release);
      --n->used;
      retired->push_back(child);  // readers may still be walking it
    }
  }
}

void IoPageTable::free_retired(std::vector<void*>* retired) {
  // Retired tables are empty (their children were retired on their own), so plain delete.
  for (void* p : *retired) delete static_cast<Node*>(p);
  retired->clear();
}

}  // namespace uvfio::iommu
