// The vfio-pci core device: layout validation, VFIO_DEVICE_GET_INFO's argsz handling, ioctl
// dispatch, open/close semantics (vfio_pci_core_enable / _disable), the REQ path, DMA through the
// DeviceBus on a real IOAS (and untranslated under no-IOMMU), and the whole stack through an
// EmulatedSystem's group path (Linux 6.12 vfio_pci_core.c).
#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "pci_test_model.h"
#include "test_util.h"
#include "uvfio/iommu/access.h"
#include "vfio/emulated_system.h"
#include "vfio/host.h"

using namespace uvfio;
using namespace uvfio::pci;
using uvfio::test::CoreUnderTest;
using uvfio::test::region;
using uvfio::test::simple_layout;
using uvfio::test::TestModel;

namespace {

int make_device(DeviceLayout l) {
  auto r = make_vfio_pci_device(std::make_shared<TestModel>(std::move(l)));
  return r ? 0 : r.error();
}

// ---------------------------------------------------------------------------- validation

TEST(PciLayout, ValidLayoutsAreAccepted) {
  EXPECT_EQ(make_device(simple_layout()), 0);
  DeviceLayout l = simple_layout();
  l.bars[2] = {BarType::kMem64, uint64_t{1} << 33, true, false};
  l.bars[4] = {BarType::kIo, 256, false, false};
  l.rom_size = 1 << 16;
  l.interrupt_pin = 0;
  l.capabilities = {PmSpec{}, MsiSpec{32, true, true}, ExpressSpec{9, false},
                    MsixSpec{2048, 2, 0, 2, 0x8000}};
  EXPECT_EQ(make_device(l), 0);
}

TEST(PciLayout, ImpossibleLayoutsAreEinval) {
  EXPECT_EQ(make_vfio_pci_device(nullptr).error(), EINVAL);
  std::vector<std::pair<const char*, void (*)(DeviceLayout&)>> bad = {
      {"vendor 0xffff", [](DeviceLayout& l) { l.vendor_id = 0xffff; }},
      {"class > 24 bits", [](DeviceLayout& l) { l.class_code = 0x1000000; }},
      {"interrupt pin 5", [](DeviceLayout& l) { l.interrupt_pin = 5; }},
      {"BAR size not a power of two", [](DeviceLayout& l) { l.bars[0].size = 4096 + 16; }},
      {"memory BAR below 16", [](DeviceLayout& l) { l.bars[0].size = 8; }},
      {"I/O BAR below 4",
       [](DeviceLayout& l) {
         l.bars[3] = {BarType::kIo, 2, false, false};
       }},
      {"I/O BAR over 64 KiB",
       [](DeviceLayout& l) {
         l.bars[3] = {BarType::kIo, 1 << 17, false, false};
       }},
      {"memory-backed I/O BAR",
       [](DeviceLayout& l) {
         l.bars[3] = {BarType::kIo, 16, false, true};
       }},
      {"prefetchable I/O BAR",
       [](DeviceLayout& l) {
         l.bars[3] = {BarType::kIo, 16, true, false};
       }},
      {"32-bit BAR over 2 GiB", [](DeviceLayout& l) { l.bars[0].size = uint64_t{1} << 32; }},
      {"BAR over 1 TiB",
       [](DeviceLayout& l) {
         l.bars[2] = {BarType::kMem64, uint64_t{1} << 41, false, false};
       }},
      {"64-bit BAR in slot 5",
       [](DeviceLayout& l) {
         l.bars[5] = {BarType::kMem64, 4096, false, false};
       }},
      {"64-bit BAR with its upper slot used",
       [](DeviceLayout& l) {
         l.bars[2] = {BarType::kMem64, 4096, false, false};
         l.bars[3] = {BarType::kMem32, 4096, false, false};
       }},
      {"kNone with a size", [](DeviceLayout& l) { l.bars[5].size = 4096; }},
      {"ROM not a power of two", [](DeviceLayout& l) { l.rom_size = 3000; }},
      {"ROM below 2 KiB", [](DeviceLayout& l) { l.rom_size = 1024; }},
      {"two MSI capabilities", [](DeviceLayout& l) { l.capabilities.emplace_back(MsiSpec{}); }},
      {"MSI with 3 vectors", [](DeviceLayout& l) { l.capabilities = {MsiSpec{3}}; }},
      {"MSI with 64 vectors", [](DeviceLayout& l) { l.capabilities = {MsiSpec{64}}; }},
      {"MSI-X with 0 vectors", [](DeviceLayout& l) { l.capabilities = {MsixSpec{0}}; }},
      {"MSI-X with 2049 vectors",
       [](DeviceLayout& l) {
         l.bars[2] = {BarType::kMem64, 1 << 16, false, false};
         l.capabilities = {MsixSpec{2049, 2, 0, 2, 0x9000}};
       }},
      {"MSI-X table outside its BAR",
       [](DeviceLayout& l) {
         l.capabilities = {MsixSpec{8, 0, 4096 - 64, 0, 0}};
       }},
      {"MSI-X PBA outside its BAR",
       [](DeviceLayout& l) {
         l.capabilities = {MsixSpec{8, 0, 0, 0, 4096}};
       }},
      {"MSI-X table in an absent BAR",
       [](DeviceLayout& l) {
         l.capabilities = {MsixSpec{8, 5, 0, 0, 0x800}};
       }},
      {"MSI-X table in the upper half of a 64-bit BAR",
       [](DeviceLayout& l) {
         l.bars[2] = {BarType::kMem64, 4096, false, false};
         l.capabilities = {MsixSpec{8, 3, 0, 2, 0x800}};
       }},
      {"MSI-X table in an I/O BAR",
       [](DeviceLayout& l) {
         l.bars[3] = {BarType::kIo, 256, false, false};
         l.capabilities = {MsixSpec{8, 3, 0, 0, 0}};
       }},
      {"MSI-X table offset not 8-aligned",
       [](DeviceLayout& l) {
         l.capabilities = {MsixSpec{8, 0, 4, 0, 0x800}};
       }},
      {"MSI-X table overlapping the PBA",
       [](DeviceLayout& l) {
         l.capabilities = {MsixSpec{8, 0, 0, 0, 0x40}};
       }},
      {"PCIe port type 4 (a root port)",
       [](DeviceLayout& l) {
         l.capabilities = {ExpressSpec{4, true}};
       }},
  };
  for (auto& [what, mutate] : bad) {
    DeviceLayout l = simple_layout();
    mutate(l);
    EXPECT_EQ(make_device(l), EINVAL) << what;
  }
}

TEST(PciLayout, AttachGivesTheModelTheBus) {
  auto model = std::make_shared<TestModel>(simple_layout());
  auto ops = make_vfio_pci_device(model);
  ASSERT_TRUE(ops.ok());
  ASSERT_NE(model->bus(), nullptr);
  // The driver side reaches the bus from the ops it registered.
  auto* bus = dynamic_cast<DeviceBus*>(ops->get());
  EXPECT_EQ(bus, model->bus());
  EXPECT_EQ(bus->dma_faults(), 0u);
}

// ------------------------------------------------------------------------------- ioctls

struct Core : ::testing::Test {
  Core() : t(simple_layout()) {}
  CoreUnderTest t;
};

TEST_F(Core, GetInfoArgszHandling) {
  ASSERT_EQ(t.open(), 0);
  std::vector<uint32_t> buf(8, 0xcccccccc);
  auto call = [&](uint32_t argsz) {
    std::fill(buf.begin(), buf.end(), 0xcccccccc);
    buf[0] = argsz;
    return t.core->ioctl(VFIO_DEVICE_GET_INFO, reinterpret_cast<unsigned long>(buf.data()));
  };
  EXPECT_RC(call(15), EINVAL);
  EXPECT_EQ(buf[1], 0xccccccccu);  // nothing written
  // minsz: flags, num_regions, num_irqs; nothing past argsz.
  ASSERT_EQ(call(16), 0);
  EXPECT_EQ(buf[0], 16u);
  EXPECT_EQ(buf[1], uint32_t{VFIO_DEVICE_FLAGS_PCI});  // not on a bus, no FLR, no PM: no RESET
  EXPECT_EQ(buf[2], 9u);
  EXPECT_EQ(buf[3], 5u);
  EXPECT_EQ(buf[4], 0xccccccccu);
  // The whole 6.12 struct (cap_offset, pad) when argsz allows: no capability for a plain function.
  ASSERT_EQ(call(64), 0);
  EXPECT_EQ(buf[0], 64u);
  EXPECT_EQ(buf[4], 0u);
  EXPECT_EQ(buf[5], 0u);
  EXPECT_EQ(buf[6], 0xccccccccu);
  EXPECT_RC(t.core->ioctl(VFIO_DEVICE_GET_INFO, 0), EFAULT);
}

TEST(CoreInfo, ResetFlagFollowsTheResetMethod) {
  DeviceLayout l = simple_layout();
  l.capabilities.emplace_back(ExpressSpec{0, true});
  CoreUnderTest t(l);
  ASSERT_EQ(t.open(), 0);
  vfio_device_info info{};
  info.argsz = sizeof info;
  ASSERT_EQ(t.core->ioctl(VFIO_DEVICE_GET_INFO, reinterpret_cast<unsigned long>(&info)), 0);
  EXPECT_EQ(info.flags, uint32_t{VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET});
}

TEST_F(Core, IoctlDispatch) {
  ASSERT_EQ(t.open(), 0);
  vfio_irq_info ii{};
  ii.argsz = sizeof ii;
  ii.index = VFIO_PCI_MSI_IRQ_INDEX;
  ASSERT_EQ(t.core->ioctl(VFIO_DEVICE_GET_IRQ_INFO, reinterpret_cast<unsigned long>(&ii)), 0);
  EXPECT_EQ(ii.count, 1u);
  vfio_irq_set is{};
  is.argsz = sizeof is;
  is.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
  is.index = VFIO_PCI_MSI_IRQ_INDEX;
  EXPECT_RC(t.core->ioctl(VFIO_DEVICE_SET_IRQS, reinterpret_cast<unsigned long>(&is)), EINVAL);
  EXPECT_RC(t.core->ioctl(VFIO_DEVICE_RESET, 0), EINVAL);  // no reset method
  // Not implemented by uvfio (documented), and numbers vfio-pci does not know.
  vfio_device_ioeventfd ioe{};
  ioe.argsz = sizeof ioe;
  EXPECT_RC(t.core->ioctl(VFIO_DEVICE_IOEVENTFD, reinterpret_cast<unsigned long>(&ioe)), ENOTTY);
  EXPECT_RC(t.core->ioctl(VFIO_GROUP_GET_STATUS, 0), ENOTTY);
  EXPECT_RC(t.core->ioctl(0, 0), ENOTTY);
  // The hot-reset pair without a VFIO core behind: no bus to reset.
  uint32_t hdr[3] = {12, 0, 0};
  EXPECT_RC(t.core->ioctl(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, reinterpret_cast<unsigned long>(hdr)),
            ENODEV);
  hdr[0] = 8;
  EXPECT_RC(t.core->ioctl(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, reinterpret_cast<unsigned long>(hdr)),
            EINVAL);
}

// ---------------------------------------------------------------------------- open/close

TEST_F(Core, OpenEnablesDecodeAndCloseRestoresPowerOnState) {
  EXPECT_EQ(t.model->opens, 0);
  ASSERT_EQ(t.open(), 0);
  EXPECT_TRUE(t.core->is_open());
  EXPECT_EQ(t.model->opens, 1);
  // pci_enable_device: Memory decode on (memory BARs only), Bus Master off.
  const uint64_t cmd = t.cfg_read(PCI_COMMAND, 2);
  EXPECT_TRUE(cmd & PCI_COMMAND_MEMORY);
  EXPECT_FALSE(cmd & PCI_COMMAND_IO);
  EXPECT_FALSE(cmd & PCI_COMMAND_MASTER);
  EXPECT_RC(t.open(), EBUSY);  // the VFIO core opens once
  // The driver programs the function.
  t.command_set(PCI_COMMAND_MASTER);
  t.cfg_write(PCI_BASE_ADDRESS_0, 4, 0xfeb00000);
  EXPECT_EQ(t.cfg_read(PCI_BASE_ADDRESS_0, 4), 0xfeb00000u);
  t.core->close_device();
  EXPECT_FALSE(t.core->is_open());
  EXPECT_EQ(t.model->closes, 1);
  EXPECT_EQ(t.model->resets, 0);  // no reset method: the device stays dirty
  EXPECT_TRUE(t.core->needs_reset());
  t.core->close_device();  // idempotent
  EXPECT_EQ(t.model->closes, 1);
  // A new open sees a fresh config space.
  ASSERT_EQ(t.open(), 0);
  EXPECT_FALSE(t.cfg_read(PCI_COMMAND, 2) & PCI_COMMAND_MASTER);
  EXPECT_NE(t.cfg_read(PCI_BASE_ADDRESS_0, 4), 0xfeb00000u);
  EXPECT_EQ(t.model->opens, 2);
}

TEST(CoreOpen, IoDecodeForIoBars) {
  DeviceLayout l = simple_layout();
  l.bars = {};
  l.bars[0] = {BarType::kIo, 32, false, false};
  CoreUnderTest t(l);
  ASSERT_EQ(t.open(), 0);
  const uint64_t cmd = t.cfg_read(PCI_COMMAND, 2);
  EXPECT_TRUE(cmd & PCI_COMMAND_IO);
  EXPECT_FALSE(cmd & PCI_COMMAND_MEMORY);
}

TEST_F(Core, CloseDisablesInterruptsAndDropsTriggers) {
  ASSERT_EQ(t.open(), 0);
  int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  ASSERT_EQ(t.set_irq_eventfds(VFIO_PCI_MSI_IRQ_INDEX, {efd}), 0);
  EXPECT_TRUE(t.core->msi_enabled());
  ASSERT_EQ(t.set_irq_eventfds(VFIO_PCI_REQ_IRQ_INDEX, {efd}), 0);
  t.core->request(0);
  uint64_t n = 0;
  EXPECT_EQ(::read(efd, &n, sizeof n), 8);  // the REQ trigger fired
  t.core->close_device();
  EXPECT_FALSE(t.core->msi_enabled());
  t.core->request(0);  // no REQ trigger any more (logged)
  EXPECT_EQ(::read(efd, &n, sizeof n), -1);
  ::close(efd);
}

// ---------------------------------------------------------------------------------- DMA

struct Dma : ::testing::Test {
  Dma() : t(simple_layout()), ioas(test::make_ioas()), buf(size_t{4} * 4096, 3), ro(4096, 9) {
    EXPECT_TRUE(ioas->map(buf.source(), 0x100000, test::kFixedRW).ok());
    EXPECT_TRUE(ioas->map(ro.source(), 0x200000, iommu::kMapRead | iommu::kMapFixedIova).ok());
    access = iommu::Access::create();
    EXPECT_TRUE(access->attach(ioas).ok());
  }
  ~Dma() override {
    t.core->close_device();
    (void)access->detach();
  }
  DeviceBus& bus() { return *t.model->bus(); }
  CoreUnderTest t;
  std::shared_ptr<iommu::Ioas> ioas;
  test::Buffer buf, ro;
  std::shared_ptr<iommu::Access> access;
};

TEST_F(Dma, ThroughTheIoasWithBusMaster) {
  uint8_t got[64];
  EXPECT_RC(bus().dma_read(0x100000, got, sizeof got), EIO);  // not open
  ASSERT_EQ(t.open(access), 0);
  EXPECT_RC(bus().dma_read(0x100000, got, sizeof got), EIO);  // Bus Master off
  EXPECT_FALSE(bus().bus_master());
  t.command_set(PCI_COMMAND_MASTER);
  EXPECT_TRUE(bus().bus_master());
  ASSERT_EQ(bus().dma_read(0x100010, got, sizeof got), 0);
  EXPECT_EQ(std::memcmp(got, buf.bytes() + 0x10, sizeof got), 0);
  const char msg[] = "written by the device";
  ASSERT_EQ(bus().dma_write(0x101ff8, msg, sizeof msg), 0);  // across a page
  EXPECT_EQ(std::memcmp(buf.bytes() + 0x1ff8, msg, sizeof msg), 0);
  ASSERT_EQ(bus().dma_read(0x200000, got, 8), 0);  // read-only mapping reads
  EXPECT_EQ(bus().dma_faults(), 0u);
  EXPECT_RC(bus().dma_read(0x100000, got, 0), EINVAL);
  EXPECT_RC(bus().dma_read(~uint64_t{0} - 4, got, 8), EINVAL);  // wraps
  EXPECT_EQ(bus().dma_faults(), 0u);
}

TEST_F(Dma, FaultsAreRefusedLoggedAndCounted) {
  ASSERT_EQ(t.open(access), 0);
  t.command_set(PCI_COMMAND_MASTER);
  uint8_t got[16];
  std::memset(got, 0x77, sizeof got);
  EXPECT_RC(bus().dma_read(0x800000, got, sizeof got), EFAULT);  // unmapped
  EXPECT_EQ(got[0], 0x77);
  EXPECT_EQ(bus().dma_faults(), 1u);
  // Partly mapped: nothing is copied.
  std::memset(buf.bytes() + (size_t{4} * 4096) - 8, 0, 8);
  const uint8_t data[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_RC(bus().dma_write(0x100000 + 4 * 4096 - 8, data, sizeof data), EFAULT);
  EXPECT_EQ(buf.bytes()[4 * 4096 - 8], 0);
  EXPECT_EQ(bus().dma_faults(), 2u);
  EXPECT_RC(bus().dma_write(0x200000, data, 8), EFAULT);  // read-only mapping
  EXPECT_EQ(bus().dma_faults(), 3u);
  // A device detached from its IOAS (cdev path between detach and attach) is blocked.
  ASSERT_TRUE(access->detach().ok());
  EXPECT_RC(bus().dma_read(0x100000, got, 8), EFAULT);
  EXPECT_EQ(bus().dma_faults(), 4u);
  ASSERT_TRUE(access->attach(ioas).ok());
  // After close there is no DMA context.
  t.core->close_device();
  EXPECT_RC(bus().dma_read(0x100000, got, 8), EIO);
  EXPECT_EQ(bus().dma_faults(), 4u);
}

TEST(CoreDma, NoIommuUsesProcessAddresses) {
  CoreUnderTest t(simple_layout());
  ASSERT_EQ(t.open(nullptr, false), 0);
  t.command_set(PCI_COMMAND_MASTER);
  DeviceBus& bus = *t.model->bus();
  std::vector<uint8_t> mem(256, 0x42);
  uint8_t got[16] = {};
  ASSERT_EQ(bus.dma_read(reinterpret_cast<uint64_t>(mem.data()), got, sizeof got), 0);
  EXPECT_EQ(got[15], 0x42);
  const uint8_t v[4] = {9, 8, 7, 6};
  ASSERT_EQ(bus.dma_write(reinterpret_cast<uint64_t>(mem.data()) + 100, v, 4), 0);
  EXPECT_EQ(mem[101], 8);
  // A bad address is a fault, not a crash.
  EXPECT_RC(bus.dma_read(0x1000, got, 8), EFAULT);
  EXPECT_EQ(bus.dma_faults(), 1u);
  t.core->close_device();
}

TEST_F(Dma, UnmapCallbacksReachTheModel) {
  ASSERT_EQ(t.open(access), 0);
  t.core->dma_unmap(0x100000, 0x1000);
  ASSERT_EQ(t.model->unmaps.size(), 1u);
  EXPECT_EQ(t.model->unmaps[0], std::make_pair(uint64_t{0x100000}, uint64_t{0x1000}));
}

// ------------------------------------------------------------------------ the whole stack

TEST(CoreStack, GroupPathEndToEnd) {
  auto host = std::make_shared<vfio::Host>();
  auto model = std::make_shared<TestModel>(simple_layout());
  auto ops = make_vfio_pci_device(model);
  ASSERT_TRUE(ops.ok());
  const int group = *host->add_device({"0000:00:03.0", vfio::DriverState::kVfio, *ops, true});
  vfio::EmulatedSystem sys(host, vfio::Credentials::privileged());
  int c = sys.open("/dev/vfio/vfio", 2);
  int g = sys.open("/dev/vfio/" + std::to_string(group), 2);
  ASSERT_EQ(sys.ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0);
  ASSERT_EQ(sys.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
  long d = sys.ioctl(g, VFIO_GROUP_GET_DEVICE_FD, const_cast<char*>("0000:00:03.0"));
  ASSERT_GE(d, 0);
  const int dev = static_cast<int>(d);
  EXPECT_EQ(model->opens, 1);
  vfio_device_info info{};
  info.argsz = sizeof info;
  ASSERT_EQ(sys.ioctl(dev, VFIO_DEVICE_GET_INFO, &info), 0);
  EXPECT_EQ(info.num_regions, 9u);
  uint32_t id = 0;
  ASSERT_EQ(sys.pread(dev, &id, 4, region(VFIO_PCI_CONFIG_REGION_INDEX)), 4);
  EXPECT_EQ(id, 0x10f01af4u);
  uint32_t v = 0;
  ASSERT_EQ(sys.pread(dev, &v, 4, region(0) + 8), 4);
  EXPECT_EQ(v, 0x51505352u);  // bytes 8..11 ^ 0x5a
  // DMA through the container's mappings.
  test::Buffer mem(4096, 1);
  vfio_iommu_type1_dma_map m{sizeof m, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                             reinterpret_cast<uint64_t>(mem.data()), 0x40000, 4096};
  ASSERT_EQ(sys.ioctl(c, VFIO_IOMMU_MAP_DMA, &m), 0);
  uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
  ASSERT_EQ(sys.pwrite(dev, &cmd, 2, region(VFIO_PCI_CONFIG_REGION_INDEX) + PCI_COMMAND), 2);
  uint8_t got[8];
  ASSERT_EQ(model->bus()->dma_read(0x40000, got, 8), 0);
  EXPECT_EQ(std::memcmp(got, mem.bytes(), 8), 0);
  EXPECT_RC(model->bus()->dma_read(0x80000, got, 8), EFAULT);
  // mmap through the file.
  void* p = sys.mmap(dev, 4096, PROT_READ, MAP_SHARED, region(1));
  ASSERT_FALSE(vfio::VfioSystem::mmap_failed(p));
  sys.munmap(p, 4096);
  EXPECT_EQ(sys.close(dev), 0);
  EXPECT_EQ(model->closes, 1);
  EXPECT_RC(model->bus()->dma_read(0x40000, got, 8), EIO);
  EXPECT_EQ(sys.close(g), 0);
  EXPECT_EQ(sys.close(c), 0);
}

}  // namespace
