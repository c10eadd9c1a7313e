// IOAS map, copy, IOVA allocation and ranges, with each front end's errno.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "test_util.h"
#include "uvfio/base/unique_fd.h"
#include "uvfio/iommu/ioas.h"

using namespace uvfio;
using namespace uvfio::iommu;
using namespace uvfio::test;

namespace {
const uint64_t kHostPage = MemlockAccount::host_page_size();
}

// --- iommufd front end (iommufd_ioas_map, iopt_alloc_pages, iopt_check_iova) ---

TEST(IoasMapIommufd, FixedMapAndValidationErrnos) {
  auto ioas = make_ioas();
  Buffer b(64 * 1024);
  EXPECT_ERRNO(ioas->map(b.source(), 0x10000, kFixedRW | 0x80), EOPNOTSUPP);  // unknown flag
  EXPECT_ERRNO(ioas->map(b.source(), UINT64_MAX, kFixedRW), EOVERFLOW);
  EXPECT_ERRNO(ioas->map(b.source(), 0x10000, kMapFixedIova), EINVAL);           // no permission
  EXPECT_ERRNO(ioas->map(b.source(0, 0), 0x10000, kFixedRW), EINVAL);            // zero length
  EXPECT_ERRNO(ioas->map(b.source(), 0x10800, kFixedRW), EINVAL);                // unaligned IOVA
  EXPECT_ERRNO(ioas->map(b.source(0, 6000), 0x10000, kFixedRW), EINVAL);         // unaligned length
  EXPECT_ERRNO(ioas->map(b.source(), UINT64_MAX - 0xfff, kFixedRW), EOVERFLOW);  // wraps
  EXPECT_ERRNO(ioas->map(b.source(512, 4096), 0x10000, kFixedRW), EINVAL);       // unaligned memory
  EXPECT_EQ(ioas->area_count(), 0u);

  auto r = ioas->map(b.source(), 0x10000, kFixedRW);
  ASSERT_OK(r);
  EXPECT_EQ(*r, 0x10000u);
  // Any overlap, even a single page at either end, is EEXIST.
  EXPECT_ERRNO(ioas->map(b.source(0, 4096), 0x10000, kFixedRW), EEXIST);
  EXPECT_ERRNO(ioas->map(b.source(0, 4096), 0x1f000, kFixedRW), EEXIST);
  EXPECT_ERRNO(ioas->map(b.source(0, 8192), 0xf000, kFixedRW), EEXIST);
  ASSERT_OK(ioas->map(b.source(0, 4096), 0xf000, kFixedRW));  // adjacent is fine
  ASSERT_OK(ioas->map(b.source(0, 4096), 0x20000, kFixedRW | 0));
  auto areas = ioas->areas();
  ASSERT_EQ(areas.size(), 3u);
  EXPECT_EQ(areas[1].iova, 0x10000u);
  EXPECT_EQ(areas[1].length, 64u * 1024);
  EXPECT_EQ(areas[1].perm, kPermRead | kPermWrite);
}

TEST(IoasMapIommufd, ReservedRangesRefuseFixedMaps) {
  auto ioas = make_ioas();
  Buffer b(8192);
  ASSERT_OK(ioas->add_reserved({0xfee00000, 0xfeefffff}));
  EXPECT_ERRNO(ioas->map(b.source(), 0xfeeff000, kFixedRW), EINVAL);
  EXPECT_ERRNO(ioas->map(b.source(), 0xfedff000, kFixedRW), EINVAL);  // straddles into it
  ASSERT_OK(ioas->map(b.source(), 0xfedfe000, kFixedRW));
  // A reserved range may not cover an existing mapping.
  EXPECT_ERRNO(ioas->add_reserved({0xfedff000, 0xfedff000}), EADDRINUSE);
  EXPECT_ERRNO(ioas->add_reserved({5, 4}), EINVAL);
  auto ranges = ioas->iova_ranges();
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0], (IovaRange{0, 0xfedfffff}));
  EXPECT_EQ(ranges[1], (IovaRange{0xfef00000, UINT64_MAX}));
  ASSERT_OK(ioas->remove_reserved({0xfee00000, 0xfeefffff}));
  EXPECT_ERRNO(ioas->remove_reserved({0xfee00000, 0xfeefffff}), ENOENT);
  EXPECT_EQ(ioas->iova_ranges().size(), 1u);
}

