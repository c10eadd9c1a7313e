#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

#include "iommu/area.h"
#include "iommu/io_page_table.h"

using namespace uvfio::iommu;

namespace {

// Reference model: the area owning each inserted range.
struct Model {
  std::map<uint64_t, std::pair<uint64_t, Area*>> ranges;  // first -> (last, area)
  Area* find(uint64_t iova) const {
    auto it = ranges.upper_bound(iova);
    if (it == ranges.begin()) return nullptr;
    --it;
    return iova <= it->second.first ? it->second.second : nullptr;
  }
};

}  // namespace

TEST(IoPageTable, HugeSlotsAndPartialSlots) {
  IoPageTable t(12);
  std::vector<void*> retired;
  Area big{}, small{}, top{};
  // 1 GiB aligned: stored as a single leaf two levels up.
  ASSERT_TRUE(t.prepare(1ull << 30, (2ull << 30) - 1));
  t.insert(1ull << 30, (2ull << 30) - 1, &big, &retired);
  // An odd range straddling a 2 MiB boundary.
  ASSERT_TRUE(t.prepare(0x1ff000, 0x202fff));
  t.insert(0x1ff000, 0x202fff, &small, &retired);
  // The very top page of the 64-bit space.
  ASSERT_TRUE(t.prepare(UINT64_MAX - 4095, UINT64_MAX));
  t.insert(UINT64_MAX - 4095, UINT64_MAX, &top, &retired);
  EXPECT_TRUE(retired.empty());

  EXPECT_EQ(t.lookup(1ull << 30), &big);
  EXPECT_EQ(t.lookup((2ull << 30) - 1), &big);
  EXPECT_EQ(t.lookup(2ull << 30), nullptr);
  EXPECT_EQ(t.lookup(0x1fefff), nullptr);
  EXPECT_EQ(t.lookup(0x1ff000), &small);
  EXPECT_EQ(t.lookup(0x200000), &small);
  EXPECT_EQ(t.lookup(0x202fff), &small);
  EXPECT_EQ(t.lookup(0x203000), nullptr);
  EXPECT_EQ(t.lookup(UINT64_MAX), &top);
  EXPECT_EQ(t.lookup(0), nullptr);

  t.erase(0x1ff000, 0x202fff, &retired);
  EXPECT_EQ(t.lookup(0x200000), nullptr);
  EXPECT_FALSE(retired.empty());  // the leaf tables it used are unlinked for later freeing
  // Two leaf tables (the range straddles 2 MiB) and the 1 GiB-level table they hung from.
  EXPECT_EQ(retired.size(), 3u);
  const size_t before = t.table_count();
  t.free_retired(&retired);
  EXPECT_EQ(t.table_count(), before - 3);
  EXPECT_EQ(t.lookup(1ull << 30), &big);
}

TEST(IoPageTable, DepthGrowsWithTheHighestIova) {
  IoPageTable t(12);
  std::vector<void*> retired;
  Area low{}, high{};
  EXPECT_EQ(t.table_count(), 1u);  // one level: 512 pages
  ASSERT_TRUE(t.prepare(0x1000, 0x1fff));
  t.insert(0x1000, 0x1fff, &low, &retired);
  EXPECT_EQ(t.table_count(), 1u);
  EXPECT_EQ(t.lookup(0x1000), &low);
  EXPECT_EQ(t.lookup(0x200000), nullptr);  // beyond the table's reach
  EXPECT_EQ(t.lookup(UINT64_MAX), nullptr);
  ASSERT_TRUE(t.prepare(0x40000000, 0x40000fff));  // 1 GiB: needs 3 levels
  t.insert(0x40000000, 0x40000fff, &high, &retired);
  EXPECT_EQ(t.lookup(0x1000), &low);  // the old root now hangs below the new one
  EXPECT_EQ(t.lookup(0x40000000), &high);
  EXPECT_EQ(t.lookup(0x40001000), nullptr);
  // Emptied tables are recycled after free_retired, not leaked.
  const size_t tables = t.table_count();
  t.erase(0x40000000, 0x40000fff, &retired);
  t.free_retired(&retired);
  EXPECT_LT(t.table_count(), tables);
  EXPECT_EQ(t.lookup(0x1000), &low);
}

