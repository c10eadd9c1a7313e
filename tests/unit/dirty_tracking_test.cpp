// Dirty tracking: writes through accesses mark pages; read_dirty reports and clears.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "test_util.h"
#include "uvfio/iommu/access.h"

using namespace uvfio;
using namespace uvfio::iommu;
using namespace uvfio::test;

namespace {

std::vector<uint64_t> dirty_pages(Ioas& ioas, uint64_t iova, uint64_t len, uint64_t pgsize,
                                  bool clear = true) {
  std::vector<uint64_t> bm((len / pgsize + 63) / 64);
  EXPECT_TRUE(ioas.read_dirty(iova, len, pgsize, bm, clear).ok());
  std::vector<uint64_t> pages;
  for (uint64_t i = 0; i < len / pgsize; ++i) {
    if (bm[i / 64] >> (i % 64) & 1) pages.push_back(iova + i * pgsize);
  }
  return pages;
}

using V = std::vector<uint64_t>;

}  // namespace

TEST(DirtyTracking, WritesMarkPagesAndReadClears) {
  auto ioas = make_ioas();
  Buffer b(64 * 4096);
  ASSERT_OK(ioas->map(b.source(), 0x100000, kFixedRW));
  auto dev = Access::create();
  ASSERT_OK(dev->attach(ioas));
  std::vector<uint64_t> bm(1);
  EXPECT_ERRNO(ioas->read_dirty(0x100000, 0x40000, 4096, bm), EINVAL);  // not tracking

  ASSERT_OK(dev->write(0x100000, "x", 1));  // before tracking: not recorded
  ioas->set_dirty_tracking(true);
  EXPECT_TRUE(dirty_pages(*ioas, 0x100000, 0x40000, 4096).empty());
  ASSERT_OK(dev->write(0x101ffe, "abcd", 4));  // straddles pages 1 and 2
  ASSERT_OK(dev->write(0x13f000, "z", 1));     // last page
  uint8_t r;
  ASSERT_OK(dev->read(0x104000, &r, 1));  // reads do not dirty
  EXPECT_EQ(dirty_pages(*ioas, 0x100000, 0x40000, 4096, /*clear=*/false),
            (V{0x101000, 0x102000, 0x13f000}));
  // A coarser page size: one bit per 64 KiB.
  EXPECT_EQ(dirty_pages(*ioas, 0x100000, 0x40000, 0x10000, false), (V{0x100000, 0x130000}));
  // A sub-range reports and clears only its own pages.
  EXPECT_EQ(dirty_pages(*ioas, 0x102000, 0x1000, 4096), (V{0x102000}));
  EXPECT_EQ(dirty_pages(*ioas, 0x100000, 0x40000, 4096), (V{0x101000, 0x13f000}));
  EXPECT_TRUE(dirty_pages(*ioas, 0x100000, 0x40000, 4096).empty());
}

TEST(DirtyTracking, Validation) {
  auto ioas = make_ioas();
  ioas->set_dirty_tracking(true);
  std::vector<uint64_t> bm(1);
  EXPECT_ERRNO(ioas->read_dirty(0x1000, 0x1000, 2048, bm), EINVAL);  // below the IOMMU page
  EXPECT_ERRNO(ioas->read_dirty(0x1000, 0x1000, 6144, bm), EINVAL);  // not a power of two
  EXPECT_ERRNO(ioas->read_dirty(0x1800, 0x1000, 4096, bm), EINVAL);
  EXPECT_ERRNO(ioas->read_dirty(0x1000, 0, 4096, bm), EINVAL);
  EXPECT_ERRNO(ioas->read_dirty(UINT64_MAX - 0xfff, 0x2000, 4096, bm), EOVERFLOW);
  EXPECT_ERRNO(ioas->read_dirty(0, 65 * 4096, 4096, bm), EINVAL);  // bitmap too small
  ASSERT_OK(ioas->read_dirty(0, 64 * 4096, 4096, bm));
}

