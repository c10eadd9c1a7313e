// The vfio-user client against a scripted server on a socketpair: VERSION negotiation and what a
// client must refuse, the server's limits enforced (max_data_xfer_size splits region accesses,
// max_msg_fds splits SET_IRQS), pipelined requests answered out of order, the per-request
// timeout, a server that goes away while callers wait, the server's DMA_READ / DMA_WRITE
// answered from fd-less maps (errnos as QEMU's client), and error texts.
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "driver/vfio_user_connection.h"
#include "driver/vfio_user_target.h"
#include "driver/vfio_user_transport.h"
#include "driver_test_util.h"
#include "uvfio/base/errno_name.h"
#include "vfio_user/message_io.h"

namespace uvfio::test {
namespace {

namespace vu = vfio_user;
using driver::detail::VfioUserClientOptions;
using driver::detail::VfioUserConnection;
using driver::detail::VfioUserDeviceTransport;
using driver::detail::VfioUserPosting;
using Call = VfioUserConnection::Call;
using Clock = std::chrono::steady_clock;

constexpr const char* kTarget = "vfio-user:test.sock";

template <class T>
std::span<const uint8_t> bytes_of(const T& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof v};
}

/// The server end of a socketpair, driven by the test.
struct Server {
  UniqueFd fd;
  vu::MessageReader rd{vu::kMaxMessageSize, 64};

  /// The next message (fails the test after 5 s); hdr.command == 0 when the client closed.
  vu::Message recv(int timeout_ms = 5000) {
    vu::Message m;
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < deadline) {
      switch (rd.read(fd.get(), m, 50)) {
        case vu::MessageReader::Status::kMessage:
          return m;
        case vu::MessageReader::Status::kAgain:
          continue;
        default:
          return {};
      }
    }
    ADD_FAILURE() << "the client sent nothing within " << timeout_ms << " ms";
    return {};
  }
  void reply(const vu::Message& req, std::vector<uint8_t> payload = {},
             std::vector<UniqueFd> fds = {}) {
    vu::Message r = vu::make_reply(req.hdr);
    r.payload = std::move(payload);
    r.fds = std::move(fds);
    EXPECT_EQ(vu::send_message(fd.get(), r), 0);
  }
  void error(const vu::Message& req, int err) {
    vu::Message r = vu::make_error_reply(req.hdr, err);
    EXPECT_EQ(vu::send_message(fd.get(), r), 0);
  }
  /// Answers the client's VERSION with `json` (the capabilities object's contents).
  void version(const std::string& caps_json, uint16_t minor = 0, std::vector<UniqueFd> fds = {}) {
    vu::Message v = recv();
    ASSERT_EQ(v.hdr.command, static_cast<uint16_t>(vu::Command::kVersion));
    std::vector<uint8_t> p(sizeof(vu::VersionHead));
    const vu::VersionHead h{0, minor};
    std::memcpy(p.data(), &h, sizeof h);
    const std::string text = "{\"capabilities\":{" + caps_json + "}}";
    p.insert(p.end(), text.begin(), text.end());
    p.push_back(0);
    reply(v, std::move(p), std::move(fds));
  }
};

struct Pair {
  UniqueFd client;
  Server server;
  Pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    client.reset(sv[0]);
    server.fd.reset(sv[1]);
  }
};

VfioUserClientOptions quick(int timeout_ms = 2000, bool twin = false) {
  VfioUserClientOptions o;
  o.timeout = std::chrono::milliseconds(timeout_ms);
  o.twin_socket = twin;
  return o;
}

/// Connects a client on `p` while `script` plays the server in a thread (after VERSION with
/// `caps`).
struct Session {
  Pair p;
  std::shared_ptr<VfioUserConnection> conn;
  std::jthread server;

  Session(const std::string& caps, std::function<void(Server&)> script,
          VfioUserClientOptions o = quick()) {
    server = std::jthread([this, caps, script = std::move(script)] {
      p.server.version(caps);
      script(p.server);
    });
    conn = VfioUserConnection::adopt(std::move(p.client), kTarget, o);
  }
  ~Session() {
    if (conn) conn->close();
  }
};

std::vector<uint8_t> access_reply(const vu::Message& req, size_t data_bytes, uint8_t seed) {
  std::vector<uint8_t> out(sizeof(vu::RegionAccess));
  std::memcpy(out.data(), req.payload.data(), sizeof(vu::RegionAccess));
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<uint8_t>(seed + i));
  return out;
}

