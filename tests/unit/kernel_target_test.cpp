// The pci: target on a fake host: sysfs (a FakeTree) says what exists, uvfio's emulated VFIO files
// (an EmulatedSystem in place of KernelSystem) answer the uAPI — so path choice, the open
// sequences, group sharing, shared DMA spaces and no-IOMMU bus addresses run without a kernel.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "driver/kernel_path.h"
#include "driver/kernel_target.h"
#include "driver_test_util.h"
#include "host_fake_tree.h"
#include "uvfio/devices/edu.h"
#include "uvfio/devices/registry.h"
#include "uvfio/driver/driver.h"
#include "uvfio/pci/device_model.h"
#include "uvfio/uapi/vfio_cdev.h"
#include "vfio/emulated_system.h"
#include "vfio/host.h"

namespace uvfio::driver {
namespace {

using namespace uvfio::uapi;  // NOLINT(google-build-using-namespace): 6.1 vs 6.12 headers

using detail::KernelHost;
using detail::open_kernel_target;
using test::FakeTree;

/// Forwards to the emulated files, recording ioctl requests; can hide type1 v2 (an old kernel).
class RecordingSystem : public vfio::VfioSystem {
 public:
  explicit RecordingSystem(std::shared_ptr<vfio::VfioSystem> in) : in_(std::move(in)) {}
  int open(const std::string& path, int flags) override {
    const std::lock_guard l(mu_);
    opened.push_back(path);
    return in_->open(path, flags);
  }
  int close(int fd) override { return in_->close(fd); }
  using VfioSystem::ioctl;
  long ioctl(int fd, unsigned long request, unsigned long arg) override {
    {
      const std::lock_guard l(mu_);
      requests.emplace_back(request, arg);
    }
    if (hide_v2 && request == VFIO_CHECK_EXTENSION && arg == VFIO_TYPE1v2_IOMMU) return 0;
    return in_->ioctl(fd, request, arg);
  }
  ssize_t pread(int fd, void* buf, size_t count, uint64_t offset) override {
    return in_->pread(fd, buf, count, offset);
  }
  ssize_t pwrite(int fd, const void* buf, size_t count, uint64_t offset) override {
    return in_->pwrite(fd, buf, count, offset);
  }
  void* mmap(int fd, size_t length, int prot, int flags, uint64_t offset) override {
    return in_->mmap(fd, length, prot, flags, offset);
  }
  int munmap(void* addr, size_t length) override { return in_->munmap(addr, length); }
  std::string kind() const override { return "recording"; }

  bool did(unsigned long request, unsigned long arg) const {
    const std::lock_guard l(mu_);
    for (const auto& [r, a] : requests) {
      if (r == request && a == arg) return true;
    }
    return false;
  }
  bool did(unsigned long request) const {
    const std::lock_guard l(mu_);
    for (const auto& [r, a] : requests) {
      if (r == request) return true;
    }
    return false;
  }

  bool hide_v2 = false;
  std::vector<std::string> opened;
  std::vector<std::pair<unsigned long, unsigned long>> requests;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<vfio::VfioSystem> in_;
};

/// An emulated host with edu functions, and a fake tree that describes it as sysfs would.
struct World {
  explicit World(bool noiommu_mode = false) {
    vfio::HostOptions o;
    o.enable_unsafe_noiommu_mode = noiommu_mode;
    host = std::make_shared<vfio::Host>(o);
    sys = std::make_shared<RecordingSystem>(std::make_shared<vfio::EmulatedSystem>(
        host, vfio::Credentials::privileged("kernel_target_test", ::getpid())));
    t.vfio(true, true, noiommu_mode ? "Y" : "N");
  }

