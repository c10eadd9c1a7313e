// OutputQueue: whole messages reach a stream socket in order, whatever the socket takes at a
// time; fds travel with their own message even when it waited in the queue; nothing blocks.
#include "vfio_user/output_queue.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "vfio_user/message_io.h"

namespace uvfio::vfio_user {
namespace {

struct Pair {
  UniqueFd server;  // non-blocking, small send buffer: the queue's side
  UniqueFd client;  // blocking reader
};

Pair make_pair() {
  int sv[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  Pair p{UniqueFd(sv[0]), UniqueFd(sv[1])};
  const int small = 4096;
  EXPECT_EQ(::setsockopt(p.server.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  EXPECT_EQ(::setsockopt(p.client.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  EXPECT_EQ(::fcntl(p.server.get(), F_SETFL, O_NONBLOCK), 0);
  return p;
}

Header reply_header(uint16_t id) {
  Header h{};
  h.msg_id = id;
  h.command = static_cast<uint16_t>(Command::kRegionRead);
  h.flags = kTypeReply;
  return h;
}

// Sends message `id` with `size` payload bytes, each byte (id + i).
int send_one(OutputQueue& q, int fd, uint16_t id, size_t size, bool hold,
             std::span<const int> fds = {}) {
  std::vector<uint8_t> body(size);
  for (size_t i = 0; i < size; ++i) body[i] = static_cast<uint8_t>(id + i);
  const std::span<const uint8_t> piece(body);
  return q.send(fd, reply_header(id), std::span(&piece, 1), fds, hold);
}

// Reads messages until `count` arrived, flushing the queue whenever the reader waits.
std::vector<Message> drain(OutputQueue& q, Pair& p, size_t count) {
  MessageReader reader(kMaxMessageSize, 8);
  std::vector<Message> got;
  for (int spins = 0; got.size() < count && spins < 100000; ++spins) {
    EXPECT_EQ(q.flush(p.server.get()), 0);
    Message m;
    if (reader.read(p.client.get(), m, 10) == MessageReader::Status::kMessage) {
      got.push_back(std::move(m));
    }
  }
  return got;
}

void expect_body(const Message& m, uint16_t id, size_t size) {
  EXPECT_EQ(m.hdr.msg_id, id);
  EXPECT_EQ(m.hdr.msg_size, sizeof(Header) + size);
  ASSERT_EQ(m.payload.size(), size);
  for (size_t i = 0; i < size; ++i) {
    ASSERT_EQ(m.payload[i], static_cast<uint8_t>(id + i)) << "message " << id << " byte " << i;
  }
}

TEST(OutputQueue, SendsDirectlyWhenTheSocketHasRoomAndQueuesNothing) {
  Pair p = make_pair();
  OutputQueue q;
  ASSERT_EQ(send_one(q, p.server.get(), 1, 100, false), 0);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.sent_total(), sizeof(Header) + 100);
  auto got = drain(q, p, 1);
  ASSERT_EQ(got.size(), 1u);
  expect_body(got[0], 1, 100);
}

TEST(OutputQueue, HeldMessagesWaitForFlushAndLeaveInOrder) {
  Pair p = make_pair();
  OutputQueue q;
  for (uint16_t id = 1; id <= 5; ++id) ASSERT_EQ(send_one(q, p.server.get(), id, 10, true), 0);
  EXPECT_EQ(q.bytes(), 5 * (sizeof(Header) + 10));
  EXPECT_EQ(q.sent_total(), 0u);
  // A message sent without hold while others wait goes behind them, not around them.
  ASSERT_EQ(send_one(q, p.server.get(), 6, 10, false), 0);
  EXPECT_FALSE(q.empty());
  auto got = drain(q, p, 6);
  ASSERT_EQ(got.size(), 6u);
  for (uint16_t id = 1; id <= 6; ++id) expect_body(got[id - 1], id, 10);
  EXPECT_TRUE(q.empty());
}

TEST(OutputQueue, AFullSocketNeverBlocksAndEveryByteArrivesLater) {
  Pair p = make_pair();
  OutputQueue q;
  // Far more than both socket buffers hold: the queue keeps the rest, the sender never waits.
  constexpr uint16_t kCount = 64;
  constexpr size_t kSize = 3000;
  for (uint16_t id = 1; id <= kCount; ++id) {
    ASSERT_EQ(send_one(q, p.server.get(), id, kSize, false), 0);
  }
  EXPECT_GT(q.bytes(), 0u);
  EXPECT_EQ(q.flush(p.server.get()), 0);  // a full socket is not an error
  auto got = drain(q, p, kCount);
  ASSERT_EQ(got.size(), kCount);
  for (uint16_t id = 1; id <= kCount; ++id) expect_body(got[id - 1], id, kSize);
  EXPECT_EQ(q.sent_total(), kCount * (sizeof(Header) + kSize));
}

TEST(OutputQueue, QueuedFdsAreDuplicatesAndArriveWithTheirOwnMessage) {
  Pair p = make_pair();
  OutputQueue q;
  ASSERT_EQ(send_one(q, p.server.get(), 1, 10, true), 0);
  int efd = ::eventfd(7, EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(send_one(q, p.server.get(), 2, 10, true, std::span(&efd, 1)), 0);
  ::close(efd);  // the caller's copy goes; the queue holds its own
  ASSERT_EQ(send_one(q, p.server.get(), 3, 10, true), 0);
  auto got = drain(q, p, 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(got[0].fds.empty());
  ASSERT_EQ(got[1].fds.size(), 1u);
  EXPECT_TRUE(got[2].fds.empty());
  uint64_t v = 0;
  ASSERT_EQ(::read(got[1].fds[0].get(), &v, sizeof v), static_cast<ssize_t>(sizeof v));
  EXPECT_EQ(v, 7u);
}

TEST(OutputQueue, ClearClosesTheDuplicatesOfUnsentFds) {
  Pair p = make_pair();
  OutputQueue q;
  int efd = ::eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(send_one(q, p.server.get(), 1, 10, true, std::span(&efd, 1)), 0);
  // The duplicate is the lowest free descriptor number after efd's; find it by the inode.
  struct stat want {};
  ASSERT_EQ(::fstat(efd, &want), 0);
  auto holders = [&] {
    int n = 0;
    for (int fd = 0; fd < 1024; ++fd) {
      struct stat st {};
      if (::fstat(fd, &st) == 0 && st.st_ino == want.st_ino && st.st_dev == want.st_dev) ++n;
    }
    return n;
  };
  EXPECT_EQ(holders(), 2);
  q.clear();
  EXPECT_EQ(holders(), 1);
  EXPECT_TRUE(q.empty());
  ::close(efd);
}

TEST(OutputQueue, RefusesMoreFdsThanOneMessageCarries) {
  Pair p = make_pair();
  OutputQueue q;
  std::vector<int> fds(254, p.client.get());
  EXPECT_EQ(send_one(q, p.server.get(), 1, 1, false, fds), -EINVAL);
  EXPECT_TRUE(q.empty());
}

TEST(OutputQueue, APeerThatClosedIsAnErrorNotAHang) {
  Pair p = make_pair();
  OutputQueue q;
  ASSERT_EQ(send_one(q, p.server.get(), 1, 10, true), 0);
  p.client.reset();
  EXPECT_EQ(q.flush(p.server.get()), -EPIPE);
  EXPECT_EQ(send_one(q, p.server.get(), 2, 10, false), 0) << "queued behind the unsent one";
  EXPECT_EQ(q.flush(p.server.get()), -EPIPE);
}

}  // namespace
}  // namespace uvfio::vfio_user