TEST(DirtyTracking, PagesPinnedForWritingStayDirty) {
  auto ioas = make_ioas();
  Buffer b(16 * 4096);
  ASSERT_OK(ioas->map(b.source(), 0x10000, kFixedRW));
  auto dev = Access::create();
  ASSERT_OK(dev->attach(ioas));
  ioas->set_dirty_tracking(true);
  ASSERT_OK(dev->pin(0x12000, 0x2000, kAccessWrite));
  ASSERT_OK(dev->pin(0x18000, 0x1000, 0));  // read pin: not dirty
  EXPECT_EQ(dirty_pages(*ioas, 0x10000, 0x10000, 4096), (V{0x12000, 0x13000}));
  EXPECT_EQ(dirty_pages(*ioas, 0x10000, 0x10000, 4096), (V{0x12000, 0x13000}));
  ASSERT_OK(dev->unpin(0x12000, 0x2000));  // written while pinned: dirty once more
  EXPECT_EQ(dirty_pages(*ioas, 0x10000, 0x10000, 4096), (V{0x12000, 0x13000}));
  EXPECT_TRUE(dirty_pages(*ioas, 0x10000, 0x10000, 4096).empty());
}

TEST(DirtyTracking, UnmapReportsDirtyBitsOfRemovedAreas) {
  auto ioas = make_ioas();
  Buffer b(8 * 4096);
  ASSERT_OK(ioas->map(b.source(), 0x10000, kFixedRW));
  ASSERT_OK(ioas->map(b.source(), 0x18000, kFixedRW));
  auto dev = Access::create();
  ASSERT_OK(dev->attach(ioas));
  ioas->set_dirty_tracking(true);
  ASSERT_OK(dev->write(0x11000, "a", 1));
  ASSERT_OK(dev->write(0x1f000, "b", 1));
  std::vector<uint64_t> bm(1);
  DirtySink sink{0x10000, 4096, bm};
  auto r = ioas->unmap(0x10000, 0x10000, Frontend::kType1v2, &sink);
  ASSERT_OK(r);
  EXPECT_EQ(*r, 0x10000u);
  EXPECT_EQ(bm[0], (uint64_t{1} << 1) | (uint64_t{1} << 15));
}

TEST(DirtyTracking, TwoKiBGranularity) {
  auto ioas = make_ioas(2048);
  Buffer b(4 * 4096);
  ASSERT_OK(ioas->map(b.source(), 0x10000, kFixedRW));
  auto dev = Access::create();
  ASSERT_OK(dev->attach(ioas));
  ioas->set_dirty_tracking(true);
  ASSERT_OK(dev->write(0x10900, "a", 1));  // second 2 KiB page
  EXPECT_EQ(dirty_pages(*ioas, 0x10000, 0x4000, 2048, false), (V{0x10800}));
  EXPECT_EQ(dirty_pages(*ioas, 0x10000, 0x4000, 4096), (V{0x10000}));
}

namespace {

struct NullRemote : RemoteMemory {
  int read(uint64_t, void* dst, size_t len) override {
    std::memset(dst, 0, len);
    return 0;
  }
  int write(uint64_t, const void*, size_t) override { return 0; }
};

uint64_t resident_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  EXPECT_EQ(std::fscanf(f, "%lu %lu", &size, &resident), 2);
  std::fclose(f);
  return uint64_t{resident} * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

// A huge window nobody writes to costs no memory for its dirty bits (a vfio-user client's fd-less
// map of 32 TiB used to commit a 1 GiB bitmap: fuzz finding), yet its bits still work.
TEST(DirtyTracking, HugeWindowsCommitOnlyTheBitsWritten) {
  auto ioas = make_ioas();
  const uint64_t before = resident_bytes();
  const uint64_t len = 32ull << 40;
  ASSERT_OK(
      ioas->map(MemorySource::remote(std::make_shared<NullRemote>(), len), 1ull << 44, kFixedRW));
  ioas->set_dirty_tracking(true);
  auto dev = Access::create([](uint64_t, uint64_t) {});
  ASSERT_OK(dev->attach(ioas));
  const char x = 1;
  ASSERT_OK(dev->write((1ull << 44) + (5ull << 40) + 0x3000, &x, 1));
  EXPECT_EQ(dirty_pages(*ioas, (1ull << 44) + (5ull << 40), 0x10000, 4096),
            V{(1ull << 44) + (5ull << 40) + 0x3000});
  EXPECT_LT(resident_bytes() - before, uint64_t{64} << 20);  // the bitmap is 1 GiB of address space
  ASSERT_OK(ioas->unmap_all());
}