  /// Adds edu at `bdf` to `group` (-1: a new one), bound to vfio-pci; returns the group.
  int add_edu(const std::string& bdf, int group = -1, bool has_iommu = true) {
    auto model = devices::make_emulated_device("edu", {{"dma_delay_us", "0"}});
    EXPECT_TRUE(model.ok());
    auto ops = pci::make_vfio_pci_device(std::move(*model));
    EXPECT_TRUE(ops.ok());
    auto g = host->add_device({bdf, vfio::DriverState::kVfio, *ops, has_iommu}, group);
    EXPECT_TRUE(g.ok());
    const int id = *g;
    const int cdev = host->device(bdf)->cdev_index();
    if (has_iommu) {
      t.device(bdf, "0x1234", "0x11e8", "0x00ff00", "vfio-pci", id, "vfio" + std::to_string(cdev));
      t.file("/dev/vfio/" + std::to_string(id));
      t.file("/dev/vfio/devices/vfio" + std::to_string(cdev));
    } else {
      t.group(id, "unknown", "vfio-noiommu");
      t.device(bdf, "0x1234", "0x11e8", "0x00ff00", "vfio-pci", id);
      t.file("/dev/vfio/noiommu-" + std::to_string(id));
    }
    return id;
  }

  KernelHost kh() const { return {sys, host::Sysfs(t.root), t.real("/pagemap")}; }
  Device open(const std::string& target, const OpenOptions& o = {}) const {
    return open_kernel_target(Target::parse(target), o, kh());
  }

