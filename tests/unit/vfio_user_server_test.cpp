// vfio-user server: every command's success path and the malformed cases the issue lists, each
// answered with the right errno while the server keeps serving, driven by a raw test client over
// a socketpair against edu behind the vfio-pci core.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_util.h"
#include "uvfio/devices/edu.h"
#include "uvfio/vfio_user/server.h"
#include "vfio_user/capabilities.h"
#include "vfio_user_server_fixture.h"

namespace uvfio::test {
namespace {

using namespace std::chrono_literals;

class ServerTest : public ServedDeviceTest {
 protected:
  void start(ServerOptions opts = {}) {
    opts.io_timeout_ms = 300;
    opts.dma_timeout_ms = 2000;
    serve(opts);
  }
  std::optional<uint64_t> read_reg(uint32_t region, uint64_t off, uint32_t size = 4) {
    return c().read_reg(region, off, size);
  }
  int write_reg(uint32_t region, uint64_t off, uint64_t value, uint32_t size = 4,
                uint32_t flags = 0) {
    std::vector<uint8_t> data(size);
    std::memcpy(data.data(), &value, size);
    if (flags & vfio_user::kFlagNoReply) {
      c().send(Command::kRegionWrite, region_access(region, off, size, data), {}, flags);
      return 0;
    }
    return c().errno_of(Command::kRegionWrite, region_access(region, off, size, data));
  }
  // The server still serves: edu's identification register reads back.
  void expect_alive() {
    EXPECT_EQ(read_reg(kBar0, devices::edu_reg::kIdentification), 0x010000edu);
  }
};

TEST_F(ServerTest, VersionNegotiatesAndStatesEveryLimit) {
  ServerOptions o;
  o.max_msg_fds = 4;
  o.max_data_xfer_size = 8192;
  o.max_dma_maps = 17;
  o.pgsizes = 4096 | 65536;
  start(o);
  auto r = c().version(R"({"capabilities":{"max_msg_fds":8,"max_data_xfer_size":4096}})", 5);
  ASSERT_TRUE(r);
  ASSERT_FALSE(r->is_error());
  uint16_t major = 0, minor = 0;
  std::memcpy(&major, r->payload.data(), 2);
  std::memcpy(&minor, r->payload.data() + 2, 2);
  EXPECT_EQ(major, 0);
  EXPECT_EQ(minor, 2);              // min(client's 5, uvfio's 2)
  ASSERT_EQ(r->payload.back(), 0);  // NUL-terminated JSON
  const std::string text(reinterpret_cast<const char*>(r->payload.data()) + 4);
  auto caps = vfio_user::parse_capabilities(text);
  ASSERT_TRUE(caps.ok()) << text;
  EXPECT_EQ(caps->max_msg_fds, 4u);
  EXPECT_EQ(caps->max_data_xfer_size, 8192u);
  EXPECT_EQ(caps->max_dma_maps, 17u);
  EXPECT_EQ(caps->pgsizes, 4096u | 65536u);
  EXPECT_TRUE(caps->write_multiple);
  EXPECT_FALSE(caps->twin_socket);  // not asked for
  EXPECT_TRUE(r->fds.empty());
  // QEMU 10.x's 0.0 gets 0.0.
  // A second VERSION in the same session is refused, and the session goes on.
  EXPECT_EQ(c().errno_of(Command::kVersion, {0, 0, 0, 0}), EINVAL);
  expect_alive();
}

TEST_F(ServerTest, CommandsBeforeVersionAndBadVersionsAreRefused) {
  start();
  EXPECT_EQ(c().errno_of(Command::kDeviceGetInfo, bytes_of(vfio_user::DeviceInfo{16, 0, 0, 0})),
            EINVAL);
  EXPECT_EQ(c().errno_of(Command::kVersion, {1, 0, 0, 0}), EINVAL);  // major 1
  EXPECT_EQ(c().errno_of(Command::kVersion, {0, 0}), EINVAL);        // too short
  std::vector<uint8_t> no_nul = {0, 0, 0, 0, '{', '}'};
  EXPECT_EQ(c().errno_of(Command::kVersion, no_nul), EINVAL);
  auto bad = c().version(R"({"capabilities":{"max_msg_fds":"8"}})");  // a string
  ASSERT_TRUE(bad);
  EXPECT_TRUE(bad->is_error());
  negotiate();
  expect_alive();
}

TEST_F(ServerTest, DeviceInfoRegionInfoAndIrqInfo) {
  start();
  negotiate();
  auto info = c().request(Command::kDeviceGetInfo, bytes_of(vfio_user::DeviceInfo{16, 0, 0, 0}));
  ASSERT_TRUE(info && !info->is_error());
  auto di = *info->get<vfio_user::DeviceInfo>();
  EXPECT_EQ(info->payload.size(), 16u);
  EXPECT_EQ(di.argsz, 16u);
  EXPECT_TRUE(di.flags & VFIO_DEVICE_FLAGS_PCI);
  EXPECT_TRUE(di.flags & VFIO_DEVICE_FLAGS_RESET);
  EXPECT_EQ(di.num_regions, 9u);
  EXPECT_EQ(di.num_irqs, 5u);

  vfio_region_info ri{};
  ri.argsz = sizeof ri;
  ri.index = kBar0;
  auto reg = c().request(Command::kDeviceGetRegionInfo, bytes_of(ri));
  ASSERT_TRUE(reg && !reg->is_error());
  auto out = *reg->get<vfio_region_info>();
  EXPECT_EQ(out.size, devices::kEduBar0Size);
  EXPECT_EQ(out.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);  // MMIO: no mmap
  EXPECT_TRUE(reg->fds.empty());
  ri.index = kConfig;
  reg = c().request(Command::kDeviceGetRegionInfo, bytes_of(ri));
  ASSERT_TRUE(reg && !reg->is_error());
  EXPECT_EQ(reg->get<vfio_region_info>()->size, 256u);
  ri.index = VFIO_PCI_VGA_REGION_INDEX;  // edu is no VGA device: the kernel's EINVAL
  EXPECT_EQ(c().errno_of(Command::kDeviceGetRegionInfo, bytes_of(ri)), EINVAL);
  ri.index = 9;  // past the last region
  EXPECT_EQ(c().errno_of(Command::kDeviceGetRegionInfo, bytes_of(ri)), EINVAL);
  ri.index = kBar0;
  ri.argsz = 16;  // smaller than the struct
  EXPECT_EQ(c().errno_of(Command::kDeviceGetRegionInfo, bytes_of(ri)), EINVAL);

  vfio_irq_info ii{};
  ii.argsz = sizeof ii;
  ii.index = VFIO_PCI_MSI_IRQ_INDEX;
  auto irq = c().request(Command::kDeviceGetIrqInfo, bytes_of(ii));
  ASSERT_TRUE(irq && !irq->is_error());
  EXPECT_EQ(irq->get<vfio_irq_info>()->count, 1u);
  EXPECT_TRUE(irq->get<vfio_irq_info>()->flags & VFIO_IRQ_INFO_EVENTFD);
  ii.index = 5;
  EXPECT_EQ(c().errno_of(Command::kDeviceGetIrqInfo, bytes_of(ii)), EINVAL);
  expect_alive();
}

TEST_F(ServerTest, RegionReadWriteAndPostedWritesInOrder) {
  start();
  negotiate();
  expect_alive();
  ASSERT_EQ(write_reg(kBar0, devices::edu_reg::kLiveness, 0x12345678), 0);
  EXPECT_EQ(read_reg(kBar0, devices::edu_reg::kLiveness), ~0x12345678u);
  // Posted writes are applied in order: the read after them sees the last one.
  for (uint32_t v = 1; v <= 100; ++v) {
    write_reg(kBar0, devices::edu_reg::kLiveness, v, 4, vfio_user::kFlagNoReply);
  }
  EXPECT_EQ(read_reg(kBar0, devices::edu_reg::kLiveness), ~100u);
  // A posted write that fails is never answered, and the next request still is.
  write_reg(kBar0, devices::kEduBar0Size, 1, 4, vfio_user::kFlagNoReply);
  expect_alive();
  EXPECT_EQ(server_->stats().errors_dropped, 1u);
  // Config space through the CONFIG region: vendor and device ID.
  EXPECT_EQ(read_reg(kConfig, 0), 0x11e81234u);
}

TEST_F(ServerTest, RegionAccessesOutOfBoundsOrTooLargeAreRefused) {
  ServerOptions o;
  o.max_data_xfer_size = 4096;
  start(o);
  negotiate();
  const uint64_t end = devices::kEduBar0Size;
  EXPECT_EQ(c().errno_of(Command::kRegionRead, region_access(kBar0, end, 4)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kRegionRead, region_access(kBar0, end - 2, 4)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kRegionRead, region_access(kBar0, UINT64_MAX - 1, 4)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kRegionRead, region_access(kBar0, 0, 4097)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kRegionRead, region_access(kBar0, 0, 0)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kRegionRead, region_access(12, 0, 4)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kRegionRead, region_access(VFIO_PCI_VGA_REGION_INDEX, 0, 4)),
            EINVAL);
  // Write: count beyond the data sent, and data beyond the count.
  EXPECT_EQ(c().errno_of(Command::kRegionWrite, region_access(kBar0, 4, 8, {1, 2, 3, 4})), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kRegionWrite, region_access(kBar0, 4, 2, {1, 2, 3, 4})), EINVAL);
  // A read request with trailing bytes.
  auto p = region_access(kBar0, 0, 4);
  p.push_back(0);
  EXPECT_EQ(c().errno_of(Command::kRegionRead, p), EINVAL);
  expect_alive();
}

TEST_F(ServerTest, MalformedHeadersAreAnsweredAndTheServerCarriesOn) {
  start();
  negotiate();
  // Unknown command, and the reserved DIRTY_PAGES.
  EXPECT_EQ(c().errno_of(static_cast<Command>(99), {1, 2, 3, 4}), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDirtyPages, {8, 0, 0, 0, 0, 0, 0, 0}), EINVAL);
  // A reply-flagged message that answers nothing the server asked.
  EXPECT_EQ(c().errno_of(Command::kDeviceGetInfo, {}, {}, vfio_user::kTypeReply), EINVAL);
  EXPECT_GE(server_->stats().stray_replies, 1u);
  // A type that is neither command nor reply; reserved flag bits; the error flag on a command.
  EXPECT_EQ(
      c().errno_of(Command::kDeviceGetInfo, bytes_of(vfio_user::DeviceInfo{16, 0, 0, 0}), {}, 2),
      EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDeviceGetInfo, bytes_of(vfio_user::DeviceInfo{16, 0, 0, 0}), {},
                         1u << 8),
            EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDeviceGetInfo, bytes_of(vfio_user::DeviceInfo{16, 0, 0, 0}), {},
                         vfio_user::kFlagError),
            EINVAL);
  // Wrong argsz and wrong sizes.
  EXPECT_EQ(c().errno_of(Command::kDeviceGetInfo, bytes_of(vfio_user::DeviceInfo{8, 0, 0, 0})),
            EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDeviceGetInfo, {16, 0, 0, 0}), EINVAL);  // shorter
  auto longer = bytes_of(vfio_user::DeviceInfo{16, 0, 0, 0});
  longer.resize(24);
  EXPECT_EQ(c().errno_of(Command::kDeviceGetInfo, longer), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDeviceReset, {0}), EINVAL);  // RESET takes no payload
  // An fd on a command that takes none.
  const int efd = ::eventfd(0, EFD_CLOEXEC);
  EXPECT_EQ(
      c().errno_of(Command::kDeviceGetInfo, bytes_of(vfio_user::DeviceInfo{16, 0, 0, 0}), {efd}),
      EINVAL);
  ::close(efd);
  // msg_size below the header: the frame is answered by its header and the stream resyncs.
  const Header h = command_header(777, Command::kDeviceGetInfo, 8);
  c().send_raw(&h, sizeof h);
  auto r = c().wait_reply(777);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->is_error());
  EXPECT_EQ(r->hdr.error_no, static_cast<uint32_t>(EINVAL));
  expect_alive();
  EXPECT_EQ(server_->stats().disconnects, 0u);
}

