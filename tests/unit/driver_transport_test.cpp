// The driver API over the emulated transport on all three IOMMU paths, against a small fake
// device (driver_fake_device.h): device/region/IRQ info, region access and mmap, config helpers,
// IRQs, reset, the DMA space and DMA buffers, and the errors' texts.
#include <gtest/gtest.h>
#include <linux/vfio.h>

#include <cstring>
#include <string>

#include "driver/emu_transport.h"
#include "driver/vfio_open.h"
#include "driver_fake_device.h"
#include "driver_test_util.h"
#include "test_util.h"
#include "uvfio/base/fault_injection.h"
#include "uvfio/driver/driver.h"
#include "vfio/emulated_system.h"

namespace uvfio::driver {
namespace {

using test::error_of;
using test::mode_name;

using detail::IommuMode;
using test::FakePciDevice;
using namespace std::chrono_literals;

class DriverTransport : public ::testing::TestWithParam<IommuMode> {
 protected:
  void SetUp() override {
    fake = std::make_shared<FakePciDevice>();
    target = std::string("emu:fake,iommu=") + mode_name(GetParam());
    dev.emplace(detail::open_emulated_ops(target, fake, GetParam()));
  }
  bool noiommu() const { return GetParam() == IommuMode::kNoIommu; }

  std::shared_ptr<FakePciDevice> fake;
  std::string target;
  std::optional<Device> dev;
};

TEST_P(DriverTransport, OpensAndReportsTheDevice) {
  EXPECT_EQ(dev->target(), target);
  EXPECT_EQ(dev->name(), "0000:00:03.0");
  EXPECT_EQ(dev->backend(), "emulated");
  EXPECT_TRUE(dev->info().is_pci());
  EXPECT_TRUE(dev->info().can_reset());
  EXPECT_EQ(dev->info().num_regions, VFIO_PCI_NUM_REGIONS);
  EXPECT_EQ(dev->info().num_irqs, VFIO_PCI_NUM_IRQS);
  EXPECT_EQ(dev->regions().size(), VFIO_PCI_NUM_REGIONS);
  EXPECT_EQ(dev->irqs().size(), VFIO_PCI_NUM_IRQS);
  const DmaKind want[] = {DmaKind::kIommufd, DmaKind::kType1, DmaKind::kNoIommu};
  EXPECT_EQ(dev->dma().kind(), want[static_cast<int>(GetParam())]);
  EXPECT_EQ(dev->dma().translates(), !noiommu());
  EXPECT_EQ(fake->translated(), !noiommu());
  // Not a vfio-pci core device: the emulation has no fault counter to offer.
  EXPECT_FALSE(dev->iommu_faults().has_value());
}

TEST_P(DriverTransport, RegionInfoParsesTheCapabilityChain) {
  const RegionInfo& bar2 = dev->region_info(VFIO_PCI_BAR2_REGION_INDEX);
  EXPECT_EQ(bar2.size, FakePciDevice::kBar2Size);
  EXPECT_TRUE(bar2.mmappable());
  ASSERT_TRUE(bar2.sparse_areas.has_value());
  EXPECT_EQ(*bar2.sparse_areas, (std::vector<SparseArea>{{0, 4096}, {8192, 8192}}));
  EXPECT_EQ(bar2.capability_ids, std::vector<uint16_t>{VFIO_REGION_INFO_CAP_SPARSE_MMAP});
  EXPECT_EQ(bar2.mmap_areas(), *bar2.sparse_areas);
  const RegionInfo& bar0 = dev->region_info(VFIO_PCI_BAR0_REGION_INDEX);
  EXPECT_EQ(bar0.size, FakePciDevice::kBar0Size);
  EXPECT_TRUE(bar0.readable());
  EXPECT_TRUE(bar0.writable());
  EXPECT_FALSE(bar0.mmappable());
  EXPECT_TRUE(bar0.mmap_areas().empty());
  EXPECT_TRUE(bar0.capability_ids.empty());
  EXPECT_EQ(dev->region_info(VFIO_PCI_BAR1_REGION_INDEX).size, 0u);
  EXPECT_EQ(dev->bar(2).name(), "BAR2");
  EXPECT_EQ(pci_region_name(VFIO_PCI_CONFIG_REGION_INDEX), "CONFIG");
  EXPECT_DRIVER_ERROR((void)dev->region_info(9), EINVAL, "region 9 does not exist");
  EXPECT_DRIVER_ERROR((void)dev->bar(6), EINVAL, "BAR6");
}

TEST_P(DriverTransport, RegionReadWriteTypedAndBulk) {
  Region bar0 = dev->bar(0);
  bar0.write32(0x8, 0xdeadbeef);
  EXPECT_EQ(fake->reg(2), 0xdeadbeefu);
  EXPECT_EQ(bar0.read32(0x8), 0xdeadbeefu);
  EXPECT_EQ(bar0.read16(0xa), 0xdeadu);
  EXPECT_EQ(bar0.read8(0x8), 0xefu);
  bar0.write64(0x10, 0x0123456789abcdefULL);
  EXPECT_EQ(fake->reg(4), 0x89abcdefu);
  EXPECT_EQ(fake->reg(5), 0x01234567u);
  EXPECT_EQ(bar0.read64(0x10), 0x0123456789abcdefULL);
  bar0.write8(0x20, 0x5a);
  bar0.write16(0x22, 0x1234);
  EXPECT_EQ(bar0.read32(0x20), 0x1234005au);
  EXPECT_EQ(bar0.read(0x20, 2), 0x5au);

  std::vector<std::byte> out(100), in(100);
  for (size_t i = 0; i < in.size(); ++i) in[i] = std::byte(i * 3);
  Region bar2 = dev->bar(2);
  bar2.write_bytes(4000, in);  // crosses into the page that cannot be mmap()ed: pwrite can
  bar2.read_bytes(4000, out);
  EXPECT_EQ(in, out);
  EXPECT_EQ(std::memcmp(fake->bar2() + 4000, in.data(), in.size()), 0);

  EXPECT_DRIVER_ERROR((void)bar0.read(0, 3), EINVAL,
                      "read BAR0+0x0 (3 bytes) on " + target +
                          ": EINVAL (Invalid argument): size must be 1, 2, 4 or 8");
  EXPECT_DRIVER_ERROR((void)bar0.read32(FakePciDevice::kBar0Size), EINVAL,
                      "outside the region (0x1000 bytes)");
  EXPECT_DRIVER_ERROR(bar0.write32(FakePciDevice::kBar0Size - 2, 1), EINVAL, "write BAR0+0xffe");
  EXPECT_DRIVER_ERROR(bar2.read_bytes(FakePciDevice::kBar2Size - 10, out), EINVAL,
                      "outside the region");
  // BAR1 does not exist (size 0): every access is out of range.
  EXPECT_DRIVER_ERROR((void)dev->bar(1).read8(0), EINVAL, "read BAR1+0x0 (1 bytes)");
}

TEST_P(DriverTransport, MmapHonoursSparseAreasAndRefusesMmioBars) {
  Region bar2 = dev->bar(2);
  RegionMapping m = bar2.map(8192, 8192);
  ASSERT_TRUE(m.valid());
  EXPECT_EQ(m.size(), 8192u);
  EXPECT_EQ(m.region_offset(), 8192u);
  m.write32(4, 0xcafef00d);
  uint32_t seen = 0;
  std::memcpy(&seen, fake->bar2() + 8192 + 4, 4);
  EXPECT_EQ(seen, 0xcafef00du);
  EXPECT_EQ(bar2.read32(8192 + 4), 0xcafef00du);  // the same bytes through pread
  EXPECT_DRIVER_ERROR((void)m.read32(8192), EINVAL, "outside the 0x2000-byte mapping");
  EXPECT_DRIVER_ERROR((void)m.read32(2), EINVAL, "misaligned");

  // The page between the areas (an MSI-X table, typically) is never mapped.
  EXPECT_DRIVER_ERROR((void)bar2.map(4096, 4096), EINVAL,
                      "not inside one mmappable area of BAR2 (areas: [0x0, 0x1000), "
                      "[0x2000, 0x4000))");
  EXPECT_DRIVER_ERROR((void)bar2.map(0, 8192), EINVAL, "not inside one mmappable area");
  EXPECT_DRIVER_ERROR((void)bar2.map(100, 4096), EINVAL, "page-aligned");
  EXPECT_DRIVER_ERROR((void)dev->bar(0).map(0, 4096), EINVAL,
                      "mmap BAR0+0x0 (0x1000 bytes) on " + target +
                          ": EINVAL (Invalid argument): BAR0 is not mmappable");
  auto all = bar2.map_all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].region_offset(), 0u);
  EXPECT_EQ(all[1].size(), 8192u);
  all[0].write8(7, 0x77);
  EXPECT_EQ(static_cast<uint8_t>(fake->bar2()[7]), 0x77);
  RegionMapping moved = std::move(all[0]);
  EXPECT_FALSE(all[0].valid());  // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_EQ(moved.read8(7), 0x77);
}

