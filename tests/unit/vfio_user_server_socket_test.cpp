// vfio-user server: sockets and sessions — several devices on their own socket paths from one
// loop, one client per device (a second is refused), reconnects after a disconnect in the middle
// of a request, stale and busy socket paths, inherited listening sockets — plus the fds the
// server hands out: a memory-backed BAR's fd with its sparse-mmap capability, and ioeventfds for
// doorbells.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "test_util.h"
#include "uvfio/devices/edu.h"
#include "uvfio/vfio_user/server.h"
#include "vfio_user_server_fixture.h"

namespace uvfio::test {
namespace {

using namespace std::chrono_literals;
namespace reg = devices::edu_reg;

// A function with two memory-backed BARs: BAR0 holds the MSI-X table and PBA in its last pages,
// BAR2 is mappable whole.
class MemBarModel : public pci::DeviceModel {
 public:
  pci::DeviceLayout layout() const override {
    pci::DeviceLayout l;
    l.vendor_id = 0x1234;
    l.device_id = 0x5678;
    l.bars[0] = {pci::BarType::kMem32, 0x4000, false, true};
    l.bars[2] = {pci::BarType::kMem32, 0x1000, false, true};
    l.capabilities.emplace_back(pci::MsixSpec{4, 0, 0x3000, 0, 0x3800});
    l.name = "membar";
    return l;
  }
};

class SocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvfio-srv-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    stop();
    std::filesystem::remove_all(dir_);
  }
  void start(ServerOptions o = {}) {
    o.io_timeout_ms = 500;
    server_ = std::move(*Server::create(o));
  }
  void run() {
    loop_ = std::thread([this] { server_->run(); });
  }
  void stop() {
    if (server_) server_->stop();
    if (loop_.joinable()) loop_.join();
    server_.reset();
  }
  // A client of `dev` on a socketpair (the device's id in *id).
  RawClient pair_client(std::shared_ptr<vfio::VfioDeviceOps> dev,
                        vfio_user::DeviceId* id = nullptr) {
    UniqueFd theirs;
    RawClient c = RawClient::pair(&theirs);
    auto r = server_->serve_connected_fd(std::move(dev), std::move(theirs));
    EXPECT_TRUE(r.ok()) << errno_name(r.error());
    if (r.ok() && id != nullptr) *id = *r;
    return c;
  }
  std::string dir_;
  std::unique_ptr<Server> server_;
  std::thread loop_;
};

TEST_F(SocketTest, SeveralDevicesOnTheirOwnSocketsFromOneLoop) {
  start();
  const std::string a = dir_ + "/a.sock", b = dir_ + "/b.sock";
  auto ia = server_->serve_path(make_edu(), a);
  auto ib = server_->serve_path(make_edu(), b);
  ASSERT_TRUE(ia.ok() && ib.ok());
  EXPECT_EQ(server_->socket_path(*ia), a);
  run();
  RawClient ca(connect_to(a)), cb(connect_to(b));
  negotiate(ca);
  negotiate(cb);
  // Separate devices: liveness written on one is not seen on the other.
  ASSERT_EQ(ca.write_reg(kBar0, reg::kLiveness, 1), 0);
  ASSERT_EQ(cb.write_reg(kBar0, reg::kLiveness, 2), 0);
  EXPECT_EQ(ca.read_reg(kBar0, reg::kLiveness), ~1u);
  EXPECT_EQ(cb.read_reg(kBar0, reg::kLiveness), ~2u);
  EXPECT_TRUE(server_->client_connected(*ia));
  EXPECT_TRUE(server_->client_connected(*ib));
  EXPECT_EQ(server_->stats().connections_accepted, 2u);
  // A second client of a busy device is accepted and closed at once.
  RawClient extra(connect_to(a));
  char byte;
  EXPECT_EQ(::recv(extra.fd(), &byte, 1, 0), 0);
  EXPECT_TRUE(eventually([&] { return server_->stats().connections_refused == 1; }));
  EXPECT_EQ(ca.read_reg(kBar0, reg::kIdentification), 0x010000edu);  // the first one goes on
  stop();
  // The socket files go with the server.
  EXPECT_FALSE(std::filesystem::exists(a));
  EXPECT_FALSE(std::filesystem::exists(b));
}

