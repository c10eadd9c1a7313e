// The driver API from several threads at once (run under TSan too): region access and IRQ
// waits on one Device, concurrent DMA map/unmap with IOVA allocation on one DmaSpace.
#include <gtest/gtest.h>
#include <linux/vfio.h>

#include <atomic>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "driver/emu_transport.h"
#include "driver_fake_device.h"
#include "driver_test_util.h"
#include "uvfio/driver/driver.h"

namespace uvfio::driver {
namespace {

using detail::IommuMode;
using test::FakePciDevice;
using namespace std::chrono_literals;

class DriverConcurrency : public ::testing::TestWithParam<IommuMode> {
 protected:
  void SetUp() override {
    fake = std::make_shared<FakePciDevice>();
    dev.emplace(detail::open_emulated_ops("emu:fake", fake, GetParam()));
  }
  std::shared_ptr<FakePciDevice> fake;
  std::optional<Device> dev;
};

TEST_P(DriverConcurrency, RegionAccessFromManyThreads) {
  constexpr int kThreads = 4, kIters = 500;
  std::vector<std::thread> ts;
  ts.reserve(kThreads);
  std::atomic<int> bad{0};
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      Region bar0 = dev->bar(0);  // each thread its own copy of the handle
      PciConfig cfg = dev->config();
      for (int i = 0; i < kIters; ++i) {
        const auto v = static_cast<uint32_t>(t << 24 | i);
        bar0.write32(static_cast<uint64_t>(t) * 64, v);
        if (bar0.read32(static_cast<uint64_t>(t) * 64) != v) ++bad;
        if (cfg.vendor_id() != 0x1234) ++bad;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_P(DriverConcurrency, IrqWaitersAndAFiringDevice) {
  IrqVectors v = dev->enable_irq(VFIO_PCI_MSI_IRQ_INDEX, 2);
  constexpr int kFires = 200;
  std::atomic<uint64_t> got0{0}, got1{0};
  auto waiter = [&](uint32_t vec, std::atomic<uint64_t>& got) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (got.load() < kFires && std::chrono::steady_clock::now() < deadline) {
      got += v.wait(vec, 5ms);
    }
  };
  std::thread w0(waiter, 0, std::ref(got0)), w1(waiter, 1, std::ref(got1));
  std::thread firer([&] {
    for (int i = 0; i < kFires; ++i) {
      fake->fire(VFIO_PCI_MSI_IRQ_INDEX, 0);
      v.trigger(1);  // SET_IRQS from another thread while the waiters wait
    }
  });
  firer.join();
  w0.join();
  w1.join();
  EXPECT_EQ(got0.load(), static_cast<uint64_t>(kFires));
  EXPECT_EQ(got1.load(), static_cast<uint64_t>(kFires));
}

TEST_P(DriverConcurrency, ConcurrentMapsGetDisjointIovas) {
  if (GetParam() == IommuMode::kNoIommu) GTEST_SKIP() << "no allocation under no-IOMMU";
  constexpr int kThreads = 4, kIters = 50;
  DmaSpace dma = dev->dma();
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  ts.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      DmaBuffer buf = DmaBuffer::allocate(8192);
      DmaMapOptions o;
      o.iova_limit = 0x0fffffff;
      for (int i = 0; i < kIters; ++i) {
        DmaMapping m = dma.map(buf, o);
        // The device writes this thread's tag through the IOMMU: it lands in this buffer only
        // if no other thread's mapping shares the IOVA.
        const auto tag = static_cast<uint32_t>(t << 16 | i);
        if (fake->dma_write(m.iova() + 4096, &tag, sizeof tag) != 0) ++bad;
        uint32_t seen = 0;
        std::memcpy(&seen, buf.bytes() + 4096, sizeof seen);
        if (seen != tag) ++bad;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Paths, DriverConcurrency,
                         ::testing::Values(IommuMode::kIommufd, IommuMode::kType1,
                                           IommuMode::kNoIommu),
                         test::mode_param_name);

}  // namespace
}  // namespace uvfio::driver
