// Access: device reads/writes with permission checks, pins, and the unmap callback contract.
#include "uvfio/iommu/access.h"

#include <gtest/gtest.h>

#include <vector>

#include "test_util.h"

using namespace uvfio;
using namespace uvfio::iommu;
using namespace uvfio::test;

namespace {

struct Fixture : ::testing::Test {
  void SetUp() override {
    ioas = make_ioas();
    ASSERT_OK(ioas->map(a.source(), 0x10000, kFixedRW));                   // 16 KiB RW
    ASSERT_OK(ioas->map(b.source(), 0x14000, kMapRead | kMapFixedIova));   // adjacent, RO
    ASSERT_OK(ioas->map(c.source(), 0x20000, kMapWrite | kMapFixedIova));  // WO, after a hole
    dev = Access::create([this](uint64_t iova, uint64_t len) { on_unmap(iova, len); });
    ASSERT_OK(dev->attach(ioas));
  }
  virtual void on_unmap(uint64_t iova, uint64_t len) { calls.push_back({iova, len}); }

  Buffer a{16384, 1}, b{8192, 2}, c{4096, 3};
  std::shared_ptr<Ioas> ioas;
  std::shared_ptr<Access> dev;
  std::vector<std::pair<uint64_t, uint64_t>> calls;
};

using AccessRw = Fixture;
using AccessPin = Fixture;

}  // namespace

TEST_F(AccessRw, ReadsAndWritesAcrossAdjacentAreas) {
  std::vector<uint8_t> got(0x1000);
  ASSERT_OK(dev->read(0x13800, got.data(), got.size()));  // last 2 KiB of a, first 2 KiB of b
  EXPECT_EQ(0, std::memcmp(got.data(), a.bytes() + 0x3800, 0x800));
  EXPECT_EQ(0, std::memcmp(got.data() + 0x800, b.bytes(), 0x800));
  const char msg[] = "dma";
  ASSERT_OK(dev->write(0x10ffe, msg, sizeof msg));  // unaligned, within one area
  EXPECT_EQ(0, std::memcmp(a.bytes() + 0xffe, msg, sizeof msg));
  ASSERT_OK(dev->write(0x20000, msg, sizeof msg));  // write-only area
  EXPECT_EQ(0, std::memcmp(c.bytes(), msg, sizeof msg));
}

TEST_F(AccessRw, RefusedAccessesTouchNothing) {
  std::vector<uint8_t> before(a.bytes(), a.bytes() + a.size());
  std::vector<uint8_t> junk(0x3000, 0xee);
  // Crosses into the read-only area: EPERM, and the RW part is not written either.
  EXPECT_ERRNO(dev->write(0x13000, junk.data(), 0x2000), EPERM);
  EXPECT_EQ(0, std::memcmp(before.data(), a.bytes(), a.size()));
  // Checked in address order, as the kernel walks: the read-only area comes before the hole.
  EXPECT_ERRNO(dev->write(0x10000, junk.data(), 0x8000), EPERM);
  EXPECT_EQ(0, std::memcmp(before.data(), a.bytes(), a.size()));
  // Runs off the write-only area into the hole: ENOENT, and nothing of it written.
  std::vector<uint8_t> c_before(c.bytes(), c.bytes() + c.size());
  EXPECT_ERRNO(dev->write(0x20000, junk.data(), 0x2000), ENOENT);
  EXPECT_EQ(0, std::memcmp(c_before.data(), c.bytes(), c.size()));
  EXPECT_ERRNO(dev->read(0x20000, junk.data(), 16), EPERM);  // write-only
  EXPECT_ERRNO(dev->read(0x16000, junk.data(), 16), ENOENT);
  EXPECT_ERRNO(dev->read(0x5000, junk.data(), 16), ENOENT);
  EXPECT_ERRNO(dev->read(0x10000, junk.data(), 0), EINVAL);
  EXPECT_ERRNO(dev->read(UINT64_MAX - 4, junk.data(), 16), EOVERFLOW);
  auto t = dev->translate(0x13000);
  ASSERT_OK(t);
  EXPECT_EQ(t->area_iova, 0x10000u);
  EXPECT_EQ(t->contiguous, 0x1000u);
  EXPECT_EQ(t->perm, kPermRead | kPermWrite);
  EXPECT_ERRNO(dev->translate(0x16000), ENOENT);
}

TEST_F(AccessRw, AttachDetachReplace) {
  std::vector<uint8_t> got(16);
  auto other = make_ioas();
  Buffer o(4096, 9);
  ASSERT_OK(other->map(o.source(), 0x10000, kFixedRW));
  EXPECT_ERRNO(dev->attach(other), EINVAL);  // already attached
  ASSERT_OK(dev->replace(other));
  ASSERT_OK(dev->read(0x10000, got.data(), got.size()));
  EXPECT_EQ(0, std::memcmp(got.data(), o.bytes(), got.size()));
  ASSERT_OK(dev->replace(other));  // same IOAS: no-op
  ASSERT_OK(dev->detach());
  EXPECT_ERRNO(dev->read(0x10000, got.data(), got.size()), ENOENT);
  EXPECT_ERRNO(dev->detach(), EINVAL);
  EXPECT_ERRNO(dev->replace(other), ENOENT);
  ASSERT_OK(dev->attach(ioas));
  ASSERT_OK(dev->read(0x10000, got.data(), got.size()));
  EXPECT_EQ(0, std::memcmp(got.data(), a.bytes(), got.size()));
}