TEST_P(DriverTransport, ConfigSpaceHelpers) {
  PciConfig cfg = dev->config();
  EXPECT_EQ(cfg.size(), 256u);
  EXPECT_EQ(cfg.vendor_id(), 0x1234);
  EXPECT_EQ(cfg.device_id(), 0x5678);
  EXPECT_EQ(cfg.revision(), 0x01);
  EXPECT_EQ(cfg.class_code(), 0x108000u);
  EXPECT_EQ(cfg.capabilities(),
            (std::vector<CapabilityRef>{{0x05, 0x40, false, 0}, {0x01, 0x50, false, 0}}));
  EXPECT_EQ(cfg.find_capability(0x05), std::optional<uint16_t>(0x40));
  EXPECT_EQ(cfg.find_capability(0x01), std::optional<uint16_t>(0x50));
  EXPECT_EQ(cfg.find_capability(0x10), std::nullopt);
  EXPECT_EQ(cfg.find_ext_capability(0x01), std::nullopt);
  EXPECT_FALSE(cfg.bus_master());
  cfg.enable_memory();
  cfg.enable_bus_master();
  EXPECT_TRUE(cfg.bus_master());
  EXPECT_EQ(cfg.command(), 0x6);
  cfg.disable_intx();
  EXPECT_EQ(cfg.command(), 0x406);
  cfg.enable_bus_master(false);
  EXPECT_EQ(cfg.command(), 0x402);
  EXPECT_EQ(cfg.read_all().size(), 256u);
}

