#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "base/grace_period.h"
#include "uvfio/base/errno_name.h"
#include "uvfio/base/eventfd.h"
#include "uvfio/base/log.h"
#include "uvfio/base/mapping.h"
#include "uvfio/base/result.h"
#include "uvfio/base/thread.h"
#include "uvfio/base/unique_fd.h"

using namespace uvfio;
using namespace std::chrono_literals;

TEST(ErrnoName, SymbolicNames) {
  EXPECT_EQ(errno_name(EEXIST), "EEXIST");
  EXPECT_EQ(errno_name(ENOTTY), "ENOTTY");
  EXPECT_EQ(errno_name(EOPNOTSUPP), "EOPNOTSUPP");
  EXPECT_EQ(errno_name(99999), "E99999");
  EXPECT_EQ(errno_describe(ENOENT), "ENOENT (No such file or directory)");
  EXPECT_EQ(errno_describe(99999), "E99999 (unknown error)");
}

TEST(Result, ValueAndError) {
  Result<int> ok = 5;
  Result<int> bad = Errno{EINVAL};
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 5);
  EXPECT_EQ(ok.error(), 0);
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), EINVAL);
  Result<void> v;
  EXPECT_TRUE(v.ok());
  Result<void> e = Errno{EBUSY};
  EXPECT_EQ(e.error(), EBUSY);
}

static bool fd_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

TEST(UniqueFd, ClosesOnDestructionAndMove) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    UniqueFd a(raw);
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(b.get(), raw);
    UniqueFd c = b.dup();
    EXPECT_TRUE(c.valid());
    EXPECT_NE(c.get(), raw);
    EXPECT_TRUE(fd_open(raw));
  }
  EXPECT_FALSE(fd_open(raw));
  UniqueFd d(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int kept = d.release();
  EXPECT_TRUE(fd_open(kept));
  ::close(kept);
}

TEST(Mapping, MapsAndUnmaps) {
  auto m = Mapping::anonymous(8192);
  ASSERT_TRUE(m.ok());
  void* p = m->data();
  std::memset(p, 0xab, 8192);
  Mapping moved = std::move(*m);
  EXPECT_EQ(moved.data(), p);
  unsigned char vec[2];
  EXPECT_EQ(::mincore(p, 8192, vec), 0);
  moved.reset();
  EXPECT_EQ(::mincore(p, 8192, vec), -1);  // gone
  auto bad = Mapping::map(4096, PROT_READ, MAP_SHARED, -1, 0);
  EXPECT_EQ(bad.error(), EBADF);
}

TEST(EventFd, SignalWaitTimeout) {
  auto e = EventFd::create();
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->wait(10ms).error(), ETIMEDOUT);
  EXPECT_EQ(e->signal(3), 0);
  auto got = e->wait(1000ms);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 3u);
  EXPECT_EQ(e->consume(), 0u);
  std::thread t([&] { e->signal(); });
  EXPECT_EQ(*e->wait(5000ms), 1u);
  t.join();
}

TEST(Thread, NamedAndJoinedWithStop) {
  std::atomic<bool> ran{false};
  std::atomic<bool> stopped{false};
  {
    Thread t("uvfio-test", [&](std::stop_token st) {
      char name[16] = {};
      pthread_getname_np(pthread_self(), name, sizeof name);
      ran = std::string(name) == "uvfio-test";
      while (!st.stop_requested()) std::this_thread::sleep_for(1ms);
      stopped = true;
    });
  }  // destructor requests stop and joins
  EXPECT_TRUE(ran);
  EXPECT_TRUE(stopped);
}

TEST(Log, LevelsAndParsing) {
  LogLevel l;
  EXPECT_TRUE(parse_log_level("debug", &l));
  EXPECT_EQ(l, LogLevel::kDebug);
  EXPECT_FALSE(parse_log_level("loud", &l));
  LogLevel before = log_level();
  set_log_level(LogLevel::kError);
  EXPECT_FALSE(log_enabled(LogLevel::kWarn));
  EXPECT_TRUE(log_enabled(LogLevel::kError));
  set_log_level(before);
}

TEST(GracePeriod, SynchronizeWaitsForReaders) {
  std::atomic<int> phase{0};
  std::atomic<bool> reader_done{false};
  std::thread reader([&] {
    ReadSection rs;
    phase = 1;
    while (phase.load() != 2) std::this_thread::yield();
    std::this_thread::sleep_for(50ms);
    reader_done = true;
  });
  while (phase.load() != 1) std::this_thread::yield();
  phase = 2;
  synchronize_readers();  // must not return before the reader's section ends
  EXPECT_TRUE(reader_done.load());
  reader.join();
}

TEST(GracePeriod, NestedSectionsAndNewReadersDoNotBlock) {
  {
    ReadSection a;
    ReadSection b;
    EXPECT_TRUE(in_read_section());
  }
  EXPECT_FALSE(in_read_section());
  synchronize_readers();  // no readers: returns at once
}