// ---- VERSION -----------------------------------------------------------------------------------

TEST(VfioUserClient, VersionSendsEveryCapabilityAndAcceptsAnOlderMinor) {
  Pair p;
  std::jthread srv([&] {
    vu::Message v = p.server.recv();
    ASSERT_EQ(v.hdr.command, static_cast<uint16_t>(vu::Command::kVersion));
    EXPECT_EQ(v.hdr.flags & vu::kTypeMask, vu::kTypeCommand);
    EXPECT_TRUE(v.fds.empty());
    const std::string_view text(reinterpret_cast<const char*>(v.payload.data()), v.payload.size());
    auto parsed = vu::parse_version_payload(text);
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed->major, 0);
    EXPECT_EQ(parsed->minor, vu::kMinor);
    const auto caps = nlohmann::json::parse(parsed->json).at("capabilities");
    for (const char* key : {"max_msg_fds", "max_data_xfer_size", "max_dma_maps", "pgsizes",
                            "write_multiple", "twin_socket"}) {
      EXPECT_TRUE(caps.contains(key)) << key << " missing in " << parsed->json;
    }
    EXPECT_EQ(caps.at("twin_socket").at("supported"), true);
    // QEMU-like answer: 0.0, no twin socket, a small transfer limit.
    std::vector<uint8_t> out(4, 0);
    const std::string j = R"({"capabilities":{"max_msg_fds":3,"max_data_xfer_size":4096}})";
    out.insert(out.end(), j.begin(), j.end());
    out.push_back(0);
    p.server.reply(v, out);
  });
  VfioUserClientOptions o = quick();
  o.twin_socket = true;
  auto conn = VfioUserConnection::adopt(std::move(p.client), kTarget, o);
  srv.join();
  EXPECT_EQ(conn->version_minor(), 0);
  EXPECT_FALSE(conn->twin_socket());
  EXPECT_EQ(conn->server().max_msg_fds, 3u);
  EXPECT_EQ(conn->max_xfer(), 4096u);
}

TEST(VfioUserClient, VersionRefusals) {
  struct Case {
    uint16_t major, minor;
    std::string caps;
    int fds;
    int err;
    const char* text;
  };
  const Case cases[] = {
      {0, 3, "", 0, EPROTO, "the server answered version 0.3"},
      {1, 0, "", 0, EPROTO, "the server answered version 1.0"},
      {0, 0, R"("max_data_xfer_size":"big")", 0, EPROTO, "max_data_xfer_size"},
      {0, 0, R"("twin_socket":{"supported":true})", 0, EPROTO, "twin_socket.fd_index absent"},
      {0, 0, R"("twin_socket":{"supported":true,"fd_index":1})", 1, EPROTO, "fd_index 1"},
  };
  for (const auto& c : cases) {
    Pair p;
    std::jthread srv([&] {
      vu::Message v = p.server.recv();
      std::vector<uint8_t> out(4);
      const vu::VersionHead h{c.major, c.minor};
      std::memcpy(out.data(), &h, 4);
      const std::string j = "{\"capabilities\":{" + c.caps + "}}";
      out.insert(out.end(), j.begin(), j.end());
      out.push_back(0);
      std::vector<UniqueFd> fds;
      for (int i = 0; i < c.fds; ++i) fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
      p.server.reply(v, out, std::move(fds));
    });
    EXPECT_DRIVER_ERROR(
        (void)VfioUserConnection::adopt(std::move(p.client), kTarget, quick(2000, true)), c.err,
        c.text);
  }
  // An error reply names VERSION and the errno.
  Pair p;
  std::jthread srv([&] { p.server.error(p.server.recv(), EINVAL); });
  EXPECT_DRIVER_ERROR((void)VfioUserConnection::adopt(std::move(p.client), kTarget, quick()),
                      EINVAL, "VERSION on vfio-user:test.sock: EINVAL (Invalid argument)");
}