TEST_P(DriverTransport, MsiEnableTriggerWaitTimeout) {
  const IrqInfo& msi = dev->irq_info(VFIO_PCI_MSI_IRQ_INDEX);
  EXPECT_EQ(msi.count, FakePciDevice::kMsiVectors);
  EXPECT_TRUE(msi.eventfd());
  EXPECT_TRUE(msi.noresize());
  IrqVectors v = dev->enable_irq(VFIO_PCI_MSI_IRQ_INDEX, 2);
  EXPECT_TRUE(v.enabled());
  EXPECT_EQ(v.count(), 2u);
  EXPECT_GE(v.fd(1), 0);
  fake->fire(VFIO_PCI_MSI_IRQ_INDEX, 1);
  EXPECT_EQ(v.wait(1, 2s), 1u);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(v.wait(0, 30ms), 0u);  // timeout: nothing fired
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 30ms);
  fake->fire(VFIO_PCI_MSI_IRQ_INDEX, 0);
  fake->fire(VFIO_PCI_MSI_IRQ_INDEX, 0);
  EXPECT_EQ(v.wait(0, 2s), 2u);  // counts accumulate
  v.trigger(1);                  // SET_IRQS DATA_NONE | ACTION_TRIGGER
  EXPECT_EQ(v.poll(1), 1u);
  EXPECT_EQ(v.poll(1), 0u);
  dev->trigger_irq(VFIO_PCI_MSI_IRQ_INDEX, 0, 2);
  EXPECT_EQ(v.poll(0), 1u);
  EXPECT_EQ(v.poll(1), 1u);
  dev->set_irqs_bool(VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_TRIGGER, 0, {true, false});
  EXPECT_EQ(v.poll(0), 1u);
  EXPECT_EQ(v.poll(1), 0u);
  EXPECT_DRIVER_ERROR(v.wait(2, 1ms), EINVAL, "2 vectors are enabled here");
  v.disable();
  EXPECT_FALSE(v.enabled());
  v.disable();  // idempotent
}

