// vfio-user framing and VERSION capabilities: whole messages with their fds over a real
// socketpair, reassembly of split and coalesced streams, framing errors, strict JSON parsing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>
#include <vector>

#include "vfio_user/capabilities.h"
#include "vfio_user/message_io.h"

namespace uvfio::vfio_user {
namespace {

struct Pair {
  UniqueFd a, b;
  Pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

Message command(uint16_t id, Command c, std::vector<uint8_t> payload) {
  Message m = make_command(id, c);
  m.payload = std::move(payload);
  return m;
}

TEST(VfioUserMessage, RoundTripWithFds) {
  Pair p;
  Message m = command(7, Command::kDmaMap, std::vector<uint8_t>(32, 0xab));
  m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  ASSERT_EQ(send_message(p.a.get(), m), 0);
  EXPECT_EQ(m.hdr.msg_size, 48u);
  MessageReader r;
  Message got;
  ASSERT_EQ(r.read(p.b.get(), got, 1000), MessageReader::Status::kMessage);
  EXPECT_EQ(got.hdr.msg_id, 7);
  EXPECT_EQ(got.hdr.command, static_cast<uint16_t>(Command::kDmaMap));
  EXPECT_EQ(got.hdr.msg_size, 48u);
  EXPECT_EQ(got.payload, std::vector<uint8_t>(32, 0xab));
  ASSERT_EQ(got.fds.size(), 2u);
  EXPECT_FALSE(got.fds_truncated);
  // The received fd is a working duplicate of the sent eventfd.
  uint64_t one = 1;
  ASSERT_EQ(::write(got.fds[0].get(), &one, 8), 8);
  uint64_t v = 0;
  ASSERT_EQ(::read(m.fds[0].get(), &v, 8), 8);
  EXPECT_EQ(v, 1u);
  EXPECT_EQ(r.read(p.b.get(), got, 0), MessageReader::Status::kAgain);
}

TEST(VfioUserMessage, CoalescedMessagesKeepTheirOwnFds) {
  Pair p;
  Message a = command(1, Command::kRegionRead, std::vector<uint8_t>(16, 1));
  Message b = command(2, Command::kDeviceSetIrqs, std::vector<uint8_t>(20, 2));
  b.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  Message c = command(3, Command::kRegionRead, std::vector<uint8_t>(16, 3));
  ASSERT_EQ(send_message(p.a.get(), a), 0);
  ASSERT_EQ(send_message(p.a.get(), b), 0);
  ASSERT_EQ(send_message(p.a.get(), c), 0);
  MessageReader r;
  std::vector<Message> got(3);
  for (auto& g : got) ASSERT_EQ(r.read(p.b.get(), g, 1000), MessageReader::Status::kMessage);
  EXPECT_EQ(got[0].hdr.msg_id, 1);
  EXPECT_TRUE(got[0].fds.empty());
  EXPECT_EQ(got[1].hdr.msg_id, 2);
  EXPECT_EQ(got[1].fds.size(), 1u);
  EXPECT_EQ(got[2].hdr.msg_id, 3);
  EXPECT_TRUE(got[2].fds.empty());
  EXPECT_EQ(got[2].payload, std::vector<uint8_t>(16, 3));
}

TEST(VfioUserMessage, SplitStreamIsReassembled) {
  Pair p;
  Message m = command(9, Command::kRegionWrite, std::vector<uint8_t>(100, 5));
  Header h = m.hdr;
  h.msg_size = 116;
  std::vector<uint8_t> wire(sizeof(h) + m.payload.size());
  std::memcpy(wire.data(), &h, sizeof(h));
  std::memcpy(wire.data() + sizeof(h), m.payload.data(), m.payload.size());
  MessageReader r;
  Message got;
  ASSERT_EQ(::write(p.a.get(), wire.data(), 10), 10);  // half a header
  EXPECT_EQ(r.read(p.b.get(), got, 0), MessageReader::Status::kAgain);
  EXPECT_TRUE(r.partial());
  ASSERT_EQ(::write(p.a.get(), wire.data() + 10, 50), 50);
  EXPECT_EQ(r.read(p.b.get(), got, 0), MessageReader::Status::kAgain);
  ASSERT_EQ(::write(p.a.get(), wire.data() + 60, wire.size() - 60), 56);
  ASSERT_EQ(r.read(p.b.get(), got, 1000), MessageReader::Status::kMessage);
  EXPECT_EQ(got.payload, m.payload);
  EXPECT_FALSE(r.partial());
}

TEST(VfioUserMessage, FramingErrorsAreReported) {
  {
    Pair p;
    Header h{1, 9, 8, 0, 0};  // msg_size below the header
    ASSERT_EQ(::write(p.a.get(), &h, sizeof(h)), 16);
    MessageReader r;
    Message got;
    ASSERT_EQ(r.read(p.b.get(), got, 1000), MessageReader::Status::kError);
    EXPECT_EQ(r.error(), -EMSGSIZE);
    EXPECT_EQ(r.header().msg_id, 1);
    r.resync(p.b.get());
    // A well-formed message after the resync reads cleanly.
    Message ok = command(2, Command::kDeviceReset, {});
    ASSERT_EQ(send_message(p.a.get(), ok), 0);
    ASSERT_EQ(r.read(p.b.get(), got, 1000), MessageReader::Status::kMessage);
    EXPECT_EQ(got.hdr.msg_id, 2);
  }
  {
    Pair p;
    Header h{1, 9, kMaxMessageSize + 1, 0, 0};
    ASSERT_EQ(::write(p.a.get(), &h, sizeof(h)), 16);
    MessageReader r;
    Message got;
    ASSERT_EQ(r.read(p.b.get(), got, 1000), MessageReader::Status::kError);
    EXPECT_EQ(r.error(), -EMSGSIZE);
  }
  {
    Pair p;  // the stream ends inside a message
    Header h{1, 9, 40, 0, 0};
    ASSERT_EQ(::write(p.a.get(), &h, sizeof(h)), 16);
    p.a.reset();
    MessageReader r;
    Message got;
    ASSERT_EQ(r.read(p.b.get(), got, 1000), MessageReader::Status::kError);
    EXPECT_EQ(r.error(), -EPROTO);
  }
  {
    Pair p;  // EOF at a boundary
    p.a.reset();
    MessageReader r;
    Message got;
    EXPECT_EQ(r.read(p.b.get(), got, 1000), MessageReader::Status::kClosed);
  }
}

TEST(VfioUserMessage, TooManyFdsAreFlaggedAndClosed) {
  Pair p;
  Message m = command(4, Command::kDeviceSetIrqs, std::vector<uint8_t>(20, 0));
  for (int i = 0; i < 4; ++i) m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  ASSERT_EQ(send_message(p.a.get(), m), 0);
  MessageReader r(kMaxMessageSize, 2);
  Message got;
  ASSERT_EQ(r.read(p.b.get(), got, 1000), MessageReader::Status::kMessage);
  EXPECT_TRUE(got.fds_truncated);
  EXPECT_LE(got.fds.size(), 2u);
}

TEST(VfioUserMessage, LargeMessagePastTheSocketBuffer) {
  Pair p;
  const size_t n = 1 << 20;
  std::vector<uint8_t> big(n);
  for (size_t i = 0; i < n; ++i) big[i] = static_cast<uint8_t>(i * 7);
  Message m = command(5, Command::kRegionWrite, big);
  std::thread reader_thread;
  Message got;
  MessageReader::Status st{};
  reader_thread = std::thread([&] {
    MessageReader r;
    st = r.read(p.b.get(), got, 5000);
  });
  EXPECT_EQ(send_message(p.a.get(), m, 5000), 0);
  reader_thread.join();
  ASSERT_EQ(st, MessageReader::Status::kMessage);
  EXPECT_EQ(got.payload, big);
}

TEST(VfioUserCapabilities, ParseAndDefaults) {
  auto none = parse_capabilities("");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->max_msg_fds, 1u);
  EXPECT_EQ(none->max_data_xfer_size, 1u << 20);
  auto q = parse_capabilities(
      R"({"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,"pgsizes":4096,)"
      R"("max_dma_maps":65535,"write_multiple":true,)"
      R"("migration":{"pgsize":4096,"max_bitmap_size":268435456}}})");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->max_msg_fds, 16u);
  EXPECT_TRUE(q->write_multiple);
  EXPECT_EQ(q->migration_pgsize, 4096u);
  EXPECT_FALSE(q->twin_socket);
  auto t =
      parse_capabilities(R"({"capabilities":{"twin_socket":{"supported":true,"fd_index":0}}})");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->twin_socket);
  EXPECT_EQ(t->twin_fd_index, 0u);
}