TEST(VfioUserClient, TwinSocketCarriesTheServersDmaRequests) {
  Pair p;
  int twin[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, twin), 0);
  UniqueFd twin_server(twin[0]);
  std::jthread srv([&] {
    std::vector<UniqueFd> fds;
    fds.emplace_back(::eventfd(0, EFD_CLOEXEC));  // index 0: not the twin
    fds.emplace_back(twin[1]);
    p.server.version(R"("twin_socket":{"supported":true,"fd_index":1})", 2, std::move(fds));
  });
  auto conn = VfioUserConnection::adopt(std::move(p.client), kTarget, quick(2000, true));
  srv.join();
  ASSERT_TRUE(conn->twin_socket());
  alignas(4096) static uint8_t mem[4096];
  for (size_t i = 0; i < sizeof mem; ++i) mem[i] = static_cast<uint8_t>(i * 3);
  conn->fdless_maps().add(0x10000, sizeof mem, mem, true, true);
  conn->serve_fdless_dma();
  // A DMA_READ on the twin socket is answered there, with no request outstanding.
  Server ts{std::move(twin_server)};
  vu::Message rd = vu::make_command(9, vu::Command::kDmaRead);
  rd.put(vu::DmaAccess{0x10010, 8});
  ASSERT_EQ(vu::send_message(ts.fd.get(), rd), 0);
  vu::Message rep = ts.recv();
  ASSERT_EQ(rep.hdr.msg_id, 9);
  EXPECT_TRUE(rep.is_reply());
  EXPECT_FALSE(rep.is_error());
  ASSERT_EQ(rep.payload.size(), 16u + 8u);
  EXPECT_EQ(0, std::memcmp(rep.payload.data() + 16, mem + 0x10, 8));
}

// ---- requests ----------------------------------------------------------------------------------

TEST(VfioUserClient, ServerErrnoAndErrorTexts) {
  Session s("", [](Server& srv) {
    srv.error(srv.recv(), EINVAL);
    srv.error(srv.recv(), 0);  // not an errno: EINVAL, as libvfio-user reads it
  });
  Call c;
  vu::RegionAccess a{0, 0, 4};
  const std::span<const uint8_t> piece = bytes_of(a);
  EXPECT_DRIVER_ERROR(s.conn->call(c, vu::Command::kRegionRead, std::span(&piece, 1), {}, "BAR0"),
                      EINVAL,
                      "REGION_READ on vfio-user:test.sock: EINVAL (Invalid argument): BAR0");
  s.conn->start(c, vu::Command::kDeviceReset, {});
  EXPECT_EQ(s.conn->finish(c), EINVAL);
}

TEST(VfioUserClient, TimeoutFailsTheWaiterAndTheConnectionCarriesOn) {
  std::atomic<bool> answer{false};
  Session s(
      "",
      [&](Server& srv) {
        vu::Message first = srv.recv();  // never answered in time
        vu::Message second = srv.recv();
        srv.reply(first);  // late: dropped by the client
        srv.reply(second);
        answer = true;
      },
      quick(100));
  Call c;
  const auto t0 = Clock::now();
  EXPECT_DRIVER_ERROR(
      {
        s.conn->start(c, vu::Command::kDeviceReset, {});
        (void)s.conn->finish(c);
      },
      ETIMEDOUT,
      "DEVICE_RESET on vfio-user:test.sock: ETIMEDOUT (Connection timed out): no reply "
      "within the timeout (100 ms)");
  const auto waited = Clock::now() - t0;
  EXPECT_GE(waited, std::chrono::milliseconds(100));
  EXPECT_LT(waited, std::chrono::milliseconds(1000));
  s.conn->start(c, vu::Command::kDeviceReset, {});
  EXPECT_EQ(s.conn->finish(c), 0);
  EXPECT_FALSE(s.conn->closed());
  s.server.join();
  EXPECT_TRUE(answer);
}

TEST(VfioUserClient, ServerThatNeverAnswersTimesOutEveryWaiter) {
  Session s(
      "", [](Server& srv) { (void)srv.recv(); }, quick(150));
  std::vector<std::jthread> ts;
  std::atomic<int> timed_out{0};
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&] {
      Call c;
      try {
        s.conn->start(c, vu::Command::kDeviceReset, {});
        (void)s.conn->finish(c);
      } catch (const driver::Error& e) {
        if (e.error() == ETIMEDOUT) ++timed_out;
      }
    });
  }
  ts.clear();
  EXPECT_EQ(timed_out.load(), 4);
}

