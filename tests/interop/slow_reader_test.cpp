// A client that sends commands but stops reading the replies: the server stops reading from it
// (bounded memory), keeps serving every other device of the process without delay, and ends
// only that client's session once its replies have been stuck for --io-timeout-ms.
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "interop_fixture.h"

namespace uvfio::interop {
namespace {

namespace vu = uvfio::vfio_user;
using Clock = std::chrono::steady_clock;

constexpr const char* kStuckLog = "read none of its replies";

// The bytes of a 256-byte config space REGION_READ with id `id` (its reply is ~290 bytes, so the
// replies outgrow what the requests took).
std::vector<uint8_t> config_read_bytes(uint16_t id) {
  vu::Message m = req::region_read(VFIO_PCI_CONFIG_REGION_INDEX, 0, 256);
  m.hdr.msg_id = id;
  m.hdr.msg_size = static_cast<uint32_t>(sizeof(vu::Header) + m.payload.size());
  std::vector<uint8_t> out(m.hdr.msg_size);
  std::memcpy(out.data(), &m.hdr, sizeof(vu::Header));
  std::memcpy(out.data() + sizeof(vu::Header), m.payload.data(), m.payload.size());
  return out;
}

// Connects to `path` (retrying while the server binds its sockets) and negotiates.
RawClient connect_to(const std::string& path) {
  const auto deadline = Clock::now() + 5s;
  for (;;) {
    auto c = RawClient::connect(path);
    if (c) {
      auto v = c->version();
      if (!v || reply_errno(*v) != 0) throw std::runtime_error("VERSION failed on " + path);
      return std::move(*c);
    }
    if (Clock::now() > deadline) throw std::runtime_error("cannot connect to " + path);
    std::this_thread::sleep_for(10ms);
  }
}

// Sends commands on `c` without reading a reply until the socket refuses more (the server
// stopped reading them because the replies it holds are not read): true, or false if it kept
// reading for 10 s.
bool flood_until_refused(RawClient& c) {
  const auto deadline = Clock::now() + 10s;
  std::vector<uint8_t> pending;
  auto send_some = [&] {
    const ssize_t n = ::send(c.fd(), pending.data(), pending.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) pending.erase(pending.begin(), pending.begin() + n);
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);  // false: refused
  };
  while (Clock::now() < deadline) {
    if (pending.empty()) pending = config_read_bytes(c.next_id());
    if (send_some()) continue;
    // Give the server a moment to read; still refused afterwards means it stopped.
    std::this_thread::sleep_for(200ms);
    if (!send_some()) return true;
  }
  return false;
}

class SlowReader : public InteropTest {
 protected:
  void SetUp() override {
    // Two edu devices in one process: the test's socket and a second one in `other_`.
    start(kFastEdu, {"--io-timeout-ms", "6000", kFastEdu, "--socket", other_.file("b.sock")});
  }
  TempDir other_;
};

TEST_F(SlowReader, StallsOnlyItselfAndLosesItsSessionAfterTheTimeout) {
  RawClient stuck = client();
  RawClient other = connect_to(other_.file("b.sock"));

  ASSERT_TRUE(flood_until_refused(stuck)) << server().log();

  // The other device answers at once, while the stuck session is still alive (the server has
  // not given up on it yet: its 6 s have not passed). A loop that waited for the stuck client
  // would answer only after those 6 s.
  const auto refused_at = Clock::now();
  for (int i = 0; i < 20; ++i) expect_serving(other, "a client on another device stopped reading");
  EXPECT_LT(Clock::now() - refused_at, 4s) << "the other device waited for the stuck client";
  EXPECT_EQ(server().log().find(kStuckLog), std::string::npos)
      << "the other device was served only after the stuck session ended:\n"
      << server().log();

  // Then the stuck session ends; its socket serves the next client.
  EXPECT_TRUE(server().wait_for_log(kStuckLog, 10s)) << server().log();
  EXPECT_TRUE(stuck.wait_closed(10s)) << "the stuck client's connection was not closed";
  expect_new_client_served("a client that stopped reading");
  expect_serving(other, "the stuck session ended");
}

TEST_F(SlowReader, AStuckClientThatHangsUpLosesItsSessionAtOnce) {
  {
    RawClient stuck = client();
    ASSERT_TRUE(flood_until_refused(stuck)) << server().log();
  }  // closed with its replies unread and its commands unhandled
  // The session ends on the hang-up, well before the 6 s io timeout would end it: within 3 s a
  // new client is served (one client per socket: while the old session lives, a new one is
  // refused).
  const auto deadline = Clock::now() + 3s;
  bool served = false;
  while (!served && Clock::now() < deadline) {
    auto c = RawClient::connect(server().socket_path());
    ASSERT_TRUE(c.ok()) << errno_text(c.error());
    auto v = c->version();
    served = v.ok() && reply_errno(*v) == 0;
    if (!served) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(served) << "the hung-up session still held the socket\n" << server().log();
  EXPECT_EQ(server().log().find(kStuckLog), std::string::npos) << server().log();
  expect_new_client_served("a stuck client hung up");
}

TEST_F(SlowReader, AClientThatReadsLateGetsEveryReplyInOrder) {
  RawClient c = client();
  // More replies than the socket buffer holds, read only after all were sent: they wait in the
  // server's queue (input paused, not dropped) and arrive complete and in order.
  constexpr int kCount = 1500;
  std::vector<uint8_t> burst;
  for (int i = 0; i < kCount; ++i) {
    const auto b = config_read_bytes(c.next_id());
    burst.insert(burst.end(), b.begin(), b.end());
  }
  std::thread sender([&] { (void)c.send_bytes(burst); });
  std::this_thread::sleep_for(500ms);  // the server fills the socket and queues the rest
  int got = 0;
  uint16_t expect_id = 1;  // client() used id 1 for VERSION; the reads are 2.. (next_id)
  for (; got < kCount; ++got) {
    auto m = c.receive(5s);
    if (!m) break;
    ++expect_id;
    ASSERT_EQ(m->hdr.msg_id, expect_id) << "reply " << got;
    ASSERT_EQ(reply_errno(*m), 0) << "reply " << got;
    ASSERT_EQ(req::read_value32(*m), 0x11e81234u) << "reply " << got;
  }
  sender.join();
  EXPECT_EQ(got, kCount) << server().log();
  expect_serving(c, "a burst read late");
}

}  // namespace
}  // namespace uvfio::interop