TEST_P(DriverTransport, IrqErrorsNameTheOperation) {
  EXPECT_DRIVER_ERROR((void)dev->enable_irq(VFIO_PCI_MSI_IRQ_INDEX, 3), EINVAL,
                      "VFIO_DEVICE_SET_IRQS on " + target +
                          ": EINVAL (Invalid argument): enable MSI vectors 0..2: MSI has 2");
  EXPECT_DRIVER_ERROR((void)dev->enable_irq(VFIO_PCI_MSIX_IRQ_INDEX, 1), EINVAL, "MSI-X has 0");
  EXPECT_DRIVER_ERROR((void)dev->enable_irq(VFIO_PCI_MSI_IRQ_INDEX, 0), EINVAL, "count 0");
  EXPECT_DRIVER_ERROR((void)dev->irq_info(5), EINVAL, "IRQ index 5 does not exist");
  // The device's own refusal (the fake only knows BOOL for nothing but...): DATA_BOOL MASK.
  EXPECT_DRIVER_ERROR(
      dev->set_irqs_bool(VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_ACTION_MASK, 0, {true}), EINVAL,
      "VFIO_DEVICE_SET_IRQS on " + target + ": EINVAL");
}

TEST_P(DriverTransport, IntxIsAutomaskedUntilUnmask) {
  const IrqInfo& intx = dev->irq_info(VFIO_PCI_INTX_IRQ_INDEX);
  EXPECT_TRUE(intx.maskable());
  EXPECT_TRUE(intx.automasked());
  IrqVectors v = dev->enable_irq(VFIO_PCI_INTX_IRQ_INDEX, 1);
  fake->fire(VFIO_PCI_INTX_IRQ_INDEX, 0);
  EXPECT_EQ(v.wait(0, 2s), 1u);
  EXPECT_TRUE(fake->intx_masked());
  fake->fire(VFIO_PCI_INTX_IRQ_INDEX, 0);  // masked: stays pending
  EXPECT_EQ(v.wait(0, 20ms), 0u);
  v.unmask(0);
  EXPECT_EQ(v.wait(0, 2s), 1u);  // the pending interrupt arrives on unmask
  v.unmask(0);
  EXPECT_FALSE(fake->intx_masked());
  v.mask(0);
  EXPECT_TRUE(fake->intx_masked());
  dev->unmask_irq(VFIO_PCI_INTX_IRQ_INDEX);
  EXPECT_FALSE(fake->intx_masked());
}

TEST_P(DriverTransport, IrqVectorsDisableOnDestruction) {
  {
    IrqVectors v = dev->enable_irq(VFIO_PCI_MSI_IRQ_INDEX, 1);
    IrqVectors w = std::move(v);
    EXPECT_FALSE(v.enabled());  // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
    EXPECT_TRUE(w.enabled());
  }
  // Disabled by the destructor: a new enable of INTx would be refused by a real device while
  // MSI is on; here the fake shows it by having no eventfd for MSI any more.
  IrqVectors again = dev->enable_irq(VFIO_PCI_MSI_IRQ_INDEX, 1);
  fake->fire(VFIO_PCI_MSI_IRQ_INDEX, 0);
  EXPECT_EQ(again.wait(0, 2s), 1u);
}

