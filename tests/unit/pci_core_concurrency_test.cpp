// The vfio-pci core under concurrency: BAR accesses from several threads never overlap a function
// reset (the kernel's memory_lock), DMA from a model thread races open/close and resets safely,
// and hot resets race releases through the VFIO core.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "pci_test_model.h"
#include "test_util.h"
#include "uvfio/iommu/access.h"
#include "uvfio/pci/device_model.h"
#include "vfio/emulated_system.h"
#include "vfio/host.h"

using namespace uvfio;
using namespace uvfio::pci;
using uvfio::test::CoreUnderTest;
using uvfio::test::region;
using uvfio::test::TestModel;

namespace {

// Counts MMIO calls that run while a reset is in progress (there must be none).
class ResetCheckingModel : public TestModel {
 public:
  using TestModel::TestModel;
  uint64_t mmio_read(unsigned bar, uint64_t offset, unsigned size) override {
    if (in_reset_.load()) overlaps.fetch_add(1);
    return TestModel::mmio_read(bar, offset, size);
  }
  void mmio_write(unsigned bar, uint64_t offset, unsigned size, uint64_t value) override {
    if (in_reset_.load()) overlaps.fetch_add(1);
    TestModel::mmio_write(bar, offset, size, value);
  }
  void reset() override {
    in_reset_ = true;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    TestModel::reset();
    in_reset_ = false;
  }
  std::atomic<int> overlaps{0};

 private:
  std::atomic<bool> in_reset_{false};
};

DeviceLayout flr_layout() {
  DeviceLayout l = uvfio::test::simple_layout();
  l.bars[2] = {BarType::kMem32, 8192, false, true};
  l.capabilities = {MsiSpec{}, ExpressSpec{0, true},
                    MsixSpec{.vectors = 4,
                             .table_bar = 2,
                             .table_offset = 0x1000,
                             .pba_bar = 2,
                             .pba_offset = 0x1800}};
  return l;
}

TEST(PciCoreConcurrency, BarAccessNeverOverlapsAReset) {
  auto model = std::make_shared<ResetCheckingModel>(flr_layout());
  auto core = *PciCore::create(model);
  ASSERT_EQ(core->open_device({}), 0);
  const uint8_t exp = *core->config().find_capability(PCI_CAP_ID_EXP);
  std::atomic<bool> stop{false};
  std::atomic<long> accesses{0}, errors{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      uint64_t v = 0;
      while (!stop.load()) {
        // MMIO, memory-backed and MSI-X table accesses.
        const unsigned bar = i == 0 ? 0 : 2;
        const uint64_t off = i == 2 ? 0x1000 + 16 : 0x40;
        if (core->read(&v, 8, region(bar) + off) != 8) errors.fetch_add(1);
        if (core->write(&v, 4, region(bar) + off) != 4) errors.fetch_add(1);
        accesses.fetch_add(1);
      }
    });
  }
  threads.emplace_back([&] {
    for (int n = 0; n < 50; ++n) {
      if (n % 2 == 0) {
        EXPECT_EQ(core->ioctl(VFIO_DEVICE_RESET, 0), 0);
      } else {
        uint16_t ctl = PCI_EXP_DEVCTL_BCR_FLR;
        EXPECT_EQ(core->write(&ctl, 2, region(VFIO_PCI_CONFIG_REGION_INDEX) + exp + PCI_EXP_DEVCTL),
                  2);
      }
    }
    stop = true;
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(model->overlaps.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(accesses.load(), 0);
  EXPECT_EQ(model->resets.load(), 51);  // open + 50
  core->close_device();
}

TEST(PciCoreConcurrency, DmaRacesOpenAndClose) {
  auto ioas = test::make_ioas();
  test::Buffer mem(4096, 1);
  ASSERT_TRUE(ioas->map(mem.source(), 0x10000, test::kFixedRW).ok());
  auto access = iommu::Access::create();
  ASSERT_TRUE(access->attach(ioas).ok());
  CoreUnderTest t(uvfio::test::simple_layout());
  DeviceBus& bus = *t.model->bus();
  std::atomic<bool> stop{false};
  std::atomic<long> ok{0}, eio{0}, other{0};
  std::thread dma([&] {
    uint8_t buf[64];
    while (!stop.load()) {
      int r = bus.dma_read(0x10000, buf, sizeof buf);
      if (r == 0) {
        ok.fetch_add(1);
      } else if (r == -EIO) {
        eio.fetch_add(1);
      } else {
        other.fetch_add(1);
      }
      (void)bus.bus_master();
      bus.signal_msi(0);
      bus.set_intx(r == 0);
    }
  });
  for (int n = 0; n < 200; ++n) {
    ASSERT_EQ(t.open(access), 0);
    t.command_set(PCI_COMMAND_MASTER);
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    t.core->close_device();
  }
  stop = true;
  dma.join();
  EXPECT_EQ(other.load(), 0);  // only successes and "not open / no bus master"
  EXPECT_GT(eio.load(), 0);
  EXPECT_EQ(bus.dma_faults(), 0u);
  (void)access->detach();
}

TEST(PciCoreConcurrency, HotResetRacesRelease) {
  auto host = std::make_shared<vfio::Host>();
  std::vector<std::shared_ptr<TestModel>> models;
  std::vector<int> groups;
  for (const char* name : {"0000:05:00.0", "0000:05:00.1"}) {
    models.push_back(std::make_shared<TestModel>(uvfio::test::simple_layout()));
    groups.push_back(
        *host->add_device({name, vfio::DriverState::kVfio, *make_vfio_pci_device(models.back())}));
  }
  vfio::EmulatedSystem sys(host, vfio::Credentials::privileged());
  int c = sys.open("/dev/vfio/vfio", 2);
  const int ga = sys.open("/dev/vfio/" + std::to_string(groups[0]), 2);
  const int gb = sys.open("/dev/vfio/" + std::to_string(groups[1]), 2);
  ASSERT_EQ(sys.ioctl(ga, VFIO_GROUP_SET_CONTAINER, &c), 0);
  ASSERT_EQ(sys.ioctl(gb, VFIO_GROUP_SET_CONTAINER, &c), 0);
  ASSERT_EQ(sys.ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
  const long a = sys.ioctl(ga, VFIO_GROUP_GET_DEVICE_FD, const_cast<char*>("0000:05:00.0"));
  ASSERT_GE(a, 0);
  std::atomic<bool> done{false};
  std::thread resetter([&] {
    struct {
      uint32_t argsz, flags, count;
      int32_t fds[2];
    } h{20, 0, 2, {ga, gb}};
    for (int n = 0; n < 50; ++n) {
      EXPECT_EQ(sys.ioctl(static_cast<int>(a), VFIO_DEVICE_PCI_HOT_RESET, &h), 0);
    }
    done = true;
  });
  int cycles = 0;
  while (!done.load() || cycles < 50) {
    const long b = sys.ioctl(gb, VFIO_GROUP_GET_DEVICE_FD, const_cast<char*>("0000:05:00.1"));
    ASSERT_GE(b, 0);
    EXPECT_EQ(sys.close(static_cast<int>(b)), 0);
    ++cycles;
  }
  resetter.join();
  EXPECT_EQ(models[0]->resets.load(), 50);  // 01:00.0 stays open: only the hot resets
  EXPECT_GE(models[1]->resets.load(), 50);
  EXPECT_EQ(sys.close(static_cast<int>(a)), 0);
}

}  // namespace