TEST_F(SocketTest, ADisconnectMidRequestFreesTheDeviceForTheNextClient) {
  start();
  const std::string p = dir_ + "/edu.sock";
  auto id = server_->serve_path(make_edu(), p);
  ASSERT_TRUE(id.ok());
  run();
  for (int round = 0; round < 3; ++round) {
    RawClient c(connect_to(p));
    ASSERT_GE(c.fd(), 0);
    negotiate(c);
    ASSERT_EQ(c.write_reg(kBar0, reg::kLiveness, round), 0);
    // Half a REGION_READ, then gone.
    const Header h = command_header(9, Command::kRegionRead, 32);
    c.send_raw(&h, sizeof h);
    c.send_raw("xy", 2);
    c.close();
    ASSERT_TRUE(eventually([&] { return !server_->client_connected(*id); }));
  }
  EXPECT_EQ(server_->stats().disconnects, 3u);
  RawClient c(connect_to(p));
  negotiate(c);
  EXPECT_EQ(c.read_reg(kBar0, reg::kIdentification), 0x010000edu);
}

TEST_F(SocketTest, AClientThatStopsReadingRepliesIsDisconnected) {
  ServerOptions o;
  start(o);  // io_timeout_ms 500
  vfio_user::DeviceId id = 0;
  RawClient c = pair_client(make_edu(), &id);
  run();
  negotiate(c);
  // 64 KiB replies, never read: the socket fills and the server's send times out.
  for (int i = 0; i < 200; ++i) c.send(Command::kRegionRead, region_access(kBar0, 0, 0x10000));
  EXPECT_TRUE(eventually([&] { return !server_->client_connected(id); }));
  EXPECT_EQ(server_->stats().disconnects, 1u);
}

TEST_F(SocketTest, SocketPaths) {
  start();
  // A path that is not a socket is never replaced.
  const std::string file = dir_ + "/file";
  std::ofstream(file) << "x";
  EXPECT_ERRNO(server_->serve_path(make_edu(), file), EADDRINUSE);
  EXPECT_TRUE(std::filesystem::exists(file));
  // A stale socket (nobody listening) is.
  const std::string stale = dir_ + "/stale.sock";
  ASSERT_TRUE(bound_to(stale).valid());
  ASSERT_TRUE(server_->serve_path(make_edu(), stale).ok());
  // A live one is not.
  EXPECT_ERRNO(server_->serve_path(make_edu(), stale), EADDRINUSE);
  EXPECT_ERRNO(server_->serve_path(make_edu(), dir_ + "/" + std::string(200, 'x')), ENAMETOOLONG);
  EXPECT_ERRNO(server_->serve_path(nullptr, dir_ + "/n.sock"), EINVAL);
}