TEST_P(DriverTransport, Reset) {
  dev->bar(0).write32(0, 7);
  dev->reset();
  EXPECT_EQ(fake->resets(), 1);
  EXPECT_EQ(dev->bar(0).read32(0), 0u);
}

TEST_P(DriverTransport, DmaMapAllocatesBelowTheLimitAndTheDeviceSeesTheBuffer) {
  if (noiommu()) GTEST_SKIP() << "no-IOMMU: NoIommuMapsToBusAddresses";
  DmaSpace dma = dev->dma();
  DmaBuffer buf = DmaBuffer::allocate(8192);
  DmaMapOptions o;
  o.iova_limit = 0x0fffffff;  // edu's 28-bit mask
  DmaMapping m = dma.map(buf, o);
  ASSERT_TRUE(m.valid());
  EXPECT_EQ(m.size(), 8192u);
  EXPECT_EQ(m.data(), buf.data());
  EXPECT_NE(m.iova(), 0u);
  EXPECT_EQ(m.iova() % dma.page_size(), 0u);
  EXPECT_LE(m.iova() + m.size() - 1, 0x0fffffffu);
  const char msg[] = "written by the device";
  ASSERT_EQ(fake->dma_write(m.iova() + 100, msg, sizeof msg), 0);
  EXPECT_STREQ(reinterpret_cast<const char*>(buf.bytes() + 100), msg);
  std::memcpy(buf.bytes() + 4096, "from RAM", 9);
  char back[9] = {};
  ASSERT_EQ(fake->dma_read(m.iova() + 4096, back, sizeof back), 0);
  EXPECT_STREQ(back, "from RAM");
  const uint64_t iova = m.iova();
  m.unmap();
  EXPECT_FALSE(m.valid());
  EXPECT_NE(fake->dma_write(iova, msg, sizeof msg), 0);  // the IOMMU refuses now
}

TEST_P(DriverTransport, NoIommuMapsToBusAddresses) {
  if (!noiommu()) GTEST_SKIP() << "no-IOMMU only";
  DmaSpace dma = dev->dma();
  EXPECT_EQ(dma.iova_ranges(), (std::vector<iommu::IovaRange>{{0, UINT64_MAX}}));
  EXPECT_EQ(dma.page_size(), static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)));
  DmaBuffer buf = DmaBuffer::allocate(4096);
  DmaMapping m = dma.map(buf);
  EXPECT_EQ(m.iova(), reinterpret_cast<uint64_t>(buf.data()));
  const char msg[] = "untranslated";
  ASSERT_EQ(fake->dma_write(m.iova(), msg, sizeof msg), 0);
  EXPECT_STREQ(reinterpret_cast<const char*>(buf.bytes()), msg);
  DmaMapOptions low;
  low.iova_limit = 0x0fffffff;
  EXPECT_DRIVER_ERROR((void)dma.map(buf, low), ERANGE, "exceed the DMA limit 0xfffffff");
  DmaMapOptions fixed;
  fixed.iova = 0x100000;
  EXPECT_DRIVER_ERROR((void)dma.map(buf, fixed), EINVAL, "the bus address is fixed");
}

TEST_P(DriverTransport, DmaFixedIovaAndOverlap) {
  if (noiommu()) GTEST_SKIP() << "translating paths only";
  DmaSpace dma = dev->dma();
  DmaBuffer a = DmaBuffer::allocate(4096), b = DmaBuffer::allocate(4096);
  DmaMapOptions o;
  o.iova = 0x100000;
  DmaMapping ma = dma.map(a, o);
  EXPECT_EQ(ma.iova(), 0x100000u);
  const char* op = GetParam() == IommuMode::kType1 ? "VFIO_IOMMU_MAP_DMA" : "IOMMU_IOAS_MAP";
  EXPECT_DRIVER_ERROR((void)dma.map(b, o), EEXIST,
                      std::string(op) + " on " + target + ": EEXIST (File exists): IOVA 0x100000");
  o.iova = 0x100800;
  EXPECT_DRIVER_ERROR((void)dma.map(b, o), EINVAL, "not page-aligned");
  o.iova = 0x0ffff000;
  o.iova_limit = 0x0ffff000;
  EXPECT_DRIVER_ERROR((void)dma.map(b, o), ERANGE, "exceed the limit 0xffff000");
  // Allocation skips the fixed mapping.
  DmaMapOptions lim;
  lim.iova_limit = 0x200000 - 1;
  DmaMapping mb = dma.map(b, lim);
  EXPECT_NE(mb.iova(), 0x100000u);
  EXPECT_LE(mb.iova(), 0x1ff000u);
}