TEST(VfioUserClient, PipelinedRepliesInAnyOrderReachTheirCallers) {
  constexpr int kN = 16;
  Session s("", [](Server& srv) {
    std::vector<vu::Message> reqs;
    for (int i = 0; i < kN; ++i) reqs.push_back(srv.recv());
    // Answer backwards, each with the offset it asked for as data.
    for (int i = kN - 1; i >= 0; --i) {
      vu::RegionAccess a{};
      std::memcpy(&a, reqs[i].payload.data(), sizeof a);
      srv.reply(reqs[i], access_reply(reqs[i], a.count, static_cast<uint8_t>(a.offset)));
    }
  });
  std::array<Call, kN> calls;
  for (int i = 0; i < kN; ++i) {
    vu::RegionAccess a{static_cast<uint64_t>(i), 0, 4};
    const std::span<const uint8_t> piece = bytes_of(a);
    s.conn->start(calls[i], vu::Command::kRegionRead, std::span(&piece, 1));
  }
  for (int i = 0; i < kN; ++i) {
    ASSERT_EQ(s.conn->finish(calls[i]), 0);
    ASSERT_EQ(calls[i].payload().size(), 20u);
    EXPECT_EQ(calls[i].payload()[16], i);
  }
}

TEST(VfioUserClient, ThreadsPipelineAndEachGetsItsOwnReply) {
  constexpr int kThreads = 6;
  constexpr int kEach = 200;
  Session s("", [](Server& srv) {
    for (int i = 0; i < kThreads * kEach; ++i) {
      vu::Message m = srv.recv();
      if (m.hdr.command == 0) return;
      vu::RegionAccess a{};
      std::memcpy(&a, m.payload.data(), sizeof a);
      srv.reply(m, access_reply(m, a.count, static_cast<uint8_t>(a.offset)));
    }
  });
  std::vector<std::jthread> ts;
  std::atomic<int> wrong{0};
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      Call c;
      for (int i = 0; i < kEach; ++i) {
        const auto tag = static_cast<uint8_t>(t * 31 + i);
        vu::RegionAccess a{tag, 0, 2};
        const std::span<const uint8_t> piece = bytes_of(a);
        s.conn->call(c, vu::Command::kRegionRead, std::span(&piece, 1));
        if (c.payload().size() != 18 || c.payload()[16] != tag) ++wrong;
      }
    });
  }
  ts.clear();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(VfioUserClient, ServerGoingAwayFailsEveryWaiterCleanly) {
  std::atomic<int> got{0};
  Session s("", [&](Server& srv) {
    while (got < 5) {
      if (srv.recv().hdr.command == 0) return;
      ++got;
    }
    srv.fd.reset();  // the server dies with five requests outstanding
  });
  std::vector<std::jthread> ts;
  std::atomic<int> reset{0};
  for (int t = 0; t < 5; ++t) {
    ts.emplace_back([&] {
      Call c;
      try {
        s.conn->start(c, vu::Command::kDeviceReset, {});
        (void)s.conn->finish(c);
      } catch (const driver::Error& e) {
        if (e.error() == ECONNRESET &&
            std::string(e.what()).find("DEVICE_RESET on vfio-user:test.sock: ECONNRESET") == 0) {
          ++reset;
        }
      }
    });
  }
  ts.clear();
  EXPECT_EQ(reset.load(), 5);
  EXPECT_TRUE(s.conn->closed());
  // Later requests fail at once.
  Call c;
  EXPECT_DRIVER_ERROR(s.conn->start(c, vu::Command::kDeviceReset, {}), ECONNRESET,
                      "the server closed the connection");
}

// ---- the server's DMA requests -----------------------------------------------------------------

