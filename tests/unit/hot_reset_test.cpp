// PCI hot reset through the VFIO core (vfio_pci_core.c's dev_set code, Linux 6.12): the bus
// topology from device names, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO (group ids, or iommufd device
// ids on the cdev path, and the ENOSPC dance), VFIO_DEVICE_PCI_HOT_RESET with group fds and with
// the cdev path's empty array and their failure cases, the parent-bus reset method, and the bus
// reset when the last device of a dirty bus is released.
#include <gtest/gtest.h>
#include <linux/vfio.h>

#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "devices/bare_pci_device.h"
#include "pci_test_model.h"
#include "test_util.h"
#include "uvfio/uapi/vfio_cdev.h"
#include "vfio/emulated_system.h"
#include "vfio/host.h"
#include "vfio/hot_reset.h"

using namespace uvfio;
using namespace uvfio::vfio;
using namespace uvfio::uapi;
using uvfio::test::TestModel;

namespace {

// The fixed part of InfoHeader (its device array follows).
struct InfoHeader {
  uint32_t argsz;
  uint32_t flags;
  uint32_t count;
};

TEST(PciAddress, Parse) {
  auto a = parse_pci_address("0001:0a:1f.7");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->domain, 1);
  EXPECT_EQ(a->bus, 0x0a);
  EXPECT_EQ(a->devfn, 0x1f << 3 | 7);
  EXPECT_TRUE(parse_pci_address("0000:00:00.0").has_value());
  for (const char* bad : {"", "dev0", "0000:00:20.0", "0000:00:03.8", "000:00:03.0", "0000-00:03.0",
                          "0000:00:03.0 ", "0000:0g:03.0", "0000:00:3.0"}) {
    EXPECT_FALSE(parse_pci_address(bad).has_value()) << bad;
  }
}

// Bus 01: 0000:01:00.0 (group A) and 0000:01:00.1 (group B). Bus 02: 0000:02:00.0 alone. The
// root bus: 0000:00:03.0. Functions have neither FLR nor PM.
struct HotReset : ::testing::Test {
  HotReset() : host(std::make_shared<Host>()) {
    for (const char* name : {"0000:01:00.0", "0000:01:00.1", "0000:02:00.0", "0000:00:03.0"}) {
      add(name);
    }
    sys = std::make_unique<EmulatedSystem>(host, Credentials::privileged());
  }
  ~HotReset() override { sys.reset(); }

  void add(const std::string& name, int group = -1) {
    auto model = std::make_shared<TestModel>(uvfio::test::simple_layout());
    auto ops = make_vfio_pci_device(model);
    ASSERT_TRUE(ops.ok());
    auto g = host->add_device({name, DriverState::kVfio, *ops, true}, group);
    ASSERT_TRUE(g.ok());
    models[name] = model;
    groups[name] = *g;
  }
  // Opens the group of `name` and puts it in the (one) type1 container.
  int open_group(const std::string& name) {
    if (container < 0) container = sys->open("/dev/vfio/vfio", 2);
    int g = sys->open("/dev/vfio/" + std::to_string(groups[name]), 2);
    EXPECT_GE(g, 0);
    EXPECT_EQ(sys->ioctl(g, VFIO_GROUP_SET_CONTAINER, &container), 0);
    if (!iommu_set) {
      EXPECT_EQ(sys->ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
      iommu_set = true;
    }
    return g;
  }
  int device_fd(int group_fd, const std::string& name) {
    long d = sys->ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, const_cast<char*>(name.c_str()));
    EXPECT_GE(d, 0);
    return static_cast<int>(d);
  }
  long info(int dev, uint32_t argsz, InfoHeader* hdr,
            std::vector<vfio_pci_dependent_device>* devs = nullptr) const {
    std::vector<uint8_t> buf(std::max<uint32_t>(argsz, 12) + 64, 0xcc);
    InfoHeader h{};
    h.argsz = argsz;
    h.flags = 0xdead;
    h.count = 0xbeef;
    std::memcpy(buf.data(), &h, 12);
    long r = sys->ioctl(dev, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, buf.data());
    std::memcpy(hdr, buf.data(), 12);
    if (devs != nullptr && r == 0) {
      devs->resize(hdr->count);
      std::memcpy(devs->data(), buf.data() + 12, hdr->count * sizeof(vfio_pci_dependent_device));
    }
    return r;
  }
  long hot_reset(int dev, std::vector<int32_t> fds, uint32_t flags = 0, int64_t count = -1) const {
    std::vector<uint8_t> buf(12 + 4 * fds.size());
    InfoHeader h{};
    h.argsz = static_cast<uint32_t>(buf.size());
    h.flags = flags;
    h.count = count < 0 ? static_cast<uint32_t>(fds.size()) : static_cast<uint32_t>(count);
    std::memcpy(buf.data(), &h, 12);
    if (!fds.empty()) std::memcpy(buf.data() + 12, fds.data(), 4 * fds.size());
    return sys->ioctl(dev, VFIO_DEVICE_PCI_HOT_RESET, buf.data());
  }
  uint32_t info_flags(int dev) const {
    vfio_device_info i{};
    i.argsz = sizeof i;
    EXPECT_EQ(sys->ioctl(dev, VFIO_DEVICE_GET_INFO, &i), 0);
    return i.flags;
  }
  int resets(const std::string& name) { return models[name]->resets; }