TEST_P(DriverTransport, DmaAllocationPacksFirstFitAndReusesHoles) {
  if (noiommu()) GTEST_SKIP() << "translating paths only";
  DmaSpace dma = dev->dma();
  DmaMapOptions o;
  o.iova_limit = 0x0fffffff;
  DmaBuffer b1 = DmaBuffer::allocate(4096), b2 = DmaBuffer::allocate(8192),
            b3 = DmaBuffer::allocate(4096);
  DmaMapping m1 = dma.map(b1, o), m2 = dma.map(b2, o), m3 = dma.map(b3, o);
  EXPECT_EQ(m1.iova(), 0x1000u);  // never 0
  EXPECT_EQ(m2.iova(), 0x2000u);
  EXPECT_EQ(m3.iova(), 0x4000u);
  const uint64_t hole = m2.iova();
  m2.unmap();
  DmaMapping m4 = dma.map(b1, 0, 4096, o);
  EXPECT_EQ(m4.iova(), hole);
  // A limit that leaves no room: the only page below 0x2000 (0x1000) is taken.
  DmaMapOptions tight;
  tight.iova_limit = 0x1fff;
  EXPECT_DRIVER_ERROR((void)dma.map(b3, tight), ENOSPC,
                      "no free IOVA range of 0x1000 bytes (alignment 0x1000) at or below 0x1fff");
}

TEST_P(DriverTransport, DmaWithoutLimitUsesAnyUsableIova) {
  DmaSpace dma = dev->dma();
  DmaBuffer buf = DmaBuffer::allocate(size_t{3} * 4096);
  DmaMapping m = dma.map(buf);
  bool inside = false;
  for (const auto& r : dma.iova_ranges()) {
    inside |= r.contains(m.iova()) && r.contains(m.iova() + m.size() - 1);
  }
  EXPECT_TRUE(inside) << std::hex << m.iova();
  const char msg[] = "any";
  ASSERT_EQ(fake->dma_write(m.iova() + 8192, msg, sizeof msg), 0);
  EXPECT_STREQ(reinterpret_cast<const char*>(buf.bytes() + 8192), msg);
}

TEST_P(DriverTransport, IovaRangesAndPageSizes) {
  if (noiommu()) GTEST_SKIP() << "translating paths only";
  DmaSpace dma = dev->dma();
  auto ranges = dma.iova_ranges();
  ASSERT_FALSE(ranges.empty());
  // The emulated group reserves x86's MSI window, as VT-d does: no range may touch it.
  for (const auto& r : ranges) {
    EXPECT_FALSE(r.intersects({0xfee00000, 0xfeefffff})) << std::hex << r.start << "-" << r.last;
  }
  EXPECT_EQ(ranges.front().start, 0u);
  EXPECT_EQ(ranges.back().last, (uint64_t{1} << 48) - 1);
  EXPECT_NE(dma.page_sizes() & 4096, 0u);
  EXPECT_EQ(dma.page_size(), 4096u);
  // A fixed map into the reserved window is refused by the IOMMU layer.
  DmaBuffer buf = DmaBuffer::allocate(4096);
  DmaMapOptions o;
  o.iova = 0xfee00000;
  const Error e = error_of([&] { (void)dma.map(buf, o); });
  EXPECT_NE(e.error(), 0);
}

