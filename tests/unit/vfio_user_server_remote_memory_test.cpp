// The IOAS's remote memory (MemorySource::remote), which the vfio-user server uses for client
// windows mapped without an fd: device reads and writes become callbacks with the right offsets,
// ranges mixing local and remote areas work, pins are refused, errors reach the device.
#include <gtest/gtest.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "test_util.h"
#include "uvfio/iommu/access.h"
#include "uvfio/iommu/remote_memory.h"

namespace uvfio::test {
namespace {

// Remote memory backed by a vector, recording its calls.
class FakeRemote : public iommu::RemoteMemory {
 public:
  explicit FakeRemote(size_t size) : bytes(size) {
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i * 3 + 1);
  }
  int read(uint64_t offset, void* dst, size_t len) override {
    std::lock_guard lk(mu);
    calls.push_back({false, offset, len});
    if (fail) return -EIO;
    std::memcpy(dst, bytes.data() + offset, len);
    return 0;
  }
  int write(uint64_t offset, const void* src, size_t len) override {
    std::lock_guard lk(mu);
    calls.push_back({true, offset, len});
    if (fail) return -EIO;
    std::memcpy(bytes.data() + offset, src, len);
    return 0;
  }
  struct Call {
    bool write;
    uint64_t offset;
    size_t len;
  };
  std::mutex mu;
  std::vector<uint8_t> bytes;
  std::vector<Call> calls;
  bool fail = false;
};

TEST(RemoteMemory, AccessesBecomeCallbacksAtTheRightOffsets) {
  auto account = iommu::MemlockAccount::create(iommu::MemlockAccount::kUnlimited);
  auto ioas = *iommu::Ioas::create({.page_size = 4096, .account = account, .max_areas = 0});
  auto remote = std::make_shared<FakeRemote>(0x4000);
  ASSERT_OK(ioas->map(iommu::MemorySource::remote(remote, 0x4000), 0x10000, kFixedRW));
  EXPECT_EQ(account->locked_bytes(), 0u);  // nothing pinned, nothing charged
  auto access = iommu::Access::create();
  ASSERT_OK(access->attach(ioas));
  uint8_t buf[64];
  ASSERT_OK(access->read(0x11008, buf, sizeof buf));
  EXPECT_EQ(std::memcmp(buf, remote->bytes.data() + 0x1008, sizeof buf), 0);
  std::memset(buf, 0xab, sizeof buf);
  ASSERT_OK(access->write(0x13ff0, buf, 16));
  EXPECT_EQ(remote->bytes[0x3ff0], 0xab);
  ASSERT_EQ(remote->calls.size(), 2u);
  EXPECT_EQ(remote->calls[0].offset, 0x1008u);
  EXPECT_TRUE(remote->calls[1].write);
  EXPECT_EQ(remote->calls[1].offset, 0x3ff0u);
  // Out of the window: nothing called.
  EXPECT_ERRNO(access->read(0x14000, buf, 1), ENOENT);
  EXPECT_EQ(remote->calls.size(), 2u);
  // Pinning has no host page to hold.
  EXPECT_ERRNO(access->pin(0x10000, 0x1000, 0), EFAULT);
  // The callback's error is the device's.
  remote->fail = true;
  EXPECT_ERRNO(access->read(0x10000, buf, 4), EIO);
  (void)access->detach();
}

TEST(RemoteMemory, RangesMixingLocalAndRemoteAreas) {
  auto ioas = make_ioas();
  Buffer local(0x2000, 9);
  auto remote = std::make_shared<FakeRemote>(0x2000);
  ASSERT_OK(ioas->map(local.source(), 0x20000, kFixedRW));
  ASSERT_OK(ioas->map(iommu::MemorySource::remote(remote, 0x2000), 0x22000, kFixedRW));
  auto access = iommu::Access::create();
  ASSERT_OK(access->attach(ioas));
  std::vector<uint8_t> buf(0x1000);
  ASSERT_OK(access->read(0x21800, buf.data(), buf.size()));  // half local, half remote
  EXPECT_EQ(std::memcmp(buf.data(), local.bytes() + 0x1800, 0x800), 0);
  EXPECT_EQ(std::memcmp(buf.data() + 0x800, remote->bytes.data(), 0x800), 0);
  std::vector<uint8_t> in(0x1000, 0x5c);
  ASSERT_OK(access->write(0x21800, in.data(), in.size()));
  EXPECT_EQ(local.bytes()[0x1fff], 0x5c);
  EXPECT_EQ(remote->bytes[0x7ff], 0x5c);
  EXPECT_EQ(remote->bytes[0x800], static_cast<uint8_t>(0x800 * 3 + 1));
  // A copy of the remote window into another IOAS reaches the same memory.
  auto other = make_ioas();
  ASSERT_OK(other->copy_from(*ioas, 0x22000, 0x2000, 0x80000, kFixedRW));
  auto a2 = iommu::Access::create();
  ASSERT_OK(a2->attach(other));
  uint8_t b = 0;
  ASSERT_OK(a2->read(0x80000, &b, 1));
  EXPECT_EQ(b, 0x5c);
  (void)a2->detach();
  (void)access->detach();
}

}  // namespace
}  // namespace uvfio::test