TEST(IoasMapIommufd, ChosenIovaHonoursAlignmentAllowedAndReserved) {
  auto ioas = make_ioas();
  Buffer b(4 << 20);
  // Alignment: the power of two of the length, capped by the address's own alignment and 2 MiB.
  auto a = ioas->map(b.source(0, 0x3000), 0, kRW);
  ASSERT_OK(a);
  EXPECT_NE(*a, 0u);  // never page 0
  EXPECT_EQ(*a % 0x1000, 0u);
  auto a2 = ioas->map(MemorySource::process(b.bytes() + 0x10000, 0x10000), 0, kRW);
  ASSERT_OK(a2);
  EXPECT_EQ(*a2 % 0x10000, 0u);
  EXPECT_FALSE(IovaRange({*a, *a + 0x2fff}).intersects({*a2, *a2 + 0xffff}));

  // Allowed ranges restrict the choice; reserved ranges inside them are skipped.
  IovaRange allow[] = {{0x40000000, 0x4fffffff}};
  ASSERT_OK(ioas->set_allowed_iovas(allow));
  ASSERT_OK(ioas->add_reserved({0x50000000, 0x5fffffff}));  // outside allowed: fine
  auto c = ioas->map(b.source(0, 0x1000), 0, kRW);
  ASSERT_OK(c);
  EXPECT_GE(*c, 0x40000000u);
  EXPECT_LE(*c, 0x4fffffffu);
  // Fixed maps are not limited by allowed ranges, only by reserved ones.
  ASSERT_OK(ioas->map(b.source(0, 0x1000), 0x1000000, kFixedRW));
  // Too big for the allowed window: ENOSPC.
  auto big = std::make_unique<Buffer>(512 << 20);
  EXPECT_ERRNO(ioas->map(big->source(), 0, kRW), ENOSPC);
}

TEST(IoasMapIommufd, AllowIovasValidation) {
  auto ioas = make_ioas();
  IovaRange backwards[] = {{0x2000, 0x1000}};
  EXPECT_ERRNO(ioas->set_allowed_iovas(backwards), EINVAL);
  IovaRange single[] = {{0x2000, 0x2000}};  // the kernel refuses start == last too
  EXPECT_ERRNO(ioas->set_allowed_iovas(single), EINVAL);
  IovaRange overlap[] = {{0x1000, 0x5fff}, {0x5000, 0x8fff}};
  EXPECT_ERRNO(ioas->set_allowed_iovas(overlap), EINVAL);
  ASSERT_OK(ioas->add_reserved({0x100000, 0x1fffff}));
  IovaRange clash[] = {{0x0, 0xfffff}, {0x180000, 0x18ffff}};
  EXPECT_ERRNO(ioas->set_allowed_iovas(clash), EADDRINUSE);
  EXPECT_TRUE(ioas->allowed_iovas().empty());  // unchanged on failure
  IovaRange good[] = {{0x300000, 0x3fffff}, {0x0, 0xfffff}};
  ASSERT_OK(ioas->set_allowed_iovas(good));
  ASSERT_EQ(ioas->allowed_iovas().size(), 2u);
  EXPECT_EQ(ioas->allowed_iovas()[0].start, 0u);  // kept sorted
  EXPECT_ERRNO(ioas->add_reserved({0x380000, 0x380fff}), EADDRINUSE);
  ASSERT_OK(ioas->set_allowed_iovas({}));  // empty: everything allowed again
  EXPECT_TRUE(ioas->allowed_iovas().empty());
}

