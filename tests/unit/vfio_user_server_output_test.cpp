// vfio-user server: replies that cannot reach the client. The replies to a burst of pipelined
// requests leave together; when that send fails (the client shut its read side, or went away
// with its requests in flight) the session must end — the loop must not keep serving a client
// nothing reaches — and the device must serve the next client. Written against what a client
// and Server::stats() see, not against how the server gathers its output.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdint>
#include <vector>

#include "vfio_user_server_fixture.h"

namespace uvfio::test {
namespace {

namespace reg = devices::edu_reg;

constexpr int kBurst = 32;

// kBurst pipelined REGION_READs of edu's identification register, as one write's bytes.
std::vector<uint8_t> read_burst() {
  std::vector<uint8_t> burst;
  for (int i = 0; i < kBurst; ++i) {
    const auto m = command_bytes(static_cast<uint16_t>(1000 + i), Command::kRegionRead,
                                 region_access(kBar0, reg::kIdentification, 4));
    burst.insert(burst.end(), m.begin(), m.end());
  }
  return burst;
}

class OutputTest : public ServedDeviceTest {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.io_timeout_ms = 1000;
    serve(o);
  }
  // The device, after the last client's session ended, serves a new one from scratch.
  void expect_next_client_served() {
    reconnect();
    negotiate();
    EXPECT_EQ(c().read_reg(kBar0, reg::kIdentification), 0x010000edu);
    // Pipelined replies reach this client, all of them.
    const auto burst = read_burst();
    c().send_raw(burst.data(), burst.size());
    for (int i = 0; i < kBurst; ++i) {
      auto r = c().wait_reply(static_cast<uint16_t>(1000 + i));
      ASSERT_TRUE(r) << "reply " << i;
      ASSERT_FALSE(r->is_error()) << "reply " << i;
    }
    EXPECT_TRUE(server_->client_connected(id_));
  }
};

TEST_F(OutputTest, AClientThatShutItsReadSideLosesItsSessionOnTheNextReplies) {
  negotiate();
  EXPECT_EQ(c().read_reg(kBar0, reg::kIdentification), 0x010000edu);
  const uint64_t messages_before = server_->stats().messages;
  // The client can still write but no longer receive: the server's sends fail (EPIPE) while
  // its reads go on, and it never sees an end of stream.
  ASSERT_EQ(::shutdown(c().fd(), SHUT_RD), 0);
  const auto burst = read_burst();
  c().send_raw(burst.data(), burst.size());
  EXPECT_TRUE(disconnected()) << "the session goes on although no reply can reach its client";
  EXPECT_EQ(server_->stats().disconnects, 1u);
  EXPECT_GT(server_->stats().messages, messages_before);  // the burst was read and handled
  // The server closed its end: what the client writes now has no reader.
  EXPECT_TRUE(eventually([&] {
    const char byte = 0;
    return ::send(c().fd(), &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EPIPE;
  }));
  expect_next_client_served();
  EXPECT_EQ(server_->stats().disconnects, 1u);
}

TEST_F(OutputTest, AClientThatLeavesWithRepliesPendingEndsItsSessionCleanly) {
  negotiate();
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    // A burst, then gone before a reply could be read: whether the server first fails to send
    // or first reads the end of the stream, the session ends (and no SIGPIPE kills the test).
    const auto burst = read_burst();
    c().send_raw(burst.data(), burst.size());
    c().close();
    ASSERT_TRUE(disconnected());
    EXPECT_EQ(server_->stats().disconnects, static_cast<uint64_t>(round + 1));
    expect_next_client_served();
  }
}

}  // namespace
}  // namespace uvfio::test
