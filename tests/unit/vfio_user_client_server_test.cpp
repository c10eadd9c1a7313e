// The vfio-user client against uvfio's own server (in this process, on a socket in a temp dir):
// open, info, regions, config, IRQs and reset through the driver API; the edu driver end to end;
// DMA through a shared fd and fd-less (DMA_READ/DMA_WRITE, on the twin socket or the main one);
// several threads pipelining; the server's limits enforced; the server going away; error texts.
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include "driver/device_core.h"
#include "driver/vfio_user_connection.h"
#include "driver/vfio_user_transport.h"
#include "driver_test_util.h"
#include "examples/edu_driver/edu_driver.h"
#include "uvfio/base/mapping.h"
#include "uvfio/devices/edu.h"
#include "uvfio/devices/registry.h"
#include "uvfio/driver/driver.h"
#include "uvfio/pci/device_model.h"
#include "uvfio/vfio_user/server.h"
#include "vfio_user_served_device.h"

namespace uvfio::test {
namespace {

namespace vu = vfio_user;
using driver::Device;
using driver::DmaBuffer;
using driver::DmaKind;
using driver::detail::VfioUserConnection;

namespace reg = devices::edu_reg;

/// The connection under a vfio-user device.
const VfioUserConnection& connection_of(const Device& dev) {
  auto& t = dynamic_cast<driver::detail::VfioUserDeviceTransport&>(
      driver::detail::DeviceAccess::core(dev)->transport());
  return *t.connection();
}

/// Runs one edu DMA: `src` -> `dst` (IOVAs or edu's buffer), polled to completion.
void edu_dma(const driver::Region& bar0, uint64_t src, uint64_t dst, uint32_t count, bool to_ram) {
  bar0.write64(reg::kDmaSrc, src);
  bar0.write64(reg::kDmaDst, dst);
  bar0.write64(reg::kDmaCount, count);
  bar0.write64(reg::kDmaCmd, 1 | (to_ram ? 2 : 0));
  for (int i = 0; i < 100000 && (bar0.read64(reg::kDmaCmd) & 1) != 0; ++i) {
    std::this_thread::yield();
  }
  ASSERT_EQ(bar0.read64(reg::kDmaCmd) & 1, 0u) << "DMA never completed";
}

TEST(VfioUserClientServer, OpenInfoRegionsConfigIrqsReset) {
  ServedDevice edu;
  Device dev = driver::open(edu.target());
  EXPECT_EQ(dev.backend(), "vfio-user");
  EXPECT_EQ(dev.target(), edu.target());
  EXPECT_TRUE(dev.info().is_pci());
  EXPECT_EQ(dev.info().num_regions, 9u);
  EXPECT_EQ(dev.info().num_irqs, 5u);
  // The same facts as the same device opened in this process.
  Device local = driver::open("emu:edu");
  // The server may add VFIO_DEVICE_FLAGS_RESET (DEVICE_RESET always exists in vfio-user, and
  // libvfio-user always sets it).
  EXPECT_EQ(dev.info().flags & ~VFIO_DEVICE_FLAGS_RESET,
            local.info().flags & ~VFIO_DEVICE_FLAGS_RESET);
  for (uint32_t i = 0; i < dev.info().num_regions; ++i) {
    EXPECT_EQ(dev.region(i).info().size, local.region(i).info().size) << i;
    EXPECT_EQ(dev.region(i).info().flags, local.region(i).info().flags) << i;
  }
  for (uint32_t i = 0; i < dev.info().num_irqs; ++i) {
    EXPECT_EQ(dev.irq_info(i).count, local.irq_info(i).count) << i;
    EXPECT_EQ(dev.irq_info(i).flags, local.irq_info(i).flags) << i;
  }
  EXPECT_EQ(dev.config().read_all(), local.config().read_all());
  auto bar0 = dev.bar(0);
  EXPECT_EQ(bar0.size(), uint64_t{1} << 20);
  // Offsets are the client's own layout: index << 40.
  EXPECT_EQ(bar0.info().offset, 0u);
  EXPECT_EQ(dev.region(VFIO_PCI_CONFIG_REGION_INDEX).info().offset,
            uint64_t{VFIO_PCI_CONFIG_REGION_INDEX} << 40);
  EXPECT_EQ(bar0.read32(reg::kIdentification), 0x010000edu);
  bar0.write32(reg::kLiveness, 0x12345678);
  EXPECT_EQ(bar0.read32(reg::kLiveness), ~0x12345678u);
  auto cfg = dev.config();
  EXPECT_EQ(cfg.vendor_id(), 0x1234);
  EXPECT_EQ(cfg.device_id(), 0x11e8);
  EXPECT_FALSE(dev.config().capabilities().empty());
  EXPECT_EQ(dev.irq_info(VFIO_PCI_MSI_IRQ_INDEX).count, 1u);
  EXPECT_EQ(dev.irq_info(VFIO_PCI_INTX_IRQ_INDEX).count, 1u);
  EXPECT_TRUE(dev.irq_info(VFIO_PCI_INTX_IRQ_INDEX).eventfd());
  // An interrupt from the device reaches our eventfd (MSI needs bus mastering).
  cfg.enable_memory(true);
  cfg.enable_bus_master(true);
  auto msi = dev.enable_irq(VFIO_PCI_MSI_IRQ_INDEX, 1);
  bar0.write32(0x60, 0x1);
  EXPECT_EQ(msi.wait(0, std::chrono::seconds(2)), 1u);
  bar0.write32(0x64, 0x1);
  msi.disable();
  // Reset: works when the server says it does, else answers as the local device does.
  int local_err = 0;
  int remote_err = 0;
  try {
    local.reset();
  } catch (const driver::Error& e) {
    local_err = e.error();
  }
  try {
    dev.reset();
  } catch (const driver::Error& e) {
    remote_err = e.error();
  }
  if ((dev.info().flags & VFIO_DEVICE_FLAGS_RESET) != 0) {
    EXPECT_EQ(remote_err, 0) << errno_name(remote_err);
  } else {
    EXPECT_EQ(errno_name(remote_err), errno_name(local_err));
  }
  EXPECT_EQ(bar0.read32(reg::kIdentification), 0x010000edu);
  EXPECT_EQ(dev.dma().kind(), DmaKind::kVfioUser);
  EXPECT_STREQ(driver::dma_kind_name(dev.dma().kind()), "vfio-user");
  EXPECT_TRUE(dev.dma().translates());
  EXPECT_FALSE(dev.iommu_faults().has_value());
}

TEST(VfioUserClientServer, EduDriverPassesEveryStep) {
  ServedDevice edu;
  for (const bool intx : {false, true}) {
    examples::EduDriverOptions o;
    o.latency_samples = 30;
    o.dma_rounds = 2;
    o.force_intx = intx;
    const auto r = examples::run_edu_driver(edu.target(), o);
    EXPECT_TRUE(r.passed()) << examples::format_edu_report(r);
    EXPECT_EQ(r.backend, "vfio-user");
    EXPECT_EQ(r.dma_kind, "vfio-user");
    EXPECT_EQ(r.irq_mode, intx ? "INTx" : "MSI");
    EXPECT_EQ(r.steps.size(), 11u) << examples::format_edu_report(r);
    EXPECT_FALSE(r.iommu_faults.has_value());
  }
}

TEST(VfioUserClientServer, DmaThroughASharedFdAndByMessages) {
  for (const char* twin : {"twin=on", "twin=off"}) {
    SCOPED_TRACE(twin);
    ServedDevice edu;
    Device dev = driver::open(edu.target(twin));
    dev.config().enable_memory(true);
    dev.config().enable_bus_master(true);
    auto bar0 = dev.bar(0);
    // fd-backed: a DmaBuffer (memfd) is mapped by the server too.
    auto buf = DmaBuffer::allocate(4096);
    for (size_t i = 0; i < 64; ++i) buf.bytes()[i] = static_cast<std::byte>(i + 1);
    auto m = dev.dma().map(buf, {.iova = std::nullopt, .iova_limit = 0x0fffffff});
    EXPECT_NE(m.iova(), 0u);
    EXPECT_LE(m.iova() + 4095, 0x0fffffffu);
    edu_dma(bar0, m.iova(), devices::kEduDmaBufferBase, 64, false);
    // fd-less: caller memory, reached by DMA_READ/DMA_WRITE messages.
    auto mem = Mapping::anonymous(4096);
    ASSERT_TRUE(mem.ok());
    auto* p = static_cast<uint8_t*>(mem->data());
    auto fm = dev.dma().map_memory(p, 4096, {.iova = std::nullopt, .iova_limit = 0x0fffffff});
    edu_dma(bar0, devices::kEduDmaBufferBase, fm.iova(), 64, true);  // device -> our memory
    for (size_t i = 0; i < 64; ++i) ASSERT_EQ(p[i], i + 1) << i;
    for (size_t i = 0; i < 64; ++i) p[i] = static_cast<uint8_t>(0xc0 + i);
    edu_dma(bar0, fm.iova(), devices::kEduDmaBufferBase, 64, false);  // our memory -> device
    edu_dma(bar0, devices::kEduDmaBufferBase, m.iova() + 1024, 64, true);
    for (size_t i = 0; i < 64; ++i) {
      ASSERT_EQ(buf.bytes()[1024 + i], static_cast<std::byte>(0xc0 + i)) << i;
    }
    // An unmapped IOVA: refused, memory untouched.
    const uint64_t gone = fm.iova();
    fm.unmap();
    std::memset(p, 0x5a, 64);
    edu_dma(bar0, devices::kEduDmaBufferBase, gone, 64, true);
    for (size_t i = 0; i < 64; ++i) ASSERT_EQ(p[i], 0x5a);
    m.unmap();
  }
}

TEST(VfioUserClientServer, ThreadsPipelineRegionAccesses) {
  ServedDevice edu;
  Device dev = driver::open(edu.target());
  auto bar0 = dev.bar(0);
  auto cfg = dev.config();
  std::atomic<int> wrong{0};
  std::vector<std::jthread> ts;
  ts.reserve(4);
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        if (bar0.read32(reg::kIdentification) != 0x010000edu) ++wrong;
        if (cfg.vendor_id() != 0x1234) ++wrong;
      }
    });
  }
  ts.clear();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(VfioUserClientServer, ServerLimitsAreEnforced) {
  vu::ServerOptions so;
  so.max_data_xfer_size = 16;
  so.max_msg_fds = 1;
  so.max_dma_maps = 2;
  ServedDevice edu(so);
  Device dev = driver::open(edu.target());
  const auto& conn = connection_of(dev);
  EXPECT_EQ(conn.server().max_data_xfer_size, 16u);
  EXPECT_EQ(conn.server().max_msg_fds, 1u);
  EXPECT_EQ(conn.max_xfer(), 16u);
  // A 256-byte config read goes out as 16-byte REGION_READs.
  auto all = dev.config().read_all();
  EXPECT_EQ(all.size(), 256u);
  EXPECT_EQ(all[0], 0x34);
  EXPECT_EQ(all[1], 0x12);
  // A long BAR write (posted, split) lands whole.
  auto bar0 = dev.bar(0);
  std::vector<std::byte> in(24);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<std::byte>(0x10 + i);
  bar0.write_bytes(reg::kDmaSrc, in);
  EXPECT_EQ(bar0.read64(reg::kDmaSrc), 0x1716151413121110u);
  EXPECT_EQ(bar0.read64(reg::kDmaDst), 0x1f1e1d1c1b1a1918u);
  // max_dma_maps: the third map is refused by the client.
  auto b = DmaBuffer::allocate(size_t{3} * 4096);
  auto m1 = dev.dma().map(b, 0, 4096);
  auto m2 = dev.dma().map(b, 4096, 4096);
  EXPECT_DRIVER_ERROR((void)dev.dma().map(b, 8192, 4096), ENOSPC, "max_dma_maps");
  // One eventfd per SET_IRQS message still enables MSI.
  dev.config().enable_bus_master(true);
  auto msi = dev.enable_irq(VFIO_PCI_MSI_IRQ_INDEX, 1);
  bar0.write32(0x60, 0x1);
  EXPECT_EQ(msi.wait(0, std::chrono::seconds(2)), 1u);
}