TEST(IoasMapIommufd, UnmappedProcessMemoryIsEfault) {
  auto ioas = make_ioas();
  void* p =
      ::mmap(nullptr, 3 * kHostPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(p, MAP_FAILED);
  ::munmap(static_cast<char*>(p) + kHostPage, kHostPage);  // a hole in the middle
  EXPECT_ERRNO(ioas->map(MemorySource::process(p, 3 * kHostPage), 0x10000, kFixedRW), EFAULT);
  EXPECT_EQ(ioas->area_count(), 0u);
  EXPECT_EQ(ioas->account()->locked_bytes(), 0u);
  ::munmap(p, 3 * kHostPage);
}

TEST(IoasMapIommufd, FileSourcesAreMappedByTheIoas) {
  auto ioas = make_ioas();
  UniqueFd fd(::memfd_create("uvfio-test", MFD_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::ftruncate(fd.get(), 4 * kHostPage), 0);
  ASSERT_EQ(::pwrite(fd.get(), "shared!", 7, static_cast<off_t>(kHostPage)), 7);
  ASSERT_OK(ioas->map(MemorySource::file(fd.get(), kHostPage, 2 * kHostPage), 0x40000, kFixedRW));
  // Same pages through a second mapping of the same file: counted once.
  ASSERT_OK(ioas->map(MemorySource::file(fd.get(), 0, 3 * kHostPage), 0x80000, kFixedRW));
  EXPECT_EQ(ioas->account()->locked_bytes(), 3 * kHostPage);
  fd.reset();  // the IOAS keeps its own mapping; the caller's fd may go
  EXPECT_EQ(ioas->area_count(), 2u);
  ASSERT_OK(ioas->unmap_all());
  EXPECT_EQ(ioas->account()->locked_bytes(), 0u);
  EXPECT_ERRNO(ioas->map(MemorySource::file(1000, 0, kHostPage), 0x40000, kFixedRW), EBADF);
}

TEST(IoasMapIommufd, ReadOnlyFileRefusesWritableMapping) {
  auto ioas = make_ioas();
  UniqueFd rw(::memfd_create("uvfio-ro", MFD_CLOEXEC));
  ASSERT_EQ(::ftruncate(rw.get(), kHostPage), 0);
  std::string path = "/proc/self/fd/" + std::to_string(rw.get());
  UniqueFd ro(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(ro.valid());
  EXPECT_ERRNO(ioas->map(MemorySource::file(ro.get(), 0, kHostPage), 0x1000, kFixedRW), EACCES);
  ASSERT_OK(
      ioas->map(MemorySource::file(ro.get(), 0, kHostPage), 0x1000, kMapRead | kMapFixedIova));
}

// --- limits ---

TEST(IoasLimits, MemlockExhaustionRollsBack) {
  auto ioas = make_ioas(4096, 16 * kHostPage);
  Buffer a(12 * kHostPage), b(8 * kHostPage);
  ASSERT_OK(ioas->map(a.source(), 0x100000, kFixedRW));
  EXPECT_ERRNO(ioas->map(b.source(), 0x200000, kFixedRW), ENOMEM);
  EXPECT_EQ(ioas->area_count(), 1u);
  EXPECT_EQ(ioas->account()->locked_bytes(), 12 * kHostPage);
  // The same pages again cost nothing: mapping `a` a second time succeeds at the limit.
  ASSERT_OK(ioas->map(a.source(), 0x300000, kFixedRW));
  ASSERT_OK(ioas->map(b.source(0, 4 * kHostPage), 0x200000, kFixedRW));
  EXPECT_EQ(ioas->account()->locked_bytes(), 16 * kHostPage);
  ASSERT_OK(ioas->unmap(0x100000, a.size(), Frontend::kIommufd));
  EXPECT_EQ(ioas->account()->locked_bytes(), 16 * kHostPage);  // still mapped at 0x300000
  ASSERT_OK(ioas->unmap(0x300000, a.size(), Frontend::kIommufd));
  EXPECT_EQ(ioas->account()->locked_bytes(), 4 * kHostPage);
}

TEST(IoasLimits, AccountSharedBetweenIoases) {
  auto account = MemlockAccount::create(8 * kHostPage);
  auto x = *Ioas::create({.page_size = 4096, .account = account, .max_areas = 65535});
  auto y = *Ioas::create({.page_size = 4096, .account = account, .max_areas = 65535});
  Buffer a(6 * kHostPage), b(6 * kHostPage);
  ASSERT_OK(x->map(a.source(), 0x10000, kFixedRW));
  ASSERT_OK(y->map(a.source(), 0x10000, kFixedRW));  // same pages
  EXPECT_ERRNO(y->map(b.source(), 0x40000, kFixedRW), ENOMEM);
  EXPECT_EQ(account->locked_bytes(), 6 * kHostPage);
}

TEST(IoasLimits, MappingCountLimitIsEnospc) {
  auto ioas = make_ioas(4096, MemlockAccount::kUnlimited, 3);
  Buffer b(4096);
  EXPECT_EQ(ioas->areas_available(), 3u);
  for (uint64_t i = 0; i < 3; ++i) ASSERT_OK(ioas->map(b.source(), 0x1000 * (i + 1), kFixedRW));
  EXPECT_EQ(ioas->areas_available(), 0u);
  EXPECT_ERRNO(ioas->map(b.source(), 0x10000, kFixedRW), ENOSPC);
  EXPECT_ERRNO(ioas->map(b.source(), 0x10000, kFixedRW, Frontend::kType1v2), ENOSPC);
  // type1 checks overlap before the entry limit.
  EXPECT_ERRNO(ioas->map(b.source(), 0x1000, kFixedRW, Frontend::kType1v2), EEXIST);
  ASSERT_OK(ioas->unmap(0x1000, 0x1000, Frontend::kType1v2));
  EXPECT_EQ(ioas->areas_available(), 1u);
  ASSERT_OK(ioas->map(b.source(), 0x10000, kFixedRW));
  ioas->set_max_areas(0);
  EXPECT_EQ(ioas->areas_available(), UINT32_MAX);
  EXPECT_EQ(make_ioas()->max_areas(), 65535u);  // type1's dma_entry_limit default
}

// --- type1 front end (vfio_dma_do_map) ---

TEST(IoasMapType1, ValidationErrnos) {
  for (Frontend fe : {Frontend::kType1v1, Frontend::kType1v2}) {
    auto ioas = make_ioas();
    Buffer b(64 * 1024);
    EXPECT_ERRNO(ioas->map(b.source(), 0x10000, kFixedRW | 0x80, fe), EINVAL);
    EXPECT_ERRNO(ioas->map(b.source(), 0x10000, kRW, fe), EINVAL);  // type1 cannot choose
    EXPECT_ERRNO(ioas->map(b.source(), 0x10000, kMapFixedIova, fe), EINVAL);
    EXPECT_ERRNO(ioas->map(b.source(0, 0), 0x10000, kFixedRW, fe), EINVAL);
    EXPECT_ERRNO(ioas->map(b.source(), 0x10800, kFixedRW, fe), EINVAL);
    EXPECT_ERRNO(ioas->map(b.source(0, 6000), 0x10000, kFixedRW, fe), EINVAL);
    EXPECT_ERRNO(ioas->map(b.source(512, 4096), 0x10000, kFixedRW, fe), EINVAL);
    EXPECT_ERRNO(ioas->map(b.source(), UINT64_MAX - 0xfff, kFixedRW, fe), EINVAL);  // not EOVERFLOW
    ASSERT_OK(ioas->map(b.source(), 0x10000, kFixedRW, fe));
    EXPECT_ERRNO(ioas->map(b.source(0, 4096), 0x1f000, kFixedRW, fe), EEXIST);
    ASSERT_OK(ioas->add_reserved({0xfee00000, 0xfeefffff}));
    EXPECT_ERRNO(ioas->map(b.source(0, 4096), 0xfee00000, kFixedRW, fe), EINVAL);
  }
}

// --- 2 KiB granularity (iommufd's mock domain) ---

TEST(IoasGranularity, TwoKiBPages) {
  auto ioas = make_ioas(2048);
  ASSERT_EQ(ioas->page_size(), 2048u);
  Buffer b(4 * kHostPage);
  // Half-page sources, IOVAs and lengths are all fine at 2 KiB.
  ASSERT_OK(ioas->map(b.source(2048, 2048), 0x800, kFixedRW));
  ASSERT_OK(ioas->map(b.source(2048, 6144), 0x1800, kFixedRW));
  EXPECT_ERRNO(ioas->map(b.source(1024, 2048), 0x10000, kFixedRW), EINVAL);
  EXPECT_ERRNO(ioas->map(b.source(0, 1024), 0x10000, kFixedRW), EINVAL);
  EXPECT_ERRNO(ioas->map(b.source(0, 2048), 0x10400, kFixedRW), EINVAL);
  EXPECT_ERRNO(ioas->map(b.source(0, 2048), 0x2800, kFixedRW), EEXIST);
  // Both mappings touch host page 0 and 1: host pages are counted once, whole.
  EXPECT_EQ(ioas->account()->locked_bytes(), 2 * kHostPage);
  auto areas = ioas->areas();
  ASSERT_EQ(areas.size(), 2u);
  EXPECT_EQ(areas[0].iova, 0x800u);
  EXPECT_EQ(areas[1].iova, 0x1800u);
  EXPECT_EQ(areas[1].length, 6144u);
  // Chosen IOVAs keep the source's offset within its host page, as iopt_alloc_iova does.
  auto c = ioas->map(b.source(kHostPage + 2048, 2048), 0, kRW);
  ASSERT_OK(c);
  EXPECT_EQ(*c % kHostPage, 2048u);
  // Unmap at 2 KiB boundaries.
  EXPECT_ERRNO(ioas->unmap(0x1800, 0x1000, Frontend::kIommufd), ENOENT);  // splits the second
  auto un = ioas->unmap(0x800, 0x800, Frontend::kIommufd);
  ASSERT_OK(un);
  EXPECT_EQ(*un, 2048u);
  EXPECT_ERRNO(ioas->unmap(0x1800, 0x1000, Frontend::kType1v2), EINVAL);
  EXPECT_ERRNO(ioas->unmap(0x1c00, 0x1800, Frontend::kType1v2), EINVAL);  // 1 KiB: unaligned
  auto un2 = ioas->unmap(0x1800, 0x1800, Frontend::kType1v2);
  ASSERT_OK(un2);
  EXPECT_EQ(*un2, 6144u);
  EXPECT_EQ(Ioas::create({.page_size = 3000, .account = nullptr, .max_areas = 1}).error(),
            EINVAL);  // not a power of two
  EXPECT_EQ(Ioas::create({.page_size = 512, .account = nullptr, .max_areas = 1}).error(), EINVAL);
}

// --- copy (iommufd_ioas_copy) ---

TEST(IoasCopy, SharesMemoryAcrossIoasesWithoutNewCharge) {
  auto account = MemlockAccount::create(MemlockAccount::kUnlimited);
  auto src = *Ioas::create({.page_size = 4096, .account = account, .max_areas = 65535});
  auto dst = *Ioas::create({.page_size = 4096, .account = account, .max_areas = 65535});
  Buffer a(8192, 1), b(8192, 2);
  ASSERT_OK(src->map(a.source(), 0x10000, kFixedRW));
  ASSERT_OK(src->map(b.source(), 0x12000, kMapRead | kMapFixedIova));  // adjacent, read-only
  const uint64_t charged = account->locked_bytes();

  // Spanning both areas at a partial offset: two destination areas.
  auto c = dst->copy_from(*src, 0x11000, 0x2000, 0x50000, kMapRead | kMapFixedIova);
  ASSERT_OK(c);
  EXPECT_EQ(*c, 0x50000u);
  auto areas = dst->areas();
  ASSERT_EQ(areas.size(), 2u);
  EXPECT_EQ(areas[0].length, 0x1000u);
  EXPECT_EQ(account->locked_bytes(), charged);
  // Write permission on pages the source cannot write: EPERM. (Nothing is left behind.)
  EXPECT_ERRNO(dst->copy_from(*src, 0x12000, 0x1000, 0x60000, kFixedRW), EPERM);
  EXPECT_EQ(dst->area_count(), 2u);
  // Not fully covered: ENOENT.
  EXPECT_ERRNO(dst->copy_from(*src, 0x13000, 0x2000, 0x60000, kFixedRW), ENOENT);
  EXPECT_ERRNO(dst->copy_from(*src, 0x8000, 0x1000, 0x60000, kFixedRW), ENOENT);
  // Validation.
  EXPECT_ERRNO(dst->copy_from(*src, 0x10000, 0x1000, 0x60000, kFixedRW | 0x40), EOPNOTSUPP);
  EXPECT_ERRNO(dst->copy_from(*src, 0x10000, UINT64_MAX, 0x60000, kFixedRW), EOVERFLOW);
  EXPECT_ERRNO(dst->copy_from(*src, 0x10000, 0x1000, 0x60000, kMapFixedIova), EINVAL);
  EXPECT_ERRNO(dst->copy_from(*src, 0x10000, 0, 0x60000, kFixedRW), EINVAL);
  EXPECT_ERRNO(dst->copy_from(*src, 0x10000, 0x1000, 0x50000, kMapRead | kMapFixedIova), EEXIST);
  // Into the same IOAS, at a chosen IOVA.
  auto same = src->copy_from(*src, 0x10000, 0x2000, 0, kRW);
  ASSERT_OK(same);
  EXPECT_NE(*same, 0x10000u);
  // The memory stays mapped (and charged) in the copy after the source goes.
  ASSERT_OK(src->unmap_all());
  EXPECT_EQ(account->locked_bytes(), charged);
  ASSERT_OK(dst->unmap_all());
  EXPECT_EQ(account->locked_bytes(), 0u);
}
