// Unmap rules per front end: iommufd (iopt_unmap_iova_range), type1 v2 and v1
// (vfio_dma_do_unmap).
#include <gtest/gtest.h>

#include "test_util.h"
#include "uvfio/iommu/access.h"

using namespace uvfio;
using namespace uvfio::iommu;
using namespace uvfio::test;

namespace {

// Three mappings: [0x10000,0x13fff] [0x14000,0x15fff] (adjacent) and [0x20000,0x2ffff].
struct ThreeAreas {
  explicit ThreeAreas(uint64_t page = 4096) : ioas(make_ioas(page)), buf(64 * 1024) {
    EXPECT_TRUE(ioas->map(buf.source(0, 0x4000), 0x10000, kFixedRW).ok());
    EXPECT_TRUE(ioas->map(buf.source(0, 0x2000), 0x14000, kFixedRW).ok());
    EXPECT_TRUE(ioas->map(buf.source(), 0x20000, kFixedRW).ok());
  }
  std::vector<uint64_t> starts() const {
    std::vector<uint64_t> v;
    for (auto& a : ioas->areas()) v.push_back(a.iova);
    return v;
  }
  std::shared_ptr<Ioas> ioas;
  Buffer buf;
};

}  // namespace

TEST(UnmapIommufd, ExactAndSupersetRanges) {
  ThreeAreas t;
  auto r = t.ioas->unmap(0x10000, 0x4000, Frontend::kIommufd);
  ASSERT_OK(r);
  EXPECT_EQ(*r, 0x4000u);
  auto r2 = t.ioas->unmap(0x0, 0x100000, Frontend::kIommufd);  // superset with holes
  ASSERT_OK(r2);
  EXPECT_EQ(*r2, 0x2000u + 0x10000u);
  EXPECT_EQ(t.ioas->area_count(), 0u);
}

TEST(UnmapIommufd, SplittingIsEnoentAndStopsTheWalk) {
  ThreeAreas t;
  // The first area found straddles the start: nothing removed.
  EXPECT_ERRNO(t.ioas->unmap(0x11000, 0x10000, Frontend::kIommufd), ENOENT);
  EXPECT_EQ(t.starts(), (std::vector<uint64_t>{0x10000, 0x14000, 0x20000}));
  // Areas below a straddling one are removed before the walk stops (no rollback).
  EXPECT_ERRNO(t.ioas->unmap(0x10000, 0x11000, Frontend::kIommufd), ENOENT);
  EXPECT_EQ(t.starts(), (std::vector<uint64_t>{0x20000}));
}

TEST(UnmapIommufd, NothingMappedIsEnoentButUnmapAllSucceeds) {
  auto ioas = make_ioas();
  EXPECT_ERRNO(ioas->unmap(0x10000, 0x1000, Frontend::kIommufd), ENOENT);
  auto all = ioas->unmap_all(Frontend::kIommufd);
  ASSERT_OK(all);
  EXPECT_EQ(*all, 0u);
  auto special = ioas->unmap(0, UINT64_MAX, Frontend::kIommufd);  // (0, U64_MAX) is unmap-all
  ASSERT_OK(special);
  EXPECT_EQ(*special, 0u);
}

TEST(UnmapIommufd, Validation) {
  ThreeAreas t;
  EXPECT_ERRNO(t.ioas->unmap(0x10000, 0, Frontend::kIommufd), EINVAL);
  EXPECT_ERRNO(t.ioas->unmap(UINT64_MAX, 1, Frontend::kIommufd), EOVERFLOW);
  EXPECT_ERRNO(t.ioas->unmap(1, UINT64_MAX, Frontend::kIommufd), EOVERFLOW);
  EXPECT_ERRNO(t.ioas->unmap(0x10000, UINT64_MAX - 0x1000, Frontend::kIommufd), EOVERFLOW);
  // No alignment rule of its own: an unaligned range simply splits an area.
  EXPECT_ERRNO(t.ioas->unmap(0x10001, 0x3fff, Frontend::kIommufd), ENOENT);
  auto all = t.ioas->unmap(0, UINT64_MAX, Frontend::kIommufd);
  ASSERT_OK(all);
  EXPECT_EQ(*all, 0x4000u + 0x2000u + 0x10000u);
}