TEST_P(DriverTransport, MappingKeepsBufferMemoryAndDeviceAlive) {
  if (noiommu()) GTEST_SKIP() << "translating paths only";
  DmaMapping m;
  {
    DmaBuffer buf = DmaBuffer::allocate(4096);
    m = dev->dma().map(buf);
  }  // the DmaBuffer object is gone; its memory is not while mapped
  const char msg[] = "still here";
  ASSERT_EQ(fake->dma_write(m.iova(), msg, sizeof msg), 0);
  EXPECT_STREQ(static_cast<const char*>(m.data()), msg);
  dev.reset();  // the device closes (its fd); the DMA space stays for the mapping
  EXPECT_EQ(fake->closes(), 1);
  m.unmap();  // still works: the container/IOAS outlived the device handle
}

TEST_P(DriverTransport, MapArgumentsAreChecked) {
  DmaSpace dma = dev->dma();
  DmaBuffer buf = DmaBuffer::allocate(8192);
  EXPECT_DRIVER_ERROR((void)dma.map(buf, 4096, 8192), EINVAL, "outside the 0x2000-byte buffer");
  EXPECT_DRIVER_ERROR((void)dma.map(buf, 0, 0), EINVAL, "non-zero multiples");
  EXPECT_DRIVER_ERROR((void)dma.map_memory(buf.bytes() + 8, 4096), EINVAL,
                      "DMA map on " + target + ": EINVAL");
  DmaMapping part = dma.map(buf, 4096, 4096);
  EXPECT_EQ(part.data(), buf.bytes() + 4096);
}

INSTANTIATE_TEST_SUITE_P(Paths, DriverTransport,
                         ::testing::Values(IommuMode::kIommufd, IommuMode::kType1,
                                           IommuMode::kNoIommu),
                         test::mode_param_name);

TEST(DriverTransportHost, ApertureLimitsTheRanges) {
  vfio::HostOptions ho;
  ho.aperture_last = (uint64_t{1} << 32) - 1;
  for (IommuMode mode : {IommuMode::kIommufd, IommuMode::kType1}) {
    Device dev = detail::open_emulated_ops("emu:fake", std::make_shared<FakePciDevice>(), mode, ho);
    auto ranges = dev.dma().iova_ranges();
    ASSERT_FALSE(ranges.empty());
    EXPECT_EQ(ranges.back().last, (uint64_t{1} << 32) - 1) << mode_name(mode);
  }
}

TEST(DriverTransportHost, EveryInjectedFaultSurfacesAsAnErrorAndLeaksNothing) {
  // The emulation's fault points (allocations and "system calls" on the open, bind, attach and
  // map paths) fail one at a time, n = 1, 2, ...: each must reach the caller as a driver::Error
  // and every half-opened fd must be closed again (the device's opens and closes balance).
  for (IommuMode mode : {IommuMode::kIommufd, IommuMode::kType1, IommuMode::kNoIommu}) {
    DmaBuffer buf = DmaBuffer::allocate(4096);
    for (unsigned n = 1;; ++n) {
      ASSERT_LT(n, 500u) << "never completed";
      auto fake = std::make_shared<FakePciDevice>();
      bool caught = false;
      {
        fault::Armed armed(n);
        try {
          Device dev = detail::open_emulated_ops("emu:fake", fake, mode);
          DmaMapOptions o;
          o.iova_limit = mode == IommuMode::kNoIommu ? UINT64_MAX : 0x0fffffff;
          DmaMapping m = dev.dma().map(buf, o);
          m.unmap();
        } catch (const Error& e) {
          caught = true;
          EXPECT_NE(std::string(e.what()).find("emu:fake"), std::string::npos) << e.what();
        }
      }
      const bool injected = fault::injected();
      EXPECT_EQ(fake->opens(), fake->closes()) << mode_name(mode) << " fault " << n;
      if (!injected) {
        EXPECT_FALSE(caught) << mode_name(mode);
        // Each path reaches several fault points (fd installs, backend/IOAS objects, the map).
        EXPECT_GT(n, 4u) << mode_name(mode);
        break;
      }
      EXPECT_TRUE(caught) << mode_name(mode) << ": fault " << n << " was swallowed";
    }
  }
}