TEST(VfioUserCapabilities, StrictTypesAndRanges) {
  std::string why;
  for (const char* bad : {
           R"({"capabilities":{"max_msg_fds":"8"}})",
           R"({"capabilities":{"max_msg_fds":8.5}})",
           R"({"capabilities":{"max_msg_fds":-1}})",
           R"({"capabilities":{"max_msg_fds":100000}})",
           R"({"capabilities":{"max_data_xfer_size":0}})",
           R"({"capabilities":{"pgsizes":1024}})",
           R"({"capabilities":{"twin_socket":{"supported":1}}})",
           R"({"capabilities":{"twin_socket":{"fd_index":0}}})",
           R"({"capabilities":[]})",
           R"([1,2])",
           R"({"capabilities":)",
       }) {
    why.clear();
    auto r = parse_capabilities(bad, &why);
    EXPECT_EQ(r.error(), EINVAL) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(VfioUserCapabilities, JsonRoundTrip) {
  Capabilities c;
  c.max_msg_fds = 8;
  c.max_data_xfer_size = 65536;
  c.twin_socket = true;
  c.twin_fd_index = 0;
  c.write_multiple = true;
  auto back = parse_capabilities(to_json(c));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->max_msg_fds, 8u);
  EXPECT_EQ(back->max_data_xfer_size, 65536u);
  EXPECT_TRUE(back->twin_socket);
  EXPECT_EQ(back->twin_fd_index, 0u);
  EXPECT_TRUE(back->write_multiple);
}

TEST(VfioUserCapabilities, VersionPayload) {
  std::string p("\0\0\2\0{}\0", 7);
  auto v = parse_version_payload(p);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->major, 0);
  EXPECT_EQ(v->minor, 2);
  EXPECT_EQ(v->json, "{}");
  EXPECT_EQ(parse_version_payload(std::string("\0\0", 2)).error(), EINVAL);
  EXPECT_EQ(parse_version_payload(std::string("\0\0\0\0{}", 6)).error(), EINVAL);
  EXPECT_EQ(parse_version_payload(std::string("\0\0\0\0{\0}\0", 8)).error(), EINVAL);
  EXPECT_TRUE(parse_version_payload(std::string("\0\0\0\0", 4)).ok());
}

}  // namespace
}  // namespace uvfio::vfio_user