  std::shared_ptr<Host> host;
  std::unique_ptr<EmulatedSystem> sys;
  std::map<std::string, std::shared_ptr<TestModel>> models;
  std::map<std::string, int> groups;
  int container = -1;
  bool iommu_set = false;
};

TEST_F(HotReset, ParentBusResetOnlyForASoleFunctionBelowABridge) {
  int ga = open_group("0000:01:00.0");
  int gs = open_group("0000:02:00.0");
  int gr = open_group("0000:00:03.0");
  EXPECT_EQ(info_flags(device_fd(ga, "0000:01:00.0")) & VFIO_DEVICE_FLAGS_RESET, 0u);  // shared
  const int s = device_fd(gs, "0000:02:00.0");
  EXPECT_TRUE(info_flags(s) & VFIO_DEVICE_FLAGS_RESET);  // alone on bus 02
  EXPECT_EQ(info_flags(device_fd(gr, "0000:00:03.0")) & VFIO_DEVICE_FLAGS_RESET, 0u);  // root bus
  // A new neighbour on bus 02 takes the method away at the next open.
  EXPECT_EQ(sys->close(s), 0);
  add("0000:02:00.1");
  EXPECT_EQ(info_flags(device_fd(gs, "0000:02:00.0")) & VFIO_DEVICE_FLAGS_RESET, 0u);
}

TEST_F(HotReset, InfoListsTheBusWithGroupIds) {
  const int dev = device_fd(open_group("0000:01:00.0"), "0000:01:00.0");
  InfoHeader h{};
  EXPECT_RC(info(dev, 11, &h), EINVAL);
  // Room for no entry: ENOSPC with the count, flags cleared.
  EXPECT_RC(info(dev, 12, &h), ENOSPC);
  EXPECT_EQ(h.count, 2u);
  EXPECT_EQ(h.flags, 0u);
  EXPECT_EQ(h.argsz, 12u);
  EXPECT_RC(info(dev, 12 + 8 + 7, &h), ENOSPC);
  std::vector<vfio_pci_dependent_device> devs;
  ASSERT_EQ(info(dev, 12 + 16, &h, &devs), 0);
  EXPECT_EQ(h.flags, 0u);
  ASSERT_EQ(devs.size(), 2u);
  EXPECT_EQ(devs[0].segment, 0);
  EXPECT_EQ(devs[0].bus, 1);
  EXPECT_EQ(devs[0].devfn, 0);
  EXPECT_EQ(devs[0].group_id, uint32_t(groups["0000:01:00.0"]));
  EXPECT_EQ(devs[1].devfn, 1);
  EXPECT_EQ(devs[1].group_id, uint32_t(groups["0000:01:00.1"]));
  EXPECT_RC(sys->ioctl(dev, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, 0ul), EFAULT);
}

TEST_F(HotReset, RootBusHasNoHotReset) {
  const int g = open_group("0000:00:03.0");
  const int dev = device_fd(g, "0000:00:03.0");
  InfoHeader h{};
  EXPECT_RC(info(dev, 64, &h), ENODEV);
  EXPECT_RC(hot_reset(dev, {g}), ENODEV);
}

