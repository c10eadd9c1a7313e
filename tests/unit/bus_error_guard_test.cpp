// guarded_memcpy and device DMA into memory that vanished: a file window truncated after it was
// mapped (a vfio-user client shrinking its memfd) fails the DMA instead of killing the process;
// a SIGBUS that no guarded copy raised still kills it.
#include "base/bus_error_guard.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>
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
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
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

// For a death test's child: a page whose file vanished (a 2-page mapping of a file cut to one
// page), so touching it raises SIGBUS; the child dumps no core when it dies of it. Exits with 2
// if it cannot be made. The page before it is still there.
char* vanished_page() {
  const rlimit no_core{0, 0};
  (void)::setrlimit(RLIMIT_CORE, &no_core);
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  UniqueFd fd = memfd(2 * page);
  void* p = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED || ::ftruncate(fd.get(), static_cast<off_t>(page)) != 0) std::_Exit(2);
  return static_cast<char*>(p) + page;
}

// Death test children. After a guarded copy's SIGBUS was turned into a failure (so the handler
// is in place), an ordinary access to the vanished page, which no guarded copy made.
void touch_after_a_failed_guarded_copy() {
  char* gone = vanished_page();
  char buf[8];
  if (guarded_memcpy(buf, gone, sizeof buf)) std::_Exit(3);
  *static_cast<volatile char*>(gone) = 1;
  std::_Exit(0);
}

// The same access while another thread is almost always inside a guarded copy (of memory that
// stays): the guard is that thread's, not this one's.
void touch_while_another_thread_copies_guarded() {
  char* gone = vanished_page();
  std::vector<char> from(size_t{32} << 20, 'a');
  std::vector<char> to(from.size());
  std::atomic<bool> copying{false};
  std::thread([&] {
    for (;;) {
      if (!guarded_memcpy(to.data(), from.data(), from.size())) std::_Exit(3);
      copying.store(true);  // after a whole copy: the handler is surely installed
    }
  }).detach();
  while (!copying.load()) std::this_thread::yield();
  *static_cast<volatile char*>(gone) = 1;
  std::_Exit(0);
}

// The SIGBUS handler guarded_memcpy installs is process-wide: a SIGBUS no guarded copy raised
// must still kill the process, as it would have without uvfio (and not jump into a copy on
// another thread).
class BusErrorGuardDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(BusErrorGuardDeathTest, ASigbusOutsideAGuardedCopyStillKills) {
  EXPECT_EXIT(touch_after_a_failed_guarded_copy(), ::testing::KilledBySignal(SIGBUS), "");
}

TEST_F(BusErrorGuardDeathTest, ASigbusWhileAnotherThreadCopiesGuardedStillKills) {
  EXPECT_EXIT(touch_while_another_thread_copies_guarded(), ::testing::KilledBySignal(SIGBUS), "");
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