TEST(VfioUserClientServer, ErrorsNameTheCommandAndTheServerGoingAwayFailsCleanly) {
  auto edu = std::make_unique<ServedDevice>();
  const std::string target = edu->target();
  Device dev = driver::open(target);
  auto bar0 = dev.bar(0);
  EXPECT_EQ(bar0.read32(reg::kIdentification), 0x010000edu);
  auto buf = DmaBuffer::allocate(4096);
  auto m = dev.dma().map(buf);
  edu->stop();
  EXPECT_DRIVER_ERROR((void)bar0.read32(reg::kIdentification), ECONNRESET,
                      "REGION_READ on " + target + ": ECONNRESET (Connection reset by peer)");
  EXPECT_DRIVER_ERROR((void)bar0.read32(reg::kIdentification), ECONNRESET,
                      "REGION_READ on " + target);
  EXPECT_DRIVER_ERROR(dev.config().command(), ECONNRESET, "REGION_READ on " + target);
  // A mapping made before is unmapped locally: the server dropped it with the connection.
  EXPECT_NO_THROW(m.unmap());
}

TEST(VfioUserClientServer, ServerErrnoReplyNamesTheMessage) {
  ServedDevice edu;
  auto conn = VfioUserConnection::connect(edu.path(), "vfio-user:x");
  vu::RegionAccess a{uint64_t{1} << 20, 0, 4};  // BAR0 is 1 MiB: past its end
  const std::span<const uint8_t> piece(reinterpret_cast<const uint8_t*>(&a), sizeof a);
  VfioUserConnection::Call c;
  EXPECT_DRIVER_ERROR(
      conn->call(c, vu::Command::kRegionRead, std::span(&piece, 1), {}, "BAR0+0x100000"), EINVAL,
      "REGION_READ on vfio-user:x: EINVAL (Invalid argument): BAR0+0x100000");
  // The connection carries on.
  vu::RegionAccess ok{0, 0, 4};
  const std::span<const uint8_t> p2(reinterpret_cast<const uint8_t*>(&ok), sizeof ok);
  conn->call(c, vu::Command::kRegionRead, std::span(&p2, 1));
  uint32_t id = 0;
  std::memcpy(&id, c.payload().data() + sizeof ok, 4);
  EXPECT_EQ(id, 0x010000edu);
}

}  // namespace
}  // namespace uvfio::test