TEST_F(HotReset, GroupFdsMustCoverTheBus) {
  const int ga = open_group("0000:01:00.0");
  const int dev = device_fd(ga, "0000:01:00.0");
  const int a0 = resets("0000:01:00.0"), b0 = resets("0000:01:00.1");
  EXPECT_RC(hot_reset(dev, {ga}), EINVAL);      // 01:00.1's group is not among them
  EXPECT_RC(hot_reset(dev, {ga, ga}), EINVAL);  // nor twice the same group
  const int gb = open_group("0000:01:00.1");
  EXPECT_EQ(resets("0000:01:00.0"), a0);
  // Both groups: the bus resets, including the function nobody opened.
  ASSERT_EQ(hot_reset(dev, {gb, ga}), 0);
  EXPECT_EQ(resets("0000:01:00.0"), a0 + 1);
  EXPECT_EQ(resets("0000:01:00.1"), b0 + 1);
  // The failure cases, in the kernel's order of checks.
  EXPECT_RC(hot_reset(dev, {ga, gb}, 1), EINVAL);      // flags
  EXPECT_RC(hot_reset(dev, {}), EINVAL);               // empty array on the group path
  EXPECT_RC(hot_reset(dev, {ga, gb, ga}), EINVAL);     // more fds than devices
  EXPECT_RC(hot_reset(dev, {ga, 4242}), EBADF);        // not an fd
  EXPECT_RC(hot_reset(dev, {ga, container}), EINVAL);  // not a group
  EXPECT_RC(hot_reset(dev, {ga, dev}), EINVAL);        // a device fd is not a group either
  std::vector<uint8_t> shortarg(12);
  InfoHeader h{8, 0, 0};
  std::memcpy(shortarg.data(), &h, 8);
  EXPECT_RC(sys->ioctl(dev, VFIO_DEVICE_PCI_HOT_RESET, shortarg.data()), EINVAL);
  EXPECT_EQ(resets("0000:01:00.0"), a0 + 1);
}

TEST_F(HotReset, DeviceOutsideTheDevSetBlocksTheReset) {
  // A driverless function joins bus 01 (its own group): listed, but the bus cannot be reset.
  ASSERT_TRUE(host->add_device({"0000:01:00.2", DriverState::kNone, nullptr, true}).ok());
  const int ga = open_group("0000:01:00.0");
  const int gb = open_group("0000:01:00.1");
  const int dev = device_fd(ga, "0000:01:00.0");
  InfoHeader h{};
  std::vector<vfio_pci_dependent_device> devs;
  ASSERT_EQ(info(dev, 12 + 3 * 8, &h, &devs), 0);
  EXPECT_EQ(devs.size(), 3u);
  EXPECT_RC(hot_reset(dev, {ga, gb}), EINVAL);
  EXPECT_EQ(resets("0000:01:00.1"), 0);
}

TEST_F(HotReset, DevicesWithoutBusResetSeeOrdinaryIoctls) {
  ASSERT_TRUE(host->add_device({"0000:03:00.0", DriverState::kVfio,
                                std::make_shared<devices::BarePciDevice>(), true})
                  .ok());
  const int g =
      sys->open("/dev/vfio/" + std::to_string(host->device("0000:03:00.0")->group()->id()), 2);
  ASSERT_GE(g, 0);
  if (container < 0) container = sys->open("/dev/vfio/vfio", 2);
  ASSERT_EQ(sys->ioctl(g, VFIO_GROUP_SET_CONTAINER, &container), 0);
  ASSERT_EQ(sys->ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
  iommu_set = true;
  const int dev = device_fd(g, "0000:03:00.0");
  InfoHeader h{};
  EXPECT_RC(info(dev, 64, &h), ENOTTY);  // BarePciDevice answers GET_INFO only
  EXPECT_RC(hot_reset(dev, {g}), ENOTTY);
}

TEST_F(HotReset, ReleaseOfTheLastDeviceResetsADirtyBus) {
  const int ga = open_group("0000:01:00.0");
  const int gb = open_group("0000:01:00.1");
  const int a = device_fd(ga, "0000:01:00.0");
  const int b = device_fd(gb, "0000:01:00.1");
  ASSERT_EQ(sys->close(a), 0);  // no reset method: dirty, but 01:00.1 is still in use
  EXPECT_EQ(resets("0000:01:00.0"), 0);
  EXPECT_EQ(resets("0000:01:00.1"), 0);
  ASSERT_EQ(sys->close(b), 0);  // the bus is unused now: vfio_pci_dev_set_try_reset
  EXPECT_EQ(resets("0000:01:00.0"), 1);
  EXPECT_EQ(resets("0000:01:00.1"), 1);
  // Clean now; one more open/close of one function makes it dirty again, and with the other
  // function unused the bus is reset once more.
  const int a2 = device_fd(ga, "0000:01:00.0");
  ASSERT_EQ(sys->close(a2), 0);
  EXPECT_EQ(resets("0000:01:00.0"), 2);  // dirty again, and the bus is unused: reset
  EXPECT_EQ(resets("0000:01:00.1"), 2);
}

TEST_F(HotReset, RootBusDeviceStaysDirty) {
  const int g = open_group("0000:00:03.0");
  ASSERT_EQ(sys->close(device_fd(g, "0000:00:03.0")), 0);
  EXPECT_EQ(resets("0000:00:03.0"), 0);
}

// --------------------------------------------------------------------------- cdev path

struct CdevHotReset : HotReset {
  CdevHotReset() { ifd = sys->open("/dev/iommu", 2); }
  int cdev(const std::string& name) {
    int fd =
        sys->open("/dev/vfio/devices/vfio" + std::to_string(host->device(name)->cdev_index()), 2);
    EXPECT_GE(fd, 0);
    return fd;
  }
  uint32_t bind(int fd) {
    vfio_device_bind_iommufd b{sizeof b, 0, ifd, 0};
    EXPECT_EQ(sys->ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &b), 0);
    return b.out_devid;
  }
  int ifd = -1;
};