  FakeTree t;
  std::shared_ptr<vfio::Host> host;
  std::shared_ptr<RecordingSystem> sys;
};

TEST(KernelTarget, PicksIommufdThenLegacy) {
  World w;
  w.add_edu("0000:00:03.0");
  {
    const Device d = w.open("pci:00:03.0");
    EXPECT_EQ(d.backend(), "kernel");
    EXPECT_EQ(d.name(), "0000:00:03.0");
    EXPECT_EQ(d.dma().kind(), DmaKind::kIommufd);
    EXPECT_TRUE(d.dma().translates());
    EXPECT_EQ(d.bar(0).read32(devices::edu_reg::kIdentification), devices::kEduIdentification);
    EXPECT_TRUE(w.sys->did(VFIO_DEVICE_BIND_IOMMUFD));
  }
  // Without /dev/iommu the legacy container serves, with type1 v2.
  w.t.remove("/dev/iommu");
  const Device d = w.open("pci:0000:00:03.0");
  EXPECT_EQ(d.dma().kind(), DmaKind::kType1);
  EXPECT_TRUE(w.sys->did(VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  EXPECT_EQ(d.bar(0).read32(devices::edu_reg::kIdentification), devices::kEduIdentification);
}

TEST(KernelTarget, ForcedPathsAndTheirErrors) {
  World w;
  w.add_edu("0000:00:03.0");
  EXPECT_EQ(w.open("pci:00:03.0,iommu=legacy").dma().kind(), DmaKind::kType1);
  EXPECT_EQ(w.open("pci:00:03.0,iommu=type1").dma().kind(), DmaKind::kType1);
  EXPECT_EQ(w.open("pci:00:03.0,iommu=iommufd").dma().kind(), DmaKind::kIommufd);
  EXPECT_DRIVER_ERROR((void)w.open("pci:00:03.0,iommu=noiommu"), EINVAL,
                      "is translated by an IOMMU: iommu=noiommu serves only no-IOMMU groups");
  EXPECT_DRIVER_ERROR((void)w.open("pci:00:03.0,iommu=vtd"), EINVAL, "unknown iommu=vtd");
  EXPECT_DRIVER_ERROR((void)w.open("pci:00:03.0,dma_mask=1"), EINVAL, "unknown option 'dma_mask'");
  EXPECT_DRIVER_ERROR((void)w.open("pci:03.0"), EINVAL, "is not a PCI function address");
  w.t.remove("/sys/bus/pci/devices/0000:00:03.0/vfio-dev");
  EXPECT_DRIVER_ERROR((void)w.open("pci:00:03.0,iommu=iommufd"), EOPNOTSUPP,
                      "lacks CONFIG_VFIO_DEVICE_CDEV; use iommu=legacy");
  EXPECT_EQ(w.open("pci:00:03.0").dma().kind(), DmaKind::kType1);  // the best left
  w.t.remove("/dev/iommu");
  EXPECT_DRIVER_ERROR((void)w.open("pci:00:03.0,iommu=iommufd"), EOPNOTSUPP,
                      "the host has no /dev/iommu: the kernel lacks CONFIG_IOMMUFD");
  w.t.remove("/dev/vfio/vfio");
  EXPECT_DRIVER_ERROR((void)w.open("pci:00:03.0,iommu=legacy"), EOPNOTSUPP,
                      "no container /dev/vfio/vfio: the kernel lacks CONFIG_VFIO_CONTAINER");
  EXPECT_DRIVER_ERROR((void)w.open("pci:00:03.0"), EOPNOTSUPP,
                      "the host offers no VFIO path for 0000:00:03.0");
}

TEST(KernelTarget, DeviceMustBeBoundInAViableGroup) {
  World w;
  const int g = w.add_edu("0000:00:03.0");
  w.t.device("0000:00:04.0", "0x8086", "0x10d3", "0x020000", "e1000e", -1);
  EXPECT_DRIVER_ERROR((void)w.open("pci:00:04.0"), ENODEV,
                      "0000:00:04.0 is bound to e1000e, not vfio-pci: bind it first: uvfio bind "
                      "0000:00:04.0");
  w.t.device("0000:00:05.0", "0x8086", "0x10d3", "0x020000", "", -1);
  EXPECT_DRIVER_ERROR((void)w.open("pci:00:05.0"), ENODEV, "0000:00:05.0 has no driver");
  EXPECT_DRIVER_ERROR((void)w.open("pci:00:06.0"), ENODEV, "no PCI device 0000:00:06.0");
  // A sibling on a host driver makes the group non-viable.
  w.t.device("0000:00:03.1", "0x8086", "0x293e", "0x040300", "snd_hda_intel", g);
  EXPECT_DRIVER_ERROR((void)w.open("pci:00:03.0"), EBUSY,
                      "is not viable (0000:00:03.1 is bound to snd_hda_intel)");
}

TEST(KernelTarget, DevicesOfOneGroupShareItsSpace) {
  for (const char* path : {"iommufd", "legacy"}) {
    SCOPED_TRACE(path);
    World w;
    const int g = w.add_edu("0000:00:03.0");
    w.add_edu("0000:00:03.1", g);
    const std::string opt = std::string(",iommu=") + path;
    const Device a = w.open("pci:00:03.0" + opt);
    const Device b = w.open("pci:00:03.1");  // follows the group's path
    EXPECT_EQ(b.dma().kind(), a.dma().kind());
    auto buf = DmaBuffer::allocate(4096);
    const DmaMapping m = a.dma().map(buf, {.iova = 0x100000});
    // The same IOVA through b is taken: one IOAS / container for the group.
    EXPECT_DRIVER_ERROR((void)b.dma().map(buf, {.iova = 0x100000}), EEXIST, "");
    EXPECT_DRIVER_ERROR((void)w.open(std::string("pci:00:03.1,iommu=") +
                                     (path == std::string("legacy") ? "iommufd" : "legacy")),
                        EBUSY, "is already open in this process on the");
  }
}

TEST(KernelTarget, ShareDmaWithAcrossGroups) {
  for (const char* path : {"iommufd", "legacy"}) {
    SCOPED_TRACE(path);
    World w;
    w.add_edu("0000:00:03.0");
    w.add_edu("0000:00:04.0");
    w.add_edu("0000:00:05.0");
    const Device a = w.open(std::string("pci:00:03.0,iommu=") + path);
    const Device c = w.open("pci:00:04.0", {.share_dma_with = a.dma()});
    const Device own = w.open(std::string("pci:00:05.0,iommu=") + path);
    auto buf = DmaBuffer::allocate(4096);
    const DmaMapping m = a.dma().map(buf, {.iova = 0x200000});
    EXPECT_DRIVER_ERROR((void)c.dma().map(buf, {.iova = 0x200000}), EEXIST, "");
    const DmaMapping elsewhere = own.dma().map(buf, {.iova = 0x200000});  // its own space
    EXPECT_EQ(elsewhere.iova(), 0x200000u);
    // c's group is in a's space now; it cannot go into own's as well.
    EXPECT_DRIVER_ERROR((void)w.open("pci:00:04.0", {.share_dma_with = own.dma()}), EBUSY,
                        "is already in another DMA space of this process");
    const char* other = path == std::string("legacy") ? "iommufd" : "legacy";
    EXPECT_DRIVER_ERROR(
        (void)w.open(std::string("pci:00:05.0,iommu=") + other, {.share_dma_with = a.dma()}), EBUSY,
        "");
  }
}

TEST(KernelTarget, ShareDmaWithRefusesOtherTargets) {
  World w;
  w.add_edu("0000:00:03.0");
  const Device emu = driver::open("emu:edu");
  EXPECT_DRIVER_ERROR((void)w.open("pci:00:03.0", {.share_dma_with = emu.dma()}), EINVAL,
                      "only pci: devices share DMA spaces");
  EXPECT_DRIVER_ERROR((void)driver::open("emu:edu", {.share_dma_with = emu.dma()}), EOPNOTSUPP,
                      "supported for pci: targets only");
}

TEST(KernelTarget, GroupIsReopenedAfterItsDevicesClose) {
  World w;
  w.add_edu("0000:00:03.0");
  { const Device a = w.open("pci:00:03.0,iommu=legacy"); }
  // The legacy member is gone with its last device: another path may open the group now.
  const Device b = w.open("pci:00:03.0,iommu=iommufd");
  EXPECT_EQ(b.dma().kind(), DmaKind::kIommufd);
}

TEST(KernelTarget, Type1FallsBackToV1) {
  World w;
  w.add_edu("0000:00:03.0");
  w.sys->hide_v2 = true;
  const Device d = w.open("pci:00:03.0,iommu=legacy");
  EXPECT_TRUE(w.sys->did(VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
  EXPECT_FALSE(w.sys->did(VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
  auto buf = DmaBuffer::allocate(4096);
  EXPECT_NE(d.dma().map(buf).iova(), 0u);
}

/// Writes pagemap entries for the pages of [va, va+len) into the fake pagemap file.
void fake_pagemap(const FakeTree& t, const void* va, size_t len, const std::vector<uint64_t>& e) {
  const int fd = ::open(t.real("/pagemap").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  const auto first = reinterpret_cast<uint64_t>(va) / 4096;
  ASSERT_EQ(e.size(), len / 4096);
  ASSERT_EQ(::pwrite(fd, e.data(), e.size() * 8, static_cast<off_t>(first * 8)),
            static_cast<ssize_t>(e.size() * 8));
  ::close(fd);
}

TEST(KernelTarget, NoIommuUsesPhysicalAddressesOfPinnedContiguousMemory) {
  World w(/*noiommu_mode=*/true);
  w.add_edu("0000:00:06.0", -1, /*has_iommu=*/false);
  EXPECT_DRIVER_ERROR((void)w.open("pci:00:06.0,iommu=iommufd"), EINVAL,
                      "is a no-IOMMU group (vfio-noiommu): only iommu=noiommu opens it");
  const Device d = w.open("pci:00:06.0");
  EXPECT_EQ(d.dma().kind(), DmaKind::kNoIommu);
  EXPECT_FALSE(d.dma().translates());
  EXPECT_TRUE(w.sys->did(VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU));
  constexpr uint64_t kPresent = uint64_t{1} << 63;
  auto buf = DmaBuffer::allocate(2 * 4096);
  fake_pagemap(w.t, buf.data(), buf.size(), {kPresent | 0x12340, kPresent | 0x12341});
  {
    const DmaMapping m = d.dma().map(buf);
    EXPECT_EQ(m.iova(), 0x12340000u);
  }
  EXPECT_DRIVER_ERROR((void)d.dma().map(buf, {.iova = std::nullopt, .iova_limit = 0xfffffff}),
                      ERANGE, "");
  fake_pagemap(w.t, buf.data(), buf.size(), {kPresent | 0x12340, kPresent | 0x9000});
  EXPECT_DRIVER_ERROR((void)d.dma().map(buf), EINVAL,
                      "not physically contiguous (page 1 is at frame 0x9000, not 0x12341)");
  EXPECT_DRIVER_ERROR((void)d.dma().map(buf), EINVAL, "{.hugepages = true}");
  fake_pagemap(w.t, buf.data(), buf.size(), {kPresent, kPresent});
  EXPECT_DRIVER_ERROR((void)d.dma().map(buf), EPERM, "without CAP_SYS_ADMIN");
  fake_pagemap(w.t, buf.data(), buf.size(), {0x1234, kPresent | 0x1235});
  EXPECT_DRIVER_ERROR((void)d.dma().map(buf), EFAULT, "not resident");
  w.t.remove("/pagemap");
  EXPECT_DRIVER_ERROR((void)d.dma().map(buf), ENOENT, "open(");
}

TEST(KernelTarget, ConcurrentOpensAndClosesOfOneGroupShareIt) {
  // Devices of one group opened and closed from several threads: each open finds the group's
  // live space or a fully closed group (never EBUSY from a half-closed one).
  World w;
  const int g = w.add_edu("0000:00:03.0");
  w.add_edu("0000:00:03.1", g);
  const Device keep = w.open("pci:00:03.0,iommu=legacy");
  auto buf = DmaBuffer::allocate(4096);
  const DmaMapping m = keep.dma().map(buf, {.iova = 0x300000});
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        try {
          const Device d = w.open(t % 2 == 0 ? "pci:00:03.0" : "pci:00:03.1");
          if (d.dma().kind() != DmaKind::kType1) failures.fetch_add(1);
          // The group's one container: the IOVA keep mapped is taken here too.
          try {
            (void)d.dma().map(buf, {.iova = 0x300000});
            failures.fetch_add(1);
          } catch (const Error& e) {
            if (e.error() != EEXIST) failures.fetch_add(1);
          }
        } catch (const Error& e) {
          ADD_FAILURE() << e.what();
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(KernelTarget, ConcurrentFirstOpensOfAGroupMakeOneSpace) {
  for (int round = 0; round < 5; ++round) {
    World w;
    const int g = w.add_edu("0000:00:03.0");
    w.add_edu("0000:00:03.1", g);
    std::optional<Device> a;
    std::optional<Device> b;
    std::atomic<int> ready{0};
    auto open_one = [&](std::optional<Device>& out, const char* target) {
      ready.fetch_add(1);
      while (ready.load() < 2) std::this_thread::yield();
      try {
        out = w.open(target);
      } catch (const Error& e) {
        ADD_FAILURE() << e.what();
      }
    };
    std::thread ta(open_one, std::ref(a), "pci:00:03.0");
    std::thread tb(open_one, std::ref(b), "pci:00:03.1");
    ta.join();
    tb.join();
    ASSERT_TRUE(a && b);
    auto buf = DmaBuffer::allocate(4096);
    const DmaMapping m = a->dma().map(buf, {.iova = 0x400000});
    EXPECT_DRIVER_ERROR((void)b->dma().map(buf, {.iova = 0x400000}), EEXIST, "");
  }
}

TEST(KernelTarget, PlanOnTheRunningHostNeedsADevice) {
  // This machine (and CI) has no PCI domain 0x00ff.
  EXPECT_DRIVER_ERROR((void)driver::open("pci:00ff:00:01.0"), ENODEV,
                      "no PCI device 00ff:00:01.0 on this host");
}

}  // namespace
}  // namespace uvfio::driver