TEST(VfioUserClient, FdlessDmaIsServedWithQemusErrnos) {
  alignas(4096) static uint8_t mem[2 * 4096];
  std::memset(mem, 0, sizeof mem);
  for (size_t i = 0; i < 4096; ++i) mem[i] = static_cast<uint8_t>(i);
  struct Expect {
    vu::Command cmd;
    uint64_t addr, count;
    size_t data;  // DMA_WRITE data bytes actually sent
    int err;
    bool with_fd = false;
  };
  const std::vector<Expect> ex = {
      {vu::Command::kDmaRead, 0x100000, 16, 0, 0},
      {vu::Command::kDmaWrite, 0x101000, 8, 8, 0},
      {vu::Command::kDmaRead, 0x100ff8, 16, 0, 0},            // across two adjacent maps
      {vu::Command::kDmaRead, 0x200000, 4, 0, ENODEV},        // outside every map
      {vu::Command::kDmaRead, 0x101ffc, 8, 0, ENODEV},        // runs off the end
      {vu::Command::kDmaWrite, 0x100000, 4, 4, EPERM},        // read-only map
      {vu::Command::kDmaRead, 0x100000, 2u << 20, 0, E2BIG},  // beyond our max_data_xfer_size
      {vu::Command::kDmaWrite, 0x101000, 8, 4, E2BIG},        // less data than count
      {vu::Command::kDmaRead, 0x100000, 4, 0, EINVAL, true},  // fds attached
  };
  std::atomic<int> checked{0};
  std::atomic<bool> ready{false};
  Session s("", [&](Server& srv) {
    while (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    uint16_t id = 100;
    for (const auto& e : ex) {
      vu::Message m = vu::make_command(++id, e.cmd);
      m.put(vu::DmaAccess{e.addr, e.count});
      for (size_t i = 0; i < e.data; ++i) m.payload.push_back(0xa0);
      if (e.with_fd) m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
      EXPECT_EQ(vu::send_message(srv.fd.get(), m), 0);
      vu::Message r = srv.recv();
      EXPECT_EQ(r.hdr.msg_id, id);
      EXPECT_TRUE(r.is_reply());
      if (e.err != 0) {
        EXPECT_TRUE(r.is_error());
        EXPECT_EQ(errno_name(static_cast<int>(r.hdr.error_no)), errno_name(e.err))
            << vu::command_name(static_cast<uint16_t>(e.cmd)) << " " << std::hex << e.addr;
        EXPECT_TRUE(r.payload.empty());
      } else {
        EXPECT_FALSE(r.is_error());
        const size_t want = 16 + (e.cmd == vu::Command::kDmaRead ? e.count : 0);
        EXPECT_EQ(r.payload.size(), want);
      }
      ++checked;
    }
    // An unknown command: ENOSYS, as QEMU answers.
    vu::Message m = vu::make_command(7, vu::Command::kDeviceFeature);
    m.put(uint64_t{0});
    EXPECT_EQ(vu::send_message(srv.fd.get(), m), 0);
    vu::Message r = srv.recv();
    EXPECT_EQ(r.hdr.error_no, static_cast<uint32_t>(ENOSYS));
    ++checked;
  });
  s.conn->fdless_maps().add(0x100000, 4096, mem, /*readable=*/true, /*writable=*/false);
  s.conn->fdless_maps().add(0x101000, 4096, mem + 4096, true, true);
  s.conn->serve_fdless_dma();  // no twin: the background reader answers
  ready = true;
  s.server.join();
  EXPECT_EQ(checked.load(), static_cast<int>(ex.size()) + 1);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(mem[4096 + i], 0xa0);
  EXPECT_EQ(mem[4096 + 8], 0);
}

// ---- the device transport and the server's limits ----------------------------------------------

TEST(VfioUserClient, MaxDataXferSizeSplitsRegionAccesses) {
  std::vector<uint32_t> counts;
  std::vector<uint16_t> posted;
  Session s(R"("max_data_xfer_size":16)", [&](Server& srv) {
    for (;;) {
      vu::Message m = srv.recv();
      if (m.hdr.command == 0) return;
      vu::RegionAccess a{};
      std::memcpy(&a, m.payload.data(), sizeof a);
      counts.push_back(a.count);
      if (m.no_reply()) {
        posted.push_back(m.hdr.command);
        continue;
      }
      if (m.hdr.command == static_cast<uint16_t>(vu::Command::kRegionRead)) {
        srv.reply(m, access_reply(m, a.count, static_cast<uint8_t>(a.offset)));
      } else {
        srv.reply(m, access_reply(m, 0, 0));
      }
    }
  });
  VfioUserDeviceTransport t(s.conn, "x", VfioUserPosting::kOff);
  std::vector<uint8_t> buf(40);
  ASSERT_EQ(t.pread(buf.data(), buf.size(), 0x100), 40);
  for (size_t i = 0; i < buf.size(); ++i) {
    // Each 16-byte chunk's data starts at the low byte of its own offset.
    const size_t chunk = i / 16 * 16;
    EXPECT_EQ(buf[i], static_cast<uint8_t>(0x100 + chunk + (i - chunk))) << i;
  }
  ASSERT_EQ(t.pwrite(buf.data(), 33, (uint64_t{2} << 40) + 8), 33);
  s.conn->close();
  s.server.join();
  EXPECT_EQ(counts, (std::vector<uint32_t>{16, 16, 8, 16, 16, 1}));
  EXPECT_TRUE(posted.empty());
}

TEST(VfioUserClient, MaxMsgFdsSplitsEventfdArrays) {
  struct Seen {
    uint32_t start, count;
    size_t fds;
    uint32_t argsz;
  };
  std::vector<Seen> seen;
  Session s(R"("max_msg_fds":2)", [&](Server& srv) {
    for (;;) {
      vu::Message m = srv.recv();
      if (m.hdr.command == 0) return;
      vfio_irq_set set{};
      std::memcpy(&set, m.payload.data(), sizeof set);
      seen.push_back({set.start, set.count, m.fds.size(), set.argsz});
      srv.reply(m);
    }
  });
  VfioUserDeviceTransport t(s.conn, "x", VfioUserPosting::kOff);
  std::vector<EventFd> efds;
  std::vector<int32_t> fds;
  for (int i = 0; i < 5; ++i) {
    efds.push_back(std::move(*EventFd::create()));
    fds.push_back(efds.back().fd());
  }
  fds[2] = -1;  // a hole: de-assigned by a message without fds
  std::vector<uint8_t> buf(sizeof(vfio_irq_set) + fds.size() * 4);
  vfio_irq_set set{};
  set.argsz = static_cast<uint32_t>(buf.size());
  set.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
  set.index = VFIO_PCI_MSIX_IRQ_INDEX;
  set.start = 3;
  set.count = 5;
  std::memcpy(buf.data(), &set, sizeof set);
  std::memcpy(buf.data() + sizeof set, fds.data(), fds.size() * 4);
  EXPECT_EQ(t.ioctl(VFIO_DEVICE_SET_IRQS, buf.data()), 0);
  // A short buffer is refused before anything is sent.
  set.argsz = sizeof set + 4;
  std::memcpy(buf.data(), &set, sizeof set);
  EXPECT_EQ(t.ioctl(VFIO_DEVICE_SET_IRQS, buf.data()), -EINVAL);
  s.conn->close();
  s.server.join();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].start, 3u);
  EXPECT_EQ(seen[0].count, 2u);
  EXPECT_EQ(seen[0].fds, 2u);
  EXPECT_EQ(seen[1].start, 5u);
  EXPECT_EQ(seen[1].count, 1u);
  EXPECT_EQ(seen[1].fds, 0u);
  EXPECT_EQ(seen[2].start, 6u);
  EXPECT_EQ(seen[2].count, 2u);
  EXPECT_EQ(seen[2].fds, 2u);
  for (const auto& x : seen) EXPECT_EQ(x.argsz, sizeof(vfio_irq_set));
}

