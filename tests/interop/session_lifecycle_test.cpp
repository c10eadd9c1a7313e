// Sessions of a `uvfio serve` process coming and going: disconnects in the middle of a request and
// during device DMA (shared-fd and by messages), 1,000 connect/disconnect cycles with the server's
// open fd count unchanged, one client at a time (a second is refused clearly while the first keeps
// working), and SIGTERM removing the socket.
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "interop_fixture.h"
#include "uvfio/driver/driver.h"

namespace uvfio::interop {
namespace {

namespace vu = uvfio::vfio_user;
using vu::Message;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kBar0 = VFIO_PCI_BAR0_REGION_INDEX;
constexpr uint64_t kIova = 0x100000;
constexpr uint64_t kEduDmaSrc = 0x80;
constexpr uint64_t kEduDmaDst = 0x88;
constexpr uint64_t kEduDmaCount = 0x90;
constexpr uint64_t kEduDmaCmd = 0x98;
constexpr uint64_t kEduDmaBuffer = 0x40000;
constexpr uint64_t kEduDmaStart = 0x1;

// The server's fd count goes back to `baseline` once it has processed every hang-up (it does so
// asynchronously to our close()).
::testing::AssertionResult fds_return_to(ServerProcess& s, int baseline,
                                         std::chrono::milliseconds timeout = 3s) {
  const auto deadline = Clock::now() + timeout;
  int now = s.open_fds();
  while (now != baseline && Clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    now = s.open_fds();
  }
  if (now == baseline) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "server fds: " << baseline << " before, " << now << " after\n"
         << s.log();
}

// Starts an edu DMA of `count` bytes from `iova` into edu's buffer (RAM -> device).
void start_dma_to_device(RawClient& c, uint64_t iova, uint64_t count) {
  for (auto [reg, value] : {std::pair{kEduDmaSrc, iova}, std::pair{kEduDmaDst, kEduDmaBuffer},
                            std::pair{kEduDmaCount, count}, std::pair{kEduDmaCmd, kEduDmaStart}}) {
    auto r = c.request(req::region_write(kBar0, reg, 8, value));
    ASSERT_TRUE(r.ok()) << errno_text(r.error());
    ASSERT_EQ(errno_text(reply_errno(*r)), "0");
  }
}

using SessionLifecycle = InteropTest;

TEST_F(SessionLifecycle, DisconnectInTheMiddleOfARequest) {
  const int baseline = server().open_fds();
  {
    RawClient c = client();
    // A REGION_WRITE header promising 4 data bytes, then half of them, then the client is gone.
    Message m = req::region_write(VFIO_PCI_CONFIG_REGION_INDEX, 0x04, 4, 0x0006);
    vu::Header h = m.hdr;
    h.msg_size = static_cast<uint32_t>(sizeof h + m.payload.size());
    std::vector<uint8_t> bytes(sizeof h);
    std::memcpy(bytes.data(), &h, sizeof h);
    bytes.insert(bytes.end(), m.payload.begin(), m.payload.end() - 2);
    ASSERT_EQ(c.send_bytes(bytes), 0);
  }
  expect_new_client_served("a disconnect mid-request");
  EXPECT_TRUE(fds_return_to(server(), baseline));
}

TEST_F(SessionLifecycle, DisconnectWithAnFdAttachedMessageHalfSent) {
  const int baseline = server().open_fds();
  {
    RawClient c = client();
    // A DMA_MAP whose fd has arrived with the header but whose body never does.
    UniqueFd mem = make_memfd(0x4000);
    Message m = req::dma_map(kIova, 0x4000);
    vu::Header h = m.hdr;
    h.msg_size = static_cast<uint32_t>(sizeof h + m.payload.size());
    std::vector<uint8_t> bytes(sizeof h);
    std::memcpy(bytes.data(), &h, sizeof h);
    const int fds[] = {mem.get()};
    ASSERT_EQ(c.send_bytes(bytes, fds), 0);
  }
  expect_new_client_served("a disconnect with an fd in flight");
  EXPECT_TRUE(fds_return_to(server(), baseline));
}

TEST_F(SessionLifecycle, DisconnectDuringSharedMemoryDma) {
  // A slow DMA (edu's timer: 200 ms), so the client is gone while it is pending.
  server_.reset();
  start("edu,dma_delay_us=200000");
  const int baseline = server().open_fds();
  {
    RawClient c = client();
    enable_device(c);
    UniqueFd mem = make_memfd(0x4000);
    Message m = req::dma_map(kIova, 0x4000);
    m.fds.push_back(mem.dup());
    auto r = c.request(std::move(m));
    ASSERT_TRUE(r.ok() && reply_errno(*r) == 0) << server().log();
    start_dma_to_device(c, kIova, 0x1000);
  }
  // The device was reset (lost connection): the new client finds no DMA running and its own
  // DMA space empty.
  RawClient c = client();
  expect_serving(c, "a disconnect during DMA");
  enable_device(c);
  auto r = c.request(req::region_read(kBar0, kEduDmaCmd, 4));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(req::read_value32(*r) & kEduDmaStart, 0u) << "edu still busy after the reset";
  r = c.request(req::dma_unmap(kIova, 0x4000));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(errno_text(reply_errno(*r)), "ENOENT") << "the last client's map survived it";
  c.close();
  EXPECT_TRUE(fds_return_to(server(), baseline));
}

TEST_F(SessionLifecycle, DisconnectWhileTheServerWaitsForADmaReply) {
  // Fd-less DMA: the device's read becomes a DMA_READ to the client, which never answers and
  // leaves. The device thread must not wait out its DMA timeout for a client that is gone.
  const int baseline = server().open_fds();
  {
    RawClient c = client();
    enable_device(c);
    auto r = c.request(req::dma_map(kIova, 0x4000));
    ASSERT_TRUE(r.ok() && reply_errno(*r) == 0) << server().log();
    start_dma_to_device(c, kIova, 0x1000);
    // The DMA_READ arrives (edu runs the DMA at once here); do not answer it.
    auto got = c.receive(5s);
    ASSERT_TRUE(got.has_value()) << "no DMA_READ from the server\n" << server().log();
    EXPECT_EQ(got->hdr.command, static_cast<uint16_t>(vu::Command::kDmaRead));
  }
  const auto t0 = Clock::now();
  expect_new_client_served("a disconnect with a DMA_READ outstanding");
  EXPECT_LT(Clock::now() - t0, 2s) << "the next client waited for the dead one's DMA timeout";
  EXPECT_TRUE(fds_return_to(server(), baseline));
}

TEST_F(SessionLifecycle, AClientThatShrinksItsDmaMemfdCannotKillTheServer) {
  // The client maps a memfd, then truncates it: the server's mapping now has no pages behind it.
  // A device DMA there must fail as a DMA fault, not SIGBUS the server.
  RawClient c = client();
  enable_device(c);
  UniqueFd mem = make_memfd(0x4000);
  ASSERT_TRUE(mem);
  Message m = req::dma_map(kIova, 0x4000);
  m.fds.push_back(mem.dup());
  auto r = c.request(std::move(m));
  ASSERT_TRUE(r.ok() && reply_errno(*r) == 0) << server().log();
  ASSERT_EQ(::ftruncate(mem.get(), 0), 0);
  start_dma_to_device(c, kIova, 0x1000);
  // edu completes (or refuses) the transfer; the server keeps serving either way.
  for (int i = 0; i < 100; ++i) {
    r = c.request(req::region_read(kBar0, kEduDmaCmd, 4));
    ASSERT_TRUE(r.ok()) << "the server died on a DMA into a shrunk memfd\n" << server().log();
    if ((req::read_value32(*r) & kEduDmaStart) == 0) break;
    std::this_thread::sleep_for(5ms);
  }
  expect_serving(c, "a DMA into a shrunk memfd");
}

TEST_F(SessionLifecycle, AThousandConnectDisconnectCyclesLeakNoFd) {
  const int baseline = server().open_fds();
  ASSERT_GT(baseline, 0);
  UniqueFd mem = make_memfd(0x4000);
  ASSERT_TRUE(mem);
  constexpr int kCycles = 1000;
  for (int i = 0; i < kCycles; ++i) {
    SCOPED_TRACE("cycle " + std::to_string(i));
    auto c = RawClient::connect(server().socket_path());
    ASSERT_TRUE(c.ok()) << errno_text(c.error());
    auto v = c->version();
    ASSERT_TRUE(v.ok()) << errno_text(v.error()) << "\n" << server().log();
    ASSERT_EQ(reply_errno(*v), 0);
    // Two DMA maps (one by fd, one by messages) and MSI with an eventfd, left for the server to
    // clean up.
    Message m = req::dma_map(kIova, 0x4000);
    m.fds.push_back(mem.dup());
    auto r = c->request(std::move(m));
    ASSERT_TRUE(r.ok() && reply_errno(*r) == 0);
    r = c->request(req::dma_map(kIova + 0x10000, 0x4000));
    ASSERT_TRUE(r.ok() && reply_errno(*r) == 0);
    m = req::set_irqs(VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
                      VFIO_PCI_MSI_IRQ_INDEX, 0, 1);
    m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
    r = c->request(std::move(m));
    ASSERT_TRUE(r.ok() && reply_errno(*r) == 0) << server().log();
  }
  EXPECT_TRUE(fds_return_to(server(), baseline));
  expect_new_client_served("1,000 cycles");
}

TEST_F(SessionLifecycle, ASecondClientIsRefusedWhileTheFirstKeepsWorking) {
  RawClient first = client();
  expect_serving(first, "the first client's VERSION");
  // The second connection is accepted by the kernel's backlog and then closed by the server
  // without an answer to its VERSION; the server says why on stderr.
  auto second = RawClient::connect(server().socket_path());
  ASSERT_TRUE(second.ok());
  auto v = second->version();
  EXPECT_FALSE(v.ok() && reply_errno(*v) == 0) << "a second client was served";
  if (!v.ok()) {
    EXPECT_EQ(errno_text(v.error()), "EPIPE");
  }
  EXPECT_TRUE(server().wait_for_log("refusing a second client", 2s)) << server().log();
  // The first client is not disturbed.
  expect_serving(first, "a refused second client");
  enable_device(first);
  auto r = first.request(req::region_read(kBar0, 0, 4));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(req::read_value32(*r), 0x010000edu);
  // Once the first leaves, the next client is served.
  first.close();
  second->close();
  expect_new_client_served("the first client left");
}

TEST_F(SessionLifecycle, SigtermRemovesTheSocketAndExitsZero) {
  RawClient c = client();  // a connected client does not hold the shutdown up
  const std::string path = server().socket_path();
  const ExitStatus st = server().stop();
  EXPECT_TRUE(st.exited) << st.describe();
  EXPECT_EQ(st.code, 0) << server().log();
  struct stat sb {};
  EXPECT_NE(::stat(path.c_str(), &sb), 0) << "the socket file outlived the server";
  EXPECT_TRUE(c.wait_closed(2s)) << "the client's connection stayed open";
  server_.reset();  // nothing left for TearDown to check
}

TEST(ServeEndpoint, AnInheritedListeningSocket) {
  // `uvfio serve edu --fd 3`: the socket was bound and listened on by its parent (as a service
  // manager does); the server serves on it and leaves the path to its owner.
  ServerProcess s(ServerProcess::Endpoint::kInheritedFd, "edu");
  ASSERT_TRUE(s.started()) << s.log();
  const driver::Device dev = driver::open(s.target());
  EXPECT_EQ(dev.config().vendor_id(), 0x1234);
  EXPECT_EQ(dev.config().device_id(), 0x11e8);
  const ExitStatus st = s.stop();
  EXPECT_TRUE(st.exited && st.code == 0) << st.describe() << "\n" << s.log();
}

}  // namespace
}  // namespace uvfio::interop