TEST(UnmapType1v2, MayNotSplitAMapping) {
  ThreeAreas t;
  EXPECT_ERRNO(t.ioas->unmap(0x11000, 0x3000, Frontend::kType1v2), EINVAL);  // splits at start
  EXPECT_ERRNO(t.ioas->unmap(0x10000, 0x5000, Frontend::kType1v2), EINVAL);  // splits at end
  EXPECT_ERRNO(t.ioas->unmap(0x20000, 0x1000, Frontend::kType1v2), EINVAL);
  EXPECT_EQ(t.ioas->area_count(), 3u);                          // checked up front: nothing removed
  auto r = t.ioas->unmap(0x10000, 0x6000, Frontend::kType1v2);  // two whole mappings
  ASSERT_OK(r);
  EXPECT_EQ(*r, 0x6000u);
  auto none = t.ioas->unmap(0x40000, 0x1000, Frontend::kType1v2);  // nothing there: success
  ASSERT_OK(none);
  EXPECT_EQ(*none, 0u);
  auto hole = t.ioas->unmap(0x1000, 0x40000, Frontend::kType1v2);  // holes are fine
  ASSERT_OK(hole);
  EXPECT_EQ(*hole, 0x10000u);
}

TEST(UnmapType1v1, WholeMappingsThatStartInsideTheRange) {
  ThreeAreas t;
  // A request inside a mapping (not at its start): success, nothing unmapped.
  auto inside = t.ioas->unmap(0x11000, 0x1000, Frontend::kType1v1);
  ASSERT_OK(inside);
  EXPECT_EQ(*inside, 0u);
  // A request starting inside the first mapping stops there even though later ones follow.
  auto stop = t.ioas->unmap(0x12000, 0x20000, Frontend::kType1v1);
  ASSERT_OK(stop);
  EXPECT_EQ(*stop, 0u);
  EXPECT_EQ(t.ioas->area_count(), 3u);
  // Covering a mapping's first IOVA unmaps all of it, past the requested end.
  auto first = t.ioas->unmap(0x14000, 0x1000, Frontend::kType1v1);
  ASSERT_OK(first);
  EXPECT_EQ(*first, 0x2000u);
  auto both = t.ioas->unmap(0x10000, 0x11000, Frontend::kType1v1);
  ASSERT_OK(both);
  EXPECT_EQ(*both, 0x4000u + 0x10000u);
  EXPECT_EQ(t.ioas->area_count(), 0u);
}

TEST(UnmapType1, Validation) {
  for (Frontend fe : {Frontend::kType1v1, Frontend::kType1v2}) {
    ThreeAreas t;
    EXPECT_ERRNO(t.ioas->unmap(0x10000, 0, fe), EINVAL);
    EXPECT_ERRNO(t.ioas->unmap(0x10800, 0x1000, fe), EINVAL);
    EXPECT_ERRNO(t.ioas->unmap(0x10000, 0x800, fe), EINVAL);
    EXPECT_ERRNO(t.ioas->unmap(0xfffffffffffff000, 0x2000, fe), EINVAL);  // wraps: not EOVERFLOW
    auto all = t.ioas->unmap_all(fe);
    ASSERT_OK(all);
    EXPECT_EQ(*all, 0x16000u);
    auto again = t.ioas->unmap_all(fe);
    ASSERT_OK(again);
    EXPECT_EQ(*again, 0u);
  }
}

TEST(Unmap, LockedMemoryIsReleased) {
  ThreeAreas t;
  EXPECT_GT(t.ioas->account()->locked_bytes(), 0u);
  ASSERT_OK(t.ioas->unmap_all());
  EXPECT_EQ(t.ioas->account()->locked_bytes(), 0u);
}

