// The driver API on a PCIe function served by the real vfio-pci core (not edu): a memory-backed
// BAR holding an MSI-X table — sparse mmap areas from the core's capability chain, mapped access
// sharing bytes with pread and with the model, the MSI-X page refused — the standard and
// extended capability walk, MSI-X vectors fired by the model, and a reset.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <atomic>
#include <cstring>

#include "driver/emu_transport.h"
#include "driver_test_util.h"
#include "test_util.h"
#include "uvfio/driver/driver.h"
#include "uvfio/pci/device_model.h"

namespace uvfio::driver {
namespace {

using detail::IommuMode;
using namespace std::chrono_literals;

constexpr uint64_t kBarSize = 16384;
constexpr uint32_t kTableOffset = 0x2000;
constexpr uint32_t kPbaOffset = 0x3000;
constexpr unsigned kVectors = 4;

/// BAR0: 16 KiB of shared memory, the MSI-X table in page 2 and the PBA in page 3.
class MemoryModel : public pci::DeviceModel {
 public:
  pci::DeviceLayout layout() const override {
    pci::DeviceLayout l;
    l.vendor_id = 0x1b36;
    l.device_id = 0x0001;
    l.class_code = 0x020000;
    l.name = "memory-model";
    l.bars[0] = {pci::BarType::kMem32, kBarSize, false, true};
    l.capabilities = {pci::PmSpec{}, pci::MsixSpec{kVectors, 0, kTableOffset, 0, kPbaOffset},
                      pci::ExpressSpec{}};
    return l;
  }
  void attach(pci::DeviceBus& bus) override { bus_ = &bus; }
  void reset() override { ++resets; }

  pci::DeviceBus* bus_ = nullptr;
  std::atomic<int> resets{0};
};

class DriverPciModel : public ::testing::TestWithParam<IommuMode> {
 protected:
  void SetUp() override {
    model = std::make_shared<MemoryModel>();
    auto ops = pci::make_vfio_pci_device(model);
    ASSERT_TRUE(ops.ok()) << errno_name(ops.error());
    dev.emplace(detail::open_emulated_ops("emu:memory-model", *ops, GetParam()));
  }
  std::shared_ptr<MemoryModel> model;
  std::optional<Device> dev;
};

TEST_P(DriverPciModel, SparseMmapOfAMemoryBarAroundTheMsixTable) {
  const RegionInfo& bar0 = dev->region_info(VFIO_PCI_BAR0_REGION_INDEX);
  EXPECT_EQ(bar0.size, kBarSize);
  ASSERT_TRUE(bar0.mmappable());
  ASSERT_TRUE(bar0.sparse_areas.has_value());
  // Whatever the core's exact areas, none may cover the table or PBA pages.
  for (const auto& a : *bar0.sparse_areas) {
    EXPECT_FALSE(a.offset < kPbaOffset + 4096 && kTableOffset < a.offset + a.size)
        << std::hex << a.offset << "+" << a.size;
  }
  ASSERT_FALSE(bar0.sparse_areas->empty());
  EXPECT_EQ(bar0.sparse_areas->front().offset, 0u);

  Region r = dev->bar(0);
  RegionMapping m = r.map(0, 4096);
  m.write32(0x10, 0xfeedf00d);
  EXPECT_EQ(r.read32(0x10), 0xfeedf00du);  // pread sees the mapped write
  uint32_t seen = 0;
  std::memcpy(&seen, model->bus_->bar_memory(0) + 0x10, 4);
  EXPECT_EQ(seen, 0xfeedf00du);  // and so does the model
  r.write32(0x20, 0x12345678);
  EXPECT_EQ(m.read32(0x20), 0x12345678u);
  auto refused = [&](uint64_t off) {
    try {
      (void)r.map(off, 4096);
    } catch (const Error& e) {
      EXPECT_EQ(e.error(), EINVAL);
      EXPECT_NE(std::string(e.what()).find("not inside one mmappable area of BAR0"),
                std::string::npos)
          << e.what();
      return true;
    }
    return false;
  };
  EXPECT_TRUE(refused(kTableOffset));
  EXPECT_TRUE(refused(kPbaOffset));
  EXPECT_EQ(r.map_all().size(), bar0.sparse_areas->size());
}

TEST_P(DriverPciModel, CapabilityWalkFindsStandardAndExtendedSpace) {
  PciConfig cfg = dev->config();
  EXPECT_EQ(cfg.size(), 4096u);  // a PCIe function
  EXPECT_EQ(cfg.vendor_id(), 0x1b36);
  EXPECT_EQ(cfg.class_code(), 0x020000u);
  auto pm = cfg.find_capability(PCI_CAP_ID_PM);
  auto msix = cfg.find_capability(PCI_CAP_ID_MSIX);
  auto exp = cfg.find_capability(PCI_CAP_ID_EXP);
  ASSERT_TRUE(pm && msix && exp);
  EXPECT_EQ(*pm, 0x40);  // placed in order from 0x40
  EXPECT_LT(*pm, *msix);
  EXPECT_LT(*msix, *exp);
  // MSI-X Table Offset/BIR as the model described it.
  EXPECT_EQ(cfg.read32(static_cast<uint16_t>(*msix + PCI_MSIX_TABLE)), kTableOffset | 0u);
  EXPECT_EQ(cfg.read16(static_cast<uint16_t>(*msix + PCI_MSIX_FLAGS)) & PCI_MSIX_FLAGS_QSIZE,
            kVectors - 1);
  size_t standard = 0;
  for (const auto& c : cfg.capabilities()) standard += c.extended ? 0 : 1;
  EXPECT_EQ(standard, 3u);  // the empty extended list adds nothing
}

TEST_P(DriverPciModel, MsixVectorsFromTheModel) {
  dev->config().enable_bus_master();  // MSI-X messages are memory writes
  const IrqInfo& info = dev->irq_info(VFIO_PCI_MSIX_IRQ_INDEX);
  EXPECT_EQ(info.count, kVectors);
  IrqVectors v = dev->enable_irq(VFIO_PCI_MSIX_IRQ_INDEX, kVectors);
  ASSERT_TRUE(model->bus_->msix_enabled());
  model->bus_->signal_msi(2);
  EXPECT_EQ(v.wait(2, 5s), 1u);
  EXPECT_EQ(v.poll(0), 0u);
  model->bus_->signal_msi(3);
  EXPECT_EQ(v.wait(3, 5s), 1u);
  v.disable();
  EXPECT_FALSE(model->bus_->msix_enabled());
}

TEST_P(DriverPciModel, ResetReachesTheModel) {
  ASSERT_TRUE(dev->info().can_reset());  // PCIe with FLR
  PciConfig cfg = dev->config();
  cfg.enable_bus_master();
  const int before = model->resets.load();
  dev->reset();
  EXPECT_GT(model->resets.load(), before);
  // pci_try_reset_function saves config space around the reset and restores it: the driver's
  // Command register survives VFIO_DEVICE_RESET.
  EXPECT_TRUE(cfg.bus_master());
}

INSTANTIATE_TEST_SUITE_P(Paths, DriverPciModel,
                         ::testing::Values(IommuMode::kIommufd, IommuMode::kType1,
                                           IommuMode::kNoIommu),
                         test::mode_param_name);

}  // namespace
}  // namespace uvfio::driver