TEST_F(ServerTest, AStalledMessageIsRefusedAfterTheTimeoutAndTheNextOneServed) {
  start();
  negotiate();
  // A header that promises more than ever comes.
  const Header h = command_header(555, Command::kRegionRead, 16 + 16);
  c().send_raw(&h, sizeof h);
  c().send_raw("abcd", 4);
  auto r = c().wait_reply(555, 3s);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->is_error());
  EXPECT_EQ(r->hdr.error_no, static_cast<uint32_t>(EINVAL));
  expect_alive();
  // Half a header: dropped silently after the timeout.
  c().send_raw(&h, 7);
  std::this_thread::sleep_for(600ms);
  expect_alive();
}

TEST_F(ServerTest, SetIrqsDeliversEventfdInterruptsAndValidates) {
  start();
  negotiate();
  bus_master();
  const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  auto set = [&](uint32_t flags, uint32_t index, uint32_t start, uint32_t count) {
    std::vector<uint32_t> w = {20, flags, index, start, count};
    std::vector<uint8_t> b(20);
    std::memcpy(b.data(), w.data(), 20);
    return b;
  };
  const uint32_t trig = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
  // Beyond the vector count, and the fd count not matching count.
  EXPECT_EQ(
      c().errno_of(Command::kDeviceSetIrqs, set(trig, VFIO_PCI_MSI_IRQ_INDEX, 0, 2), {efd, efd}),
      EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDeviceSetIrqs, set(trig, VFIO_PCI_MSI_IRQ_INDEX, 1, 1), {efd}),
            EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDeviceSetIrqs, set(trig, VFIO_PCI_MSI_IRQ_INDEX, 0, 2), {efd}),
            EINVAL);
  // Two data types, no action; fds with DATA_NONE; an argsz not matching the request.
  EXPECT_EQ(c().errno_of(Command::kDeviceSetIrqs,
                         set(trig | VFIO_IRQ_SET_DATA_NONE, VFIO_PCI_MSI_IRQ_INDEX, 0, 1), {efd}),
            EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDeviceSetIrqs,
                         set(VFIO_IRQ_SET_DATA_EVENTFD, VFIO_PCI_MSI_IRQ_INDEX, 0, 1), {efd}),
            EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDeviceSetIrqs,
                         set(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                             VFIO_PCI_MSI_IRQ_INDEX, 0, 1),
                         {efd}),
            EINVAL);
  auto wrong_argsz = set(trig, VFIO_PCI_MSI_IRQ_INDEX, 0, 1);
  wrong_argsz[0] = 24;
  EXPECT_EQ(c().errno_of(Command::kDeviceSetIrqs, wrong_argsz, {efd}), EINVAL);

  ASSERT_EQ(c().errno_of(Command::kDeviceSetIrqs, set(trig, VFIO_PCI_MSI_IRQ_INDEX, 0, 1), {efd}),
            0);
  ASSERT_EQ(write_reg(kBar0, devices::edu_reg::kIrqRaise, 0x5), 0);
  pollfd p{efd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  uint64_t n = 0;
  ASSERT_EQ(::read(efd, &n, 8), 8);
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(read_reg(kBar0, devices::edu_reg::kIrqStatus), 0x5u);
  ASSERT_EQ(write_reg(kBar0, devices::edu_reg::kIrqAck, 0x5), 0);
  // DATA_NONE + TRIGGER from the client: the server fires the vector itself.
  EXPECT_EQ(c().errno_of(Command::kDeviceSetIrqs,
                         set(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                             VFIO_PCI_MSI_IRQ_INDEX, 0, 1)),
            0);
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  ASSERT_EQ(::read(efd, &n, 8), 8);
  // Zero fds with DATA_EVENTFD unassigns: a raise no longer reaches our eventfd.
  ASSERT_EQ(c().errno_of(Command::kDeviceSetIrqs, set(trig, VFIO_PCI_MSI_IRQ_INDEX, 0, 1)), 0);
  ASSERT_EQ(write_reg(kBar0, devices::edu_reg::kIrqRaise, 0x5), 0);
  EXPECT_EQ(::poll(&p, 1, 100), 0);
  ::close(efd);
  expect_alive();
}