TEST(VfioUserClient, RegionAccessErrorsNameTheCommand) {
  Session s("", [](Server& srv) {
    srv.error(srv.recv(), EINVAL);
    vu::Message m = srv.recv();
    srv.reply(m, std::vector<uint8_t>(16, 0));  // a reply that does not echo the request
  });
  VfioUserDeviceTransport t(s.conn, "x", VfioUserPosting::kOff);
  uint32_t v = 0;
  EXPECT_DRIVER_ERROR((void)t.pread(&v, 4, 0x1000), EINVAL,
                      "REGION_READ on vfio-user:test.sock: EINVAL (Invalid argument): BAR0+0x1000 "
                      "(4 bytes)");
  EXPECT_DRIVER_ERROR((void)t.pread(&v, 4, 0x2000), EPROTO, "does not match the request");
}

// ---- a scripted device through the driver API: region info, mmap, posted writes ---------------

/// What the tiny device's server saw.
struct Seen {
  uint16_t cmd;
  bool no_reply;
  uint64_t offset;  // REGION_*: the access offset; GET_REGION_INFO: the request's argsz
  uint32_t count;   // REGION_*: count; REGION_WRITE_MULTI: entries
  std::vector<vu::WriteMultiEntry> entries;
};

struct SeenLog {
  std::mutex mu;
  std::vector<Seen> seen;
};