TEST_F(CdevHotReset, AllBoundToOneIommufd) {
  const int a = cdev("0000:01:00.0");
  const int b = cdev("0000:01:00.1");
  const uint32_t ida = bind(a), idb = bind(b);
  ASSERT_NE(ida, 0u);
  InfoHeader h{};
  std::vector<vfio_pci_dependent_device> devs;
  ASSERT_EQ(info(a, 64, &h, &devs), 0);
  EXPECT_EQ(h.flags, VFIO_PCI_HOT_RESET_FLAG_DEV_ID | VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED);
  ASSERT_EQ(devs.size(), 2u);
  EXPECT_EQ(vfio_pci_dependent_devid(devs[0]), ida);
  EXPECT_EQ(vfio_pci_dependent_devid(devs[1]), idb);
  EXPECT_RC(hot_reset(a, {ifd}), EINVAL);  // the cdev path takes an empty array
  ASSERT_EQ(hot_reset(a, {}), 0);
  EXPECT_EQ(resets("0000:01:00.0"), 1);
  EXPECT_EQ(resets("0000:01:00.1"), 1);
}

TEST_F(CdevHotReset, UnownedNeighbourIsReportedAndBlocks) {
  const int a = cdev("0000:01:00.0");
  bind(a);
  InfoHeader h{};
  std::vector<vfio_pci_dependent_device> devs;
  ASSERT_EQ(info(a, 64, &h, &devs), 0);
  EXPECT_EQ(h.flags, VFIO_PCI_HOT_RESET_FLAG_DEV_ID);  // OWNED cleared
  ASSERT_EQ(devs.size(), 2u);
  EXPECT_EQ(vfio_pci_dependent_devid(devs[1]), uint32_t(VFIO_PCI_DEVID_NOT_OWNED));
  EXPECT_RC(hot_reset(a, {}), EINVAL);
  EXPECT_EQ(resets("0000:01:00.0"), 0);
}

TEST_F(CdevHotReset, UnboundFunctionOfAnOwnedGroupCounts) {
  // 0000:04:00.0 and .1 are one group; binding .0 makes the iommufd own the group, so .1 is
  // "owned" (devid 0) without being bound.
  add("0000:04:00.0");
  add("0000:04:00.1", groups["0000:04:00.0"]);
  const int a = cdev("0000:04:00.0");
  const uint32_t id = bind(a);
  InfoHeader h{};
  std::vector<vfio_pci_dependent_device> devs;
  ASSERT_EQ(info(a, 64, &h, &devs), 0);
  EXPECT_EQ(h.flags, VFIO_PCI_HOT_RESET_FLAG_DEV_ID | VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED);
  ASSERT_EQ(devs.size(), 2u);
  EXPECT_EQ(vfio_pci_dependent_devid(devs[0]), id);
  EXPECT_EQ(vfio_pci_dependent_devid(devs[1]), uint32_t(VFIO_PCI_DEVID_OWNED));
  ASSERT_EQ(hot_reset(a, {}), 0);
  EXPECT_EQ(resets("0000:04:00.1"), 1);
}

}  // namespace
