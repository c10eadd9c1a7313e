// guarded_memcpy and device DMA into memory that vanished: a file window truncated after it was
// mapped (a vfio-user client shrinking its memfd) fails the DMA instead of killing the process.
#include "base/bus_error_guard.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "test_util.h"
#include "uvfio/base/unique_fd.h"
#include "uvfio/iommu/access.h"

using namespace uvfio;
using namespace uvfio::iommu;
using namespace uvfio::test;

namespace {

UniqueFd memfd(size_t size) {
  UniqueFd fd(::memfd_create("uvfio-test", MFD_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
  return fd;
}

TEST(BusErrorGuard, CopiesNormally) {
  std::vector<char> a(100, 'x'), b(100, 0);
  EXPECT_TRUE(guarded_memcpy(b.data(), a.data(), a.size()));
  EXPECT_EQ(a, b);
}

TEST(BusErrorGuard, TruncatedMappingFailsTheCopyAndTheProcessLives) {
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  UniqueFd fd = memfd(4 * page);
  void* p = ::mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  ASSERT_NE(p, MAP_FAILED);
  std::vector<char> buf(2 * page, 'y');
  EXPECT_TRUE(guarded_memcpy(p, buf.data(), buf.size()));
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(page)), 0);
  // The first page is still there, the rest raises SIGBUS.
  EXPECT_TRUE(guarded_memcpy(buf.data(), p, page));
  EXPECT_FALSE(guarded_memcpy(buf.data(), p, 2 * page));
  EXPECT_FALSE(guarded_memcpy(static_cast<char*>(p) + 2 * page, buf.data(), page));
  // And again: the handler stays usable after a jump.
  EXPECT_FALSE(guarded_memcpy(buf.data(), static_cast<char*>(p) + 3 * page, 8));
  EXPECT_TRUE(guarded_memcpy(buf.data(), p, 8));
  ::munmap(p, 4 * page);
}

TEST(BusErrorGuard, DeviceDmaIntoATruncatedFileIsAFault) {
  UniqueFd fd = memfd(0x4000);
  auto ioas = make_ioas();
  ASSERT_OK(ioas->map(MemorySource::file(fd.get(), 0, 0x4000), 0x10000, kFixedRW));
  auto dev = Access::create([](uint64_t, uint64_t) {});
  ASSERT_OK(dev->attach(ioas));
  std::vector<uint8_t> data(0x2000, 0x5a);
  ASSERT_OK(dev->write(0x10000, data.data(), data.size()));
  ASSERT_EQ(::ftruncate(fd.get(), 0), 0);
  EXPECT_ERRNO(dev->write(0x10000, data.data(), data.size()), EFAULT);
  EXPECT_ERRNO(dev->read(0x11000, data.data(), 16), EFAULT);
}

}  // namespace