TEST(Unmap, TopOfTheAddressSpace) {
  auto ioas = make_ioas();
  Buffer b(8192);
  const uint64_t top = UINT64_MAX - 0x1fff;
  ASSERT_OK(ioas->map(b.source(), top, kFixedRW));
  // iommufd refuses length U64_MAX, and (top, 0x2000) ends exactly at 2^64 - 1.
  auto r = ioas->unmap(top, 0x2000, Frontend::kIommufd);
  ASSERT_OK(r);
  EXPECT_EQ(*r, 0x2000u);
  ASSERT_OK(ioas->map(b.source(), top, kFixedRW));
  auto r2 = ioas->unmap(top, 0x2000, Frontend::kType1v2);
  ASSERT_OK(r2);
  EXPECT_EQ(*r2, 0x2000u);
}

// split_at: iopt_area_split, for the iommufd compat layer's type1-v1 unmaps.
TEST(Split, AtomicForDevicesAndKeepsDirtyBits) {
  auto ioas = make_ioas();
  Buffer b(4 << 20);
  // A 2 MiB-aligned 4 MiB mapping: stored as two huge leaves, so the split has to spell one out.
  ASSERT_OK(ioas->map(b.source(), 0x40000000, kFixedRW));
  auto dev = Access::create();
  ASSERT_OK(dev->attach(ioas));
  ioas->set_dirty_tracking(true);
  ASSERT_OK(dev->write(0x40123000, "d", 1));
  ASSERT_OK(ioas->split_at(0x40123fff));  // ends the left piece
  auto areas = ioas->areas();
  ASSERT_EQ(areas.size(), 2u);
  EXPECT_EQ(areas[0].iova, 0x40000000u);
  EXPECT_EQ(areas[0].length, 0x124000u);
  EXPECT_EQ(areas[1].iova, 0x40124000u);
  EXPECT_EQ(areas[1].length, (4u << 20) - 0x124000u);
  // The same memory behind both pieces; nothing charged twice.
  uint8_t x = 0;
  ASSERT_OK(dev->read(0x40123000, &x, 1));
  EXPECT_EQ(x, 'd');
  ASSERT_OK(dev->write(0x40124000, "e", 1));
  EXPECT_EQ(b.bytes()[0x124000], 'e');
  EXPECT_EQ(ioas->account()->locked_bytes(), 4u << 20);
  // A read across the cut still works (adjacent areas).
  uint8_t two[2];
  ASSERT_OK(dev->read(0x40123fff, two, 2));
  // Dirty bits carried over (the write before the split) and new ones land on the new areas.
  std::vector<uint64_t> bm(16);
  ASSERT_OK(ioas->read_dirty(0x40000000, 4 << 20, 4096, bm));
  EXPECT_EQ(bm[0x123 / 64] >> (0x123 % 64) & 1, 1u);
  EXPECT_EQ(bm[0x124 / 64] >> (0x124 % 64) & 1, 1u);
  // Each piece now unmaps on its own.
  auto r = ioas->unmap(0x40000000, 0x124000, Frontend::kIommufd);
  ASSERT_OK(r);
  EXPECT_EQ(*r, 0x124000u);
}

TEST(Split, Rules) {
  auto ioas = make_ioas();
  Buffer b(0x10000);
  ASSERT_OK(ioas->map(b.source(), 0x100000, kFixedRW));
  ASSERT_OK(ioas->split_at(0x10ffff));  // the last byte: nothing to do
  ASSERT_OK(ioas->split_at(0x500000));  // unmapped: nothing to do
  EXPECT_EQ(ioas->area_count(), 1u);
  EXPECT_ERRNO(ioas->split_at(0x100800), EINVAL);  // the next page would not start aligned
  auto dev = Access::create();
  ASSERT_OK(dev->attach(ioas));
  ASSERT_OK(dev->pin(0x100000, 0x1000, 0));
  EXPECT_ERRNO(ioas->split_at(0x103fff), EINVAL);  // pinned
  ASSERT_OK(dev->unpin(0x100000, 0x1000));
  ASSERT_OK(ioas->split_at(0x103fff));
  EXPECT_EQ(ioas->area_count(), 2u);
  auto small = make_ioas(4096, MemlockAccount::kUnlimited, 2);
  ASSERT_OK(small->map(b.source(), 0x100000, kFixedRW));
  ASSERT_OK(small->map(b.source(0, 0x1000), 0x200000, kFixedRW));
  EXPECT_ERRNO(small->split_at(0x101fff), ENOSPC);
}
