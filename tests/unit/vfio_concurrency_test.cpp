// VFIO core under concurrency (run under TSan): a device removed while its user keeps using it,
// and container map/unmap while the device's DMA engine holds pins.
#include <gtest/gtest.h>
#include <linux/vfio.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "test_util.h"
#include "vfio/emulated_system.h"
#include "vfio/host.h"

using namespace uvfio;
using namespace uvfio::vfio;
using namespace std::chrono_literals;

namespace {

// A device whose DMA engine pins guest pages and gives them back when an unmap asks.
class PinningDevice : public VfioDeviceOps {
 public:
  int open_device(const DmaContext& dma) override {
    std::lock_guard lk(mu);
    access = dma.access;
    return 0;
  }
  void close_device() override {
    std::lock_guard lk(mu);
    for (auto& [iova, len] : pins) (void)access->unpin(iova, len);
    pins.clear();
    access.reset();
  }
  long ioctl(unsigned long request, unsigned long /*arg*/) override {
    return request == VFIO_DEVICE_RESET ? 0 : -ENOTTY;
  }
  void request(unsigned /*count*/) override { asked.store(true); }
  void dma_unmap(uint64_t iova, uint64_t length) override {
    std::lock_guard lk(mu);
    for (auto it = pins.begin(); it != pins.end();) {
      if (it->first < iova + length && iova < it->first + it->second) {
        EXPECT_TRUE(access->unpin(it->first, it->second).ok());
        it = pins.erase(it);
      } else {
        ++it;
      }
    }
  }
  // One DMA: pin a page, write through the pointer, keep the pin (a transfer in flight).
  bool dma_once(uint64_t iova) {
    std::lock_guard lk(mu);
    if (!access) return false;
    auto p = access->pin(iova, 4096, iommu::kAccessWrite);
    if (!p.ok()) return false;
    std::memset((*p)[0].host, 0x5a, 64);
    pins.emplace_back(iova, 4096);
    if (pins.size() > 4) {
      EXPECT_TRUE(access->unpin(pins.front().first, pins.front().second).ok());
      pins.erase(pins.begin());
    }
    return true;
  }

  std::mutex mu;
  std::shared_ptr<iommu::Access> access;
  std::vector<std::pair<uint64_t, uint64_t>> pins;
  std::atomic<bool> asked{false};
};

struct Legacy {
  int container = -1, group = -1, device = -1;
};

Legacy open_legacy(EmulatedSystem& sys, const std::string& group, const std::string& name) {
  Legacy l;
  l.container = sys.open("/dev/vfio/vfio", 2);
  l.group = sys.open(group, 2);
  int c = l.container;
  EXPECT_EQ(sys.ioctl(l.group, VFIO_GROUP_SET_CONTAINER, &c), 0);
  EXPECT_EQ(sys.ioctl(l.container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
  l.device = static_cast<int>(
      sys.ioctl(l.group, VFIO_GROUP_GET_DEVICE_FD, const_cast<char*>(name.c_str())));
  EXPECT_GE(l.device, 0);
  return l;
}

long map(EmulatedSystem& sys, int container, void* buf, uint64_t iova, uint64_t size) {
  vfio_iommu_type1_dma_map m{sizeof m, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                             reinterpret_cast<uint64_t>(buf), iova, size};
  return sys.ioctl(container, VFIO_IOMMU_MAP_DMA, &m);
}

long unmap(EmulatedSystem& sys, int container, uint64_t iova, uint64_t size) {
  vfio_iommu_type1_dma_unmap u{sizeof u, 0, iova, size};
  return sys.ioctl(container, VFIO_IOMMU_UNMAP_DMA, &u);
}

}  // namespace

TEST(VfioConcurrency, DeviceRemovedWhileInUse) {
  auto host = std::make_shared<Host>();
  auto dev = std::make_shared<PinningDevice>();
  int g = *host->add_device({"0000:00:01.0", DriverState::kVfio, dev, true});
  EmulatedSystem sys(host, Credentials::privileged());
  test::Buffer buf(0x40000);
  Legacy l = open_legacy(sys, "/dev/vfio/" + std::to_string(g), "0000:00:01.0");
  ASSERT_EQ(map(sys, l.container, buf.data(), 0x100000, 0x40000), 0);

  // The user: DMA and device ioctls until it is asked to give the device back, then it closes.
  std::atomic<int> dmas{0};
  std::thread user([&] {
    std::mt19937 rng(1);
    while (!dev->asked.load()) {
      if (dev->dma_once(0x100000 + (rng() % 64) * 4096)) ++dmas;
      EXPECT_EQ(sys.ioctl(l.device, VFIO_DEVICE_RESET, 0ul), 0);
    }
    EXPECT_EQ(sys.close(l.device), 0);
  });
  while (dmas.load() < 100) std::this_thread::yield();
  auto r = host->remove_device("0000:00:01.0", false, 5ms, std::chrono::steady_clock::now() + 20s);
  user.join();
  ASSERT_TRUE(r.ok()) << errno_name(r.error());
  EXPECT_EQ(host->device("0000:00:01.0")->open_count(), 0);
  EXPECT_TRUE(dev->pins.empty());
  // The group lost its last vfio device: it left the container; the mapping went with it.
  EXPECT_EQ(map(sys, l.container, buf.data(), 0x100000, 0x1000), -EINVAL);
  sys.close(l.group);
  sys.close(l.container);
}

TEST(VfioConcurrency, ContainerMapUnmapWhileDeviceHoldsPins) {
  auto host = std::make_shared<Host>();
  auto dev = std::make_shared<PinningDevice>();
  int g = *host->add_device({"0000:00:01.0", DriverState::kVfio, dev, true});
  EmulatedSystem sys(host, Credentials::privileged());
  constexpr int kSlots = 16;
  test::Buffer buf(kSlots * 0x4000);
  Legacy l = open_legacy(sys, "/dev/vfio/" + std::to_string(g), "0000:00:01.0");
  auto slot_iova = [](int i) { return 0x1000000 + static_cast<uint64_t>(i) * 0x10000; };
  for (int i = 0; i < kSlots; ++i) {
    ASSERT_EQ(map(sys, l.container, buf.bytes() + i * 0x4000, slot_iova(i), 0x4000), 0);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> dmas{0};
  std::thread device([&] {
    std::mt19937 rng(2);
    while (!stop.load()) {
      if (dev->dma_once(slot_iova(static_cast<int>(rng() % kSlots)))) ++dmas;
    }
  });
  std::mt19937 rng(3);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (int round = 0; round < 500 || dmas.load() < 500; ++round) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    int i = static_cast<int>(rng() % kSlots);
    // type1 v2: the unmap asks the device to unpin (dma_unmap) and completes after it did.
    ASSERT_EQ(unmap(sys, l.container, slot_iova(i), 0x4000), 0);
    ASSERT_EQ(map(sys, l.container, buf.bytes() + i * 0x4000, slot_iova(i), 0x4000), 0);
  }
  stop = true;
  device.join();
  sys.close(l.device);
  EXPECT_TRUE(dev->pins.empty());
  sys.close(l.group);
  sys.close(l.container);
}