TEST_F(ServerTest, DeviceResetAndFeatures) {
  start();
  negotiate();
  ASSERT_EQ(write_reg(kBar0, devices::edu_reg::kLiveness, 0x1), 0);
  EXPECT_EQ(c().errno_of(Command::kDeviceReset, {}), 0);
  // DEVICE_FEATURE: what vfio-pci does not implement is ENOTTY (6.12); malformed is EINVAL.
  std::vector<uint32_t> f = {8, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET | 1};
  std::vector<uint8_t> b(8);
  std::memcpy(b.data(), f.data(), 8);
  EXPECT_EQ(c().errno_of(Command::kDeviceFeature, b), ENOTTY);
  f = {8, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET | 1};
  std::memcpy(b.data(), f.data(), 8);
  EXPECT_EQ(c().errno_of(Command::kDeviceFeature, b), EINVAL);
  f = {4, VFIO_DEVICE_FEATURE_GET | 1};
  std::memcpy(b.data(), f.data(), 8);
  EXPECT_EQ(c().errno_of(Command::kDeviceFeature, b), EINVAL);
  f = {8, VFIO_DEVICE_FEATURE_GET | (1u << 20)};
  std::memcpy(b.data(), f.data(), 8);
  EXPECT_EQ(c().errno_of(Command::kDeviceFeature, b), EINVAL);
  // Migration data has no device state to move.
  EXPECT_EQ(c().errno_of(Command::kMigDataRead, {16, 0, 0, 0, 8, 0, 0, 0}), EINVAL);
  expect_alive();
}