TEST(IoPageTable, MatchesReferenceModelUnderRandomOps) {
  for (unsigned shift : {11u, 12u}) {
    IoPageTable t(shift);
    Model m;
    std::vector<std::unique_ptr<Area>> owners;
    std::vector<void*> retired;
    std::mt19937_64 rng(shift);
    const uint64_t ps = 1ull << shift;
    for (int step = 0; step < 3000; ++step) {
      bool add = m.ranges.empty() || rng() % 3 != 0;
      if (add) {
        uint64_t first = (rng() % (1u << 20)) * ps;
        uint64_t pages = 1 + rng() % (rng() % 8 == 0 ? 5000 : 40);
        uint64_t last = first + pages * ps - 1;
        bool overlaps = false;
        for (auto& [f, v] : m.ranges) {
          if (f <= last && first <= v.first) overlaps = true;
        }
        if (overlaps) continue;
        owners.push_back(std::make_unique<Area>());
        ASSERT_TRUE(t.prepare(first, last));
        t.insert(first, last, owners.back().get(), &retired);
        m.ranges[first] = {last, owners.back().get()};
      } else {
        auto it = m.ranges.begin();
        std::advance(it, static_cast<long>(rng() % m.ranges.size()));
        t.erase(it->first, it->second.first, &retired);
        m.ranges.erase(it);
      }
      t.free_retired(&retired);
      for (int probe = 0; probe < 20; ++probe) {
        uint64_t iova = (rng() % ((1u << 20) + 6000)) * ps + rng() % ps;
        ASSERT_EQ(t.lookup(iova), m.find(iova)) << "shift " << shift << " iova " << iova;
      }
    }
  }
}

// A first mapping that makes an empty table grow by more than one level and then covers slot 0
// whole (2 GiB at IOVA 0 with 4 KiB pages: 3 levels -> 4): no leafless chain may be left under
// the new leaf, and every table comes back when the mapping goes (found by the vfio-user fuzzer).
TEST(IoPageTable, GrowingAnEmptyTableThenCoveringSlotZeroWhole) {
  IoPageTable t(12);
  std::vector<void*> retired;
  const size_t base_tables = t.table_count();
  Area a{}, b{};
  ASSERT_TRUE(t.prepare(0, (2ull << 30) - 1));
  t.insert(0, (2ull << 30) - 1, &a, &retired);
  EXPECT_EQ(t.lookup(0), &a);
  EXPECT_EQ(t.lookup((2ull << 30) - 1), &a);
  EXPECT_EQ(t.lookup(2ull << 30), nullptr);
  t.erase(0, (2ull << 30) - 1, &retired);
  t.free_retired(&retired);
  EXPECT_EQ(t.lookup(0), nullptr);
  // Recycled tables are empty: a small mapping after it sees nothing stale around it.
  ASSERT_TRUE(t.prepare(0x5000, 0x5fff));
  t.insert(0x5000, 0x5fff, &b, &retired);
  EXPECT_EQ(t.lookup(0x5000), &b);
  EXPECT_EQ(t.lookup(0x4000), nullptr);
  EXPECT_EQ(t.lookup(0x6000), nullptr);
  EXPECT_EQ(t.lookup(1ull << 30), nullptr);
  t.erase(0x5000, 0x5fff, &retired);
  t.free_retired(&retired);
  EXPECT_LE(t.table_count(), base_tables + 3);  // at most the grown root's path remains
}

// A leafless chain left by a prepare whose insert never came (a failed map) is retired whole by
// a later whole-slot leaf, and recycled tables come back zeroed.
TEST(IoPageTable, WholeSlotLeafRetiresALeaflessChain) {
  IoPageTable t(12);
  std::vector<void*> retired;
  Area a{}, b{};
  ASSERT_TRUE(t.prepare(0x40001000, 0x40001fff));  // tables down to level 0 under slot 1 GiB
  const size_t with_chain = t.table_count();
  ASSERT_TRUE(t.prepare(1ull << 30, (2ull << 30) - 1));
  t.insert(1ull << 30, (2ull << 30) - 1, &a, &retired);
  EXPECT_GE(retired.size(), 2u);  // the level-1 and level-0 tables of the chain
  t.free_retired(&retired);
  EXPECT_LT(t.table_count(), with_chain);
  EXPECT_EQ(t.lookup(0x40001000), &a);
  ASSERT_TRUE(t.prepare(0x3000, 0x3fff));
  t.insert(0x3000, 0x3fff, &b, &retired);
  EXPECT_EQ(t.lookup(0x3000), &b);
  EXPECT_EQ(t.lookup(0x2000), nullptr);
  EXPECT_EQ(t.lookup(0x40001000), &a);
}