TEST_F(SocketTest, InheritedListeningAndConnectedSockets) {
  start();
  // Not listening, not a socket: refused.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd peer(sv[0]);
  EXPECT_ERRNO(server_->serve_listening_fd(make_edu(), UniqueFd(sv[1])), EINVAL);
  EXPECT_ERRNO(server_->serve_listening_fd(make_edu(), UniqueFd(::eventfd(0, EFD_CLOEXEC))),
               ENOTSOCK);
  EXPECT_ERRNO(server_->serve_connected_fd(make_edu(), UniqueFd(::eventfd(0, EFD_CLOEXEC))),
               ENOTSOCK);
  UniqueFd dgram(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  EXPECT_ERRNO(server_->serve_connected_fd(make_edu(), std::move(dgram)), EINVAL);
  EXPECT_ERRNO(server_->attach_client(42, UniqueFd(sv[1])), EBADF);  // sv[1] was adopted+closed
  // A listening socket made by someone else (systemd, a test harness).
  const std::string p = dir_ + "/inherited.sock";
  UniqueFd l = bound_to(p);
  ASSERT_TRUE(l.valid());
  ASSERT_EQ(::listen(l.get(), 4), 0);
  auto id = server_->serve_listening_fd(make_edu(), std::move(l));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(server_->socket_path(*id), "");  // not ours to remove
  run();
  RawClient c(connect_to(p));
  negotiate(c);
  EXPECT_EQ(c.read_reg(kBar0, reg::kIdentification), 0x010000edu);
  stop();
  EXPECT_TRUE(std::filesystem::exists(p));
}

TEST_F(SocketTest, RunOnceStepsAndStopCancels) {
  start();
  RawClient c = pair_client(make_edu());
  EXPECT_EQ(server_->run_once(0), 0);  // nothing to do
  const uint16_t id = c.send(Command::kVersion, {0, 0, 0, 0});
  EXPECT_EQ(server_->run_once(1000), 1);
  auto r = c.wait_reply(id, 1s);
  ASSERT_TRUE(r && !r->is_error());
  server_->stop();
  EXPECT_TRUE(server_->stopped());
  EXPECT_EQ(server_->run_once(0), -ECANCELED);
  EXPECT_EQ(server_->run(), 0);  // returns at once
}

TEST_F(SocketTest, OptionsAreChecked) {
  auto bad = [](auto edit) {
    ServerOptions o;
    edit(o);
    return Server::create(o).error();
  };
  EXPECT_EQ(bad([](ServerOptions& o) { o.max_msg_fds = 0; }), EINVAL);
  EXPECT_EQ(bad([](ServerOptions& o) { o.max_data_xfer_size = 0; }), EINVAL);
  EXPECT_EQ(bad([](ServerOptions& o) { o.max_data_xfer_size = (64u << 20) + 1; }), EINVAL);
  EXPECT_EQ(bad([](ServerOptions& o) { o.pgsizes = 2048; }), EINVAL);
  EXPECT_EQ(bad([](ServerOptions& o) { o.max_dma_maps = 0; }), EINVAL);
  EXPECT_EQ(bad([](ServerOptions& o) { o.io_timeout_ms = 0; }), EINVAL);
  EXPECT_EQ(bad([](ServerOptions& o) { o.dma_timeout_ms = -1; }), EINVAL);
}

TEST_F(SocketTest, MemoryBackedRegionsComeWithTheirFdAndSparseAreas) {
  start();
  RawClient c = pair_client(vfio_pci(std::make_shared<MemBarModel>()));
  run();
  negotiate(c);
  ASSERT_EQ(c.write_reg(kConfig, PCI_COMMAND, PCI_COMMAND_MEMORY, 2), 0);
  vfio_region_info ri{};
  ri.argsz = sizeof ri;
  ri.index = kBar0;
  // First query: the flags and the size needed, no capability, no fd.
  auto r = c.request(Command::kDeviceGetRegionInfo, bytes_of(ri));
  ASSERT_TRUE(r && !r->is_error());
  auto first = *r->get<vfio_region_info>();
  EXPECT_EQ(first.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
                             VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS);
  EXPECT_EQ(first.cap_offset, 0u);
  EXPECT_EQ(first.argsz, 32u + 16u + 16u);
  EXPECT_TRUE(r->fds.empty());
  EXPECT_EQ(r->payload.size(), 32u);
  // With room: the chain and the fd.
  ri.argsz = first.argsz;
  r = c.request(Command::kDeviceGetRegionInfo, bytes_of(ri));
  ASSERT_TRUE(r && !r->is_error());
  ASSERT_EQ(r->fds.size(), 1u);
  ASSERT_EQ(r->payload.size(), first.argsz);
  auto full = *r->get<vfio_region_info>();
  EXPECT_EQ(full.cap_offset, 32u);
  auto cap = *r->get<vfio_info_cap_header>(32);
  EXPECT_EQ(cap.id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
  EXPECT_EQ(cap.next, 0u);
  EXPECT_EQ(r->get<uint32_t>(40), 1u);  // one area: the pages before the MSI-X table
  EXPECT_EQ(r->get<uint64_t>(48), 0u);
  EXPECT_EQ(r->get<uint64_t>(56), 0x3000u);
  // The fd maps the BAR: a store through it is what REGION_READ sees.
  void* p = ::mmap(nullptr, 0x3000, PROT_READ | PROT_WRITE, MAP_SHARED, r->fds[0].get(),
                   static_cast<off_t>(full.offset));
  ASSERT_NE(p, MAP_FAILED);
  static_cast<volatile uint32_t*>(p)[4] = 0xdeadbeef;
  EXPECT_EQ(c.read_reg(kBar0, 0x10), 0xdeadbeefu);
  ASSERT_EQ(c.write_reg(kBar0, 0x20, 0x1234), 0);
  EXPECT_EQ(static_cast<volatile uint32_t*>(p)[8], 0x1234u);
  ::munmap(p, 0x3000);
  // A BAR without MSI-X: mappable whole, stated as one sparse area all the same.
  ri.index = VFIO_PCI_BAR2_REGION_INDEX;
  ri.argsz = 256;
  r = c.request(Command::kDeviceGetRegionInfo, bytes_of(ri));
  ASSERT_TRUE(r && !r->is_error());
  EXPECT_EQ(r->fds.size(), 1u);
  EXPECT_EQ(r->get<uint64_t>(56), 0x1000u);
}

TEST_F(SocketTest, AClientWithoutFdsGetsNoMmap) {
  start();
  RawClient c = pair_client(vfio_pci(std::make_shared<MemBarModel>()));
  run();
  negotiate(c, R"({"capabilities":{"max_msg_fds":0}})");
  vfio_region_info ri{};
  ri.argsz = 256;
  ri.index = kBar0;
  auto r = c.request(Command::kDeviceGetRegionInfo, bytes_of(ri));
  ASSERT_TRUE(r && !r->is_error());
  EXPECT_TRUE(r->fds.empty());
  EXPECT_EQ(r->get<vfio_region_info>()->flags,
            VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
}

TEST_F(SocketTest, DoorbellIoeventfdWritesTheRegisterWithoutAMessage) {
  start();
  RawClient c = pair_client(make_edu());
  run();
  negotiate(c);
  ASSERT_EQ(enable_bus_master(c), 0);
  // The interrupt eventfd, to see the doorbell's effect.
  UniqueFd irq(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ASSERT_EQ(set_msi_eventfd(c, irq.get()), 0);

  auto io_fds = [](uint32_t argsz, uint32_t index, uint32_t flags = 0, uint32_t count = 0) {
    return bytes_of(vfio_user::RegionIoFdsRequest{argsz, flags, index, count});
  };
  EXPECT_EQ(c.errno_of(Command::kDeviceGetRegionIoFds, io_fds(16, kBar0, 1)), EINVAL);
  EXPECT_EQ(c.errno_of(Command::kDeviceGetRegionIoFds, io_fds(16, kBar0, 0, 1)), EINVAL);
  EXPECT_EQ(c.errno_of(Command::kDeviceGetRegionIoFds, io_fds(8, kBar0)), EINVAL);
  EXPECT_EQ(c.errno_of(Command::kDeviceGetRegionIoFds, io_fds(16, 9)), EINVAL);
  // Too small: the count and the size needed, nothing else.
  auto r = c.request(Command::kDeviceGetRegionIoFds, io_fds(16, kBar0));
  ASSERT_TRUE(r && !r->is_error());
  auto head = *r->get<vfio_user::RegionIoFdsRequest>();
  EXPECT_EQ(head.count, 1u);
  EXPECT_EQ(head.argsz, 16u + 40u);
  EXPECT_TRUE(r->fds.empty());
  // A region without doorbells: none.
  r = c.request(Command::kDeviceGetRegionIoFds, io_fds(256, kConfig));
  ASSERT_TRUE(r && !r->is_error());
  EXPECT_EQ(r->get<vfio_user::RegionIoFdsRequest>()->count, 0u);
  r = c.request(Command::kDeviceGetRegionIoFds, io_fds(head.argsz, kBar0));
  ASSERT_TRUE(r && !r->is_error());
  ASSERT_EQ(r->fds.size(), 1u);
  auto e = *r->get<vfio_user::IoFdEntry>(16);
  EXPECT_EQ(e.offset, reg::kIrqRaise);
  EXPECT_EQ(e.size, 4u);
  EXPECT_EQ(e.fd_index, 0u);
  EXPECT_EQ(e.type, vfio_user::kIoFdTypeIoeventfd);
  EXPECT_EQ(e.flags, vfio_user::kIoeventfdFlagDatamatch);
  EXPECT_EQ(e.datamatch, devices::kEduDoorbellValue);

  // Ring it: the raise happens in the server without a message.
  const uint64_t before = server_->stats().messages;
  const uint64_t one = 1;
  ASSERT_EQ(::write(r->fds[0].get(), &one, 8), 8);
  pollfd p{irq.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  EXPECT_EQ(server_->stats().messages, before);
  EXPECT_EQ(server_->stats().doorbells, 1u);
  EXPECT_EQ(c.read_reg(kBar0, reg::kIrqStatus), devices::kEduDoorbellValue);
}

}  // namespace
}  // namespace uvfio::test