TEST_F(ServerTest, WriteMultiAppliesEveryEntryOrNone) {
  start();
  negotiate();
  auto multi = [](const std::vector<vfio_user::WriteMultiEntry>& es) {
    vfio_user::WriteMultiHead h{es.size()};
    auto b = bytes_of(h);
    for (const auto& e : es) {
      auto eb = bytes_of(e);
      b.insert(b.end(), eb.begin(), eb.end());
    }
    return b;
  };
  vfio_user::WriteMultiEntry a{devices::edu_reg::kLiveness, kBar0, 4, {}};
  uint32_t v = 0xaaaa5555;
  std::memcpy(a.data, &v, 4);
  vfio_user::WriteMultiEntry bad{devices::kEduBar0Size, kBar0, 4, {}};
  EXPECT_EQ(c().errno_of(Command::kRegionWriteMulti, multi({a, bad})), EINVAL);
  EXPECT_NE(read_reg(kBar0, devices::edu_reg::kLiveness), ~v);  // nothing applied
  auto r = c().request(Command::kRegionWriteMulti, multi({a}));
  ASSERT_TRUE(r && !r->is_error());
  EXPECT_EQ(r->get<uint64_t>(), 1u);
  EXPECT_EQ(read_reg(kBar0, devices::edu_reg::kLiveness), ~v);
  vfio_user::WriteMultiEntry nine{0, kBar0, 9, {}};
  EXPECT_EQ(c().errno_of(Command::kRegionWriteMulti, multi({nine})), EINVAL);
}

TEST_F(ServerTest, WriteMultiIsUnknownWhenNotAdvertised) {
  ServerOptions o;
  o.write_multiple = false;
  start(o);
  auto r = c().version("{}");
  ASSERT_TRUE(r && !r->is_error());
  auto caps = vfio_user::parse_capabilities(reinterpret_cast<const char*>(r->payload.data()) + 4);
  EXPECT_FALSE(caps->write_multiple);
  vfio_user::WriteMultiHead h{1};
  auto b = bytes_of(h);
  b.resize(8 + 24);
  EXPECT_EQ(c().errno_of(Command::kRegionWriteMulti, b), EINVAL);
}

}  // namespace
}  // namespace uvfio::test