TEST_F(AccessPin, PinReturnsStablePointersAndChecks) {
  auto p = dev->pin(0x12000, 0x3000, 0);  // 2 pages of a + 1 of b: two host segments
  ASSERT_OK(p);
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].host, reinterpret_cast<std::byte*>(a.bytes() + 0x2000));
  EXPECT_EQ((*p)[0].length, 0x2000u);
  EXPECT_EQ((*p)[1].host, reinterpret_cast<std::byte*>(b.bytes()));
  EXPECT_EQ(ioas->areas()[0].pins, 1u);
  EXPECT_ERRNO(dev->pin(0x13000, 0x2000, kAccessWrite), EPERM);  // b is read-only
  EXPECT_ERRNO(dev->pin(0x20000, 0x1000, 0), EPERM);             // c is write-only
  EXPECT_ERRNO(dev->pin(0x15000, 0x2000, 0), ENOENT);            // runs into the hole
  EXPECT_ERRNO(dev->pin(0x10800, 0x1000, 0), EINVAL);            // not page aligned
  EXPECT_ERRNO(dev->pin(0x10000, 0, 0), EINVAL);
  EXPECT_ERRNO(dev->pin(UINT64_MAX - 0xfff, 0x2000, 0), EOVERFLOW);
  EXPECT_EQ(dev->pin_count(), 1u);
  EXPECT_ERRNO(dev->unpin(0x12000, 0x1000), EINVAL);  // must match the pin exactly
  ASSERT_OK(dev->unpin(0x12000, 0x3000));
  EXPECT_EQ(dev->pin_count(), 0u);
  EXPECT_EQ(ioas->areas()[0].pins, 0u);
  EXPECT_ERRNO(dev->unpin(0x12000, 0x3000), EINVAL);
}

// The unmap calls the callback synchronously, while the memory is still mapped, and completes
// only after the pin is gone. During teardown new reads/pins of the area fail with EINVAL (the
// kernel's prevent_access), but pinned pointers stay valid until unpinned.
struct OrderedAccess : Fixture {
  void on_unmap(uint64_t iova, uint64_t len) override {
    Fixture::on_unmap(iova, len);
    uint8_t byte = 0;
    read_errno = dev->read(0x10000, &byte, 1).error();
    pin_errno = dev->pin(0x11000, 0x1000, 0).error();
    if (pinned != nullptr) std::memcpy(pinned, "late", 4);  // the device finishing its DMA
    if (cooperate) (void)dev->unpin(0x10000, 0x1000);
  }
  bool cooperate = true;
  std::byte* pinned = nullptr;
  int read_errno = 0, pin_errno = 0;
};

TEST_F(OrderedAccess, UnmapWaitsForTheCallbackToUnpin) {
  auto p = dev->pin(0x10000, 0x1000, kAccessWrite);
  ASSERT_OK(p);
  pinned = (*p)[0].host;
  auto r = ioas->unmap(0x10000, 0x4000, Frontend::kIommufd);
  ASSERT_OK(r);
  EXPECT_EQ(*r, 0x4000u);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], (std::pair<uint64_t, uint64_t>{0x10000, 0x4000}));  // the whole area
  EXPECT_EQ(errno_name(read_errno), "EINVAL");
  EXPECT_EQ(errno_name(pin_errno), "EINVAL");
  EXPECT_EQ(0, std::memcmp(a.bytes(), "late", 4));
  EXPECT_EQ(dev->pin_count(), 0u);
  uint8_t byte;
  EXPECT_ERRNO(dev->read(0x10000, &byte, 1), ENOENT);
}

TEST_F(OrderedAccess, AccessThatNeverUnpinsGetsEdeadlkAndKeepsItsMapping) {
  cooperate = false;
  ASSERT_OK(dev->pin(0x10000, 0x1000, 0));
  for (Frontend fe : {Frontend::kIommufd, Frontend::kType1v2, Frontend::kType1v1}) {
    calls.clear();
    EXPECT_ERRNO(ioas->unmap(0x10000, 0x4000, fe), EDEADLK);
    EXPECT_EQ(calls.size(), 100u);
  }
  EXPECT_EQ(ioas->area_count(), 3u);
  // Still fully usable afterwards: new pins and reads work, and unmap succeeds once unpinned.
  uint8_t byte;
  ASSERT_OK(dev->read(0x10000, &byte, 1));
  ASSERT_OK(dev->pin(0x11000, 0x1000, 0));
  ASSERT_OK(dev->unpin(0x11000, 0x1000));
  ASSERT_OK(dev->unpin(0x10000, 0x1000));
  ASSERT_OK(ioas->unmap(0x10000, 0x4000, Frontend::kIommufd));
}

TEST_F(AccessPin, DetachAndReplaceAskForPinsFirst) {
  ASSERT_OK(dev->pin(0x10000, 0x1000, 0));
  EXPECT_ERRNO(dev->detach(), EBUSY);  // the callback here does not unpin
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], (std::pair<uint64_t, uint64_t>{0, UINT64_MAX}));
  auto other = make_ioas();
  EXPECT_ERRNO(dev->replace(other), EBUSY);
  ASSERT_OK(dev->unpin(0x10000, 0x1000));
  ASSERT_OK(dev->replace(other));
  EXPECT_EQ(dev->ioas(), other);
}

TEST_F(AccessPin, DestroyingAnAccessDropsItsPins) {
  ASSERT_OK(dev->pin(0x10000, 0x2000, 0));
  dev.reset();
  EXPECT_EQ(ioas->areas()[0].pins, 0u);
  ASSERT_OK(ioas->unmap_all());
}