/// A device with BAR0 (4 KiB, read/write, not mappable) and, when `mappable`, BAR1 (8 KiB,
/// mappable through a memfd at the server's offset 0x3000, one sparse area [0x1000, 0x2000)),
/// answered the way libvfio-user answers: the chain and the fd only when argsz covers them.
void tiny_device(Server& srv, bool mappable, int memfd, SeenLog& log) {
  for (;;) {
    auto msg = std::make_shared<vu::Message>(srv.recv());
    const vu::Message& m = *msg;
    if (m.hdr.command == 0) return;
    Seen s{m.hdr.command, m.no_reply(), 0, 0, {}};
    // Recorded before the reply goes out, so the client sees it once it has its answer.
    std::function<void()> respond;
    switch (static_cast<vu::Command>(m.hdr.command)) {
      case vu::Command::kDeviceGetInfo: {
        vu::DeviceInfo di{16, VFIO_DEVICE_FLAGS_PCI, mappable ? 2u : 1u, 0};
        std::vector<uint8_t> out(sizeof di);
        std::memcpy(out.data(), &di, sizeof di);
        respond = [&srv, msg, out] { srv.reply(*msg, out); };
        break;
      }
      case vu::Command::kDeviceGetRegionInfo: {
        vfio_region_info req{};
        std::memcpy(&req, m.payload.data(), sizeof req);
        s.offset = req.argsz;
        vfio_region_info ri{};
        ri.index = req.index;
        ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
        ri.argsz = sizeof ri;
        ri.size = 0x1000;
        std::vector<uint8_t> out(sizeof ri);
        std::vector<UniqueFd> fds;
        if (req.index == 1) {
          ri.flags |= VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
          ri.size = 0x2000;
          ri.offset = 0x3000;
          ri.argsz = sizeof ri + 16 + 16;
          if (req.argsz >= ri.argsz) {
            ri.cap_offset = sizeof ri;
            const uint16_t hdr[2] = {VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1};
            const uint32_t next = 0;
            const uint32_t nr[2] = {1, 0};
            const uint64_t area[2] = {0x1000, 0x1000};
            out.insert(out.end(), reinterpret_cast<const uint8_t*>(hdr),
                       reinterpret_cast<const uint8_t*>(hdr) + 4);
            out.insert(out.end(), reinterpret_cast<const uint8_t*>(&next),
                       reinterpret_cast<const uint8_t*>(&next) + 4);
            out.insert(out.end(), reinterpret_cast<const uint8_t*>(nr),
                       reinterpret_cast<const uint8_t*>(nr) + 8);
            out.insert(out.end(), reinterpret_cast<const uint8_t*>(area),
                       reinterpret_cast<const uint8_t*>(area) + 16);
            fds.emplace_back(::dup(memfd));
          }
        } else if (req.index > 1) {
          respond = [&srv, msg] { srv.error(*msg, EINVAL); };
          break;
        }
        std::memcpy(out.data(), &ri, sizeof ri);
        respond = [&srv, msg, out,
                   f = std::make_shared<std::vector<UniqueFd>>(std::move(fds))]() mutable {
          srv.reply(*msg, out, std::move(*f));
        };
        break;
      }
      case vu::Command::kRegionRead:
      case vu::Command::kRegionWrite: {
        vu::RegionAccess a{};
        std::memcpy(&a, m.payload.data(), sizeof a);
        s.offset = a.offset;
        s.count = a.count;
        const bool read = m.hdr.command == static_cast<uint16_t>(vu::Command::kRegionRead);
        if (!m.no_reply()) {
          respond = [&srv, msg, out = access_reply(m, read ? a.count : 0, 0x40)] {
            srv.reply(*msg, out);
          };
        }
        break;
      }
      case vu::Command::kRegionWriteMulti: {
        vu::WriteMultiHead h{};
        std::memcpy(&h, m.payload.data(), sizeof h);
        s.count = static_cast<uint32_t>(h.wr_cnt);
        for (uint64_t i = 0; i < h.wr_cnt; ++i) {
          vu::WriteMultiEntry e{};
          std::memcpy(&e, m.payload.data() + sizeof h + i * sizeof e, sizeof e);
          s.entries.push_back(e);
        }
        if (!m.no_reply()) respond = [&srv, msg] { srv.reply(*msg); };
        break;
      }
      default:
        if (!m.no_reply()) respond = [&srv, msg] { srv.error(*msg, EINVAL); };
    }
    {
      std::lock_guard lock(log.mu);
      log.seen.push_back(std::move(s));
    }
    if (respond) respond();
  }
}