/// A host whose device shares its group with a device bound to another driver.
struct SharedHost {
  SharedHost(bool noiommu_mode = false) {
    vfio::HostOptions ho;
    ho.enable_unsafe_noiommu_mode = noiommu_mode;
    host = std::make_shared<vfio::Host>(ho);
    group = *host->add_device(
        {"0000:00:03.0", vfio::DriverState::kVfio, std::make_shared<FakePciDevice>(), true});
    sys = std::make_shared<vfio::EmulatedSystem>(host, vfio::Credentials::privileged("test"));
  }
  std::shared_ptr<vfio::Host> host;
  int group = -1;
  std::shared_ptr<vfio::EmulatedSystem> sys;
};

TEST(DriverOpenSequence, Type1RefusesANonViableGroup) {
  SharedHost h;
  ASSERT_OK(
      h.host->add_device({"0000:00:03.1", vfio::DriverState::kOther, nullptr, true}, h.group));
  EXPECT_DRIVER_ERROR((void)detail::open_with_type1(h.sys, "/dev/vfio/" + std::to_string(h.group),
                                                    "0000:00:03.0", "emu:t"),
                      EBUSY,
                      "VFIO_GROUP_GET_STATUS on emu:t: EBUSY (Device or resource busy): "
                      "/dev/vfio/0 is not viable");
}

TEST(DriverOpenSequence, NoIommuNeedsTheMode) {
  SharedHost h;
  EXPECT_DRIVER_ERROR(
      (void)detail::open_with_noiommu(
          h.sys, "/dev/vfio/noiommu-0", "0000:00:03.0",
          [](const void* va, uint64_t) { return reinterpret_cast<uint64_t>(va); }, "emu:t"),
      EOPNOTSUPP,
      "VFIO_CHECK_EXTENSION on emu:t: EOPNOTSUPP (Operation not supported): the container does "
      "not offer VFIO_NOIOMMU_IOMMU (no-IOMMU mode is not enabled)");
}

TEST(DriverOpenSequence, StepErrorsNameTheStep) {
  SharedHost h;
  EXPECT_DRIVER_ERROR((void)detail::open_with_iommufd(h.sys, "/dev/vfio/devices/vfio7", "emu:t"),
                      ENOENT, "open(/dev/vfio/devices/vfio7) on emu:t: ENOENT");
  EXPECT_DRIVER_ERROR((void)detail::open_with_type1(h.sys, "/dev/vfio/0", "0000:00:09.0", "emu:t"),
                      ENODEV, "VFIO_GROUP_GET_DEVICE_FD on emu:t: ENODEV");
  // Nothing leaked: the same group opens again (a group is single-open, EBUSY otherwise).
  auto opened = detail::open_with_type1(h.sys, "/dev/vfio/0", "0000:00:03.0", "emu:t");
  EXPECT_TRUE(opened.device.valid());
}

TEST(DriverOpenSequence, IommuOptionIsParsed) {
  std::map<std::string, std::string> o{{"iommu", "type1"}, {"dma_mask", "1"}};
  EXPECT_EQ(detail::take_iommu_mode(o, "emu:x"), IommuMode::kType1);
  EXPECT_EQ(o.size(), 1u);  // consumed; the rest is the device's
  EXPECT_EQ(detail::take_iommu_mode(o, "emu:x"), IommuMode::kIommufd);
  o["iommu"] = "noiommu";
  EXPECT_EQ(detail::take_iommu_mode(o, "emu:x"), IommuMode::kNoIommu);
  o["iommu"] = "vt-d";
  EXPECT_DRIVER_ERROR((void)detail::take_iommu_mode(o, "emu:x,iommu=vt-d"), EINVAL,
                      "open on emu:x,iommu=vt-d: EINVAL (Invalid argument): unknown iommu=vt-d "
                      "(accepted: iommu=iommufd, iommu=type1, iommu=noiommu)");
}

}  // namespace
}  // namespace uvfio::driver