TEST(VfioUserClientDevice, MappableRegionComesWithItsFdSparseAreasAndNoPosting) {
  UniqueFd memfd(::memfd_create("tiny-bar1", MFD_CLOEXEC));
  ASSERT_TRUE(memfd.valid());
  ASSERT_EQ(::ftruncate(memfd.get(), 0x5000), 0);
  const uint32_t pattern = 0xfeedf00d;
  ASSERT_EQ(::pwrite(memfd.get(), &pattern, 4, 0x4000), 4);  // region offset 0x1000
  SeenLog log;
  Pair p;
  std::jthread srv([&] {
    p.server.version(R"("write_multiple":true)");
    tiny_device(p.server, true, memfd.get(), log);
  });
  driver::detail::VfioUserTargetOptions o;
  o.client = quick();
  {
    driver::Device dev = driver::detail::open_vfio_user_socket(std::move(p.client), kTarget, o);
    const driver::Region r1 = dev.region(1);
    const auto& bar1 = r1.info();
    EXPECT_TRUE(bar1.mmappable());
    EXPECT_EQ(bar1.offset, uint64_t{1} << 40);  // the client's layout, not the server's 0x3000
    ASSERT_TRUE(bar1.sparse_areas.has_value());
    ASSERT_EQ(bar1.sparse_areas->size(), 1u);
    EXPECT_EQ((*bar1.sparse_areas)[0].offset, 0x1000u);
    auto map = dev.region(1).map(0x1000, 0x1000);
    EXPECT_EQ(map.read32(0), pattern);  // the server's fd at its offset 0x3000 + 0x1000
    EXPECT_DRIVER_ERROR((void)dev.region(1).map(0, 0x1000), EINVAL, "not inside one mmappable");
    // A region is mappable, so writes wait for their reply (QEMU's rule).
    dev.bar(0).write32(0x10, 1);
  }
  srv.join();
  const auto& seen = log.seen;
  ASSERT_FALSE(seen.empty());
  bool asked_big = false;
  for (const auto& s : seen) {
    if (s.cmd == static_cast<uint16_t>(vu::Command::kDeviceGetRegionInfo) && s.offset >= 64) {
      asked_big = true;
    }
    if (s.cmd == static_cast<uint16_t>(vu::Command::kRegionWrite)) {
      EXPECT_FALSE(s.no_reply);
    }
  }
  EXPECT_TRUE(asked_big);
  EXPECT_EQ(seen.back().cmd, static_cast<uint16_t>(vu::Command::kRegionWrite));
}

TEST(VfioUserClientDevice, BarWritesArePostedAndLongOnesGoAsWriteMulti) {
  for (const bool posting : {true, false}) {
    SCOPED_TRACE(posting ? "posted=auto" : "posted=off");
    SeenLog log;
    Pair p;
    std::jthread srv([&] {
      p.server.version(R"("write_multiple":true)");
      tiny_device(p.server, false, -1, log);
    });
    driver::detail::VfioUserTargetOptions o;
    o.client = quick();
    o.posting = posting ? VfioUserPosting::kAuto : VfioUserPosting::kOff;
    {
      driver::Device dev = driver::detail::open_vfio_user_socket(std::move(p.client), kTarget, o);
      auto bar0 = dev.bar(0);
      {
        std::lock_guard lock(log.mu);  // what open() asked is not this test's business
        log.seen.clear();
      }
      bar0.write32(0x10, 1);
      std::vector<std::byte> in(20, std::byte{0x77});
      bar0.write_bytes(4, in);
      EXPECT_EQ(bar0.read32(0), 0x43424140u);
    }
    srv.join();
    const auto& seen = log.seen;
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0].cmd, static_cast<uint16_t>(vu::Command::kRegionWrite));
    EXPECT_EQ(seen[0].no_reply, posting);
    if (posting) {
      // Naturally aligned accesses of up to 8 bytes, as vfio-pci splits a long BAR write.
      EXPECT_EQ(seen[1].cmd, static_cast<uint16_t>(vu::Command::kRegionWriteMulti));
      EXPECT_TRUE(seen[1].no_reply);
      ASSERT_EQ(seen[1].entries.size(), 3u);
      EXPECT_EQ(seen[1].entries[0].offset, 4u);
      EXPECT_EQ(seen[1].entries[0].count, 4u);
      EXPECT_EQ(seen[1].entries[1].offset, 8u);
      EXPECT_EQ(seen[1].entries[1].count, 8u);
      EXPECT_EQ(seen[1].entries[2].offset, 16u);
      EXPECT_EQ(seen[1].entries[2].count, 8u);
      EXPECT_EQ(seen[1].entries[2].data[7], 0x77);
    } else {
      EXPECT_EQ(seen[1].cmd, static_cast<uint16_t>(vu::Command::kRegionWrite));
      EXPECT_FALSE(seen[1].no_reply);
      EXPECT_EQ(seen[1].count, 20u);
    }
    // The read comes after both writes: the server handles messages in order.
    EXPECT_EQ(seen[2].cmd, static_cast<uint16_t>(vu::Command::kRegionRead));
  }
}

}  // namespace
}  // namespace uvfio::test
