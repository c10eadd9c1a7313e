// bind/unbind on fake trees whose Sysfs plays the kernel: which files are written, in which order,
// what is remembered and restored, and the errors (with what to do).
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "host_fake_tree.h"
#include "uvfio/host/inventory.h"
#include "uvfio/host/vfio_binding.h"

namespace uvfio::host {
namespace {

using test::FakeKernelSysfs;
using test::FakeTree;
using Writes = std::vector<std::pair<std::string, std::string>>;

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

/// Group 5: an e1000e function, a driverless function, and a bridge on pcieport.
void group5(const FakeTree& t) {
  t.vfio(true, true, "N");
  t.device("0000:00:19.0", "0x8086", "0x10d3", "0x020000", "e1000e", 5);
  t.device("0000:00:19.1", "0x8086", "0x10d4", "0x020000", "", 5);
  t.device("0000:00:1c.0", "0x8086", "0x2940", "0x060400", "pcieport", 5);
}

template <typename F>
HostError error_of(F&& f) {
  try {
    f();
  } catch (const HostError& e) {
    return e;
  }
  ADD_FAILURE() << "no HostError thrown";
  return HostError(0, "");
}

TEST(HostBind, BindsTheWholeGroupInOrderAndRemembers) {
  FakeTree t;
  group5(t);
  FakeKernelSysfs fs(t);
  fs.native = {{"0000:00:19.0", "e1000e"}};
  const auto actions = bind_to_vfio(fs, "00:19.0");
  const Writes expected = {
      {"/sys/bus/pci/devices/0000:00:19.0/driver_override", "vfio-pci"},
      {"/sys/bus/pci/drivers/e1000e/unbind", "0000:00:19.0"},
      {"/sys/bus/pci/drivers_probe", "0000:00:19.0"},
      {"/sys/bus/pci/devices/0000:00:19.1/driver_override", "vfio-pci"},
      {"/sys/bus/pci/drivers_probe", "0000:00:19.1"},
  };
  EXPECT_EQ(fs.writes, expected);
  ASSERT_EQ(actions.size(), 3u);
  EXPECT_EQ(actions[0].before, "e1000e");
  EXPECT_EQ(actions[0].after, "vfio-pci");
  EXPECT_EQ(actions[1].before, "");
  EXPECT_EQ(actions[1].after, "vfio-pci");
  EXPECT_EQ(actions[2].bdf, "0000:00:1c.0");
  EXPECT_EQ(actions[2].after, "pcieport");
  EXPECT_TRUE(has(actions[2].note, "bridge left on pcieport")) << actions[2].note;
  EXPECT_EQ(t.read("/run/uvfio/bind/0000:00:19.0"), "driver=e1000e\noverride=\n");
  EXPECT_EQ(t.read("/run/uvfio/bind/0000:00:19.1"), "driver=\noverride=\n");
  const auto g = read_group(fs, 5);
  ASSERT_TRUE(g.has_value());
  EXPECT_TRUE(g->viable);

  // Binding again changes nothing.
  fs.writes.clear();
  const auto again = bind_to_vfio(fs, "0000:00:19.1");
  EXPECT_TRUE(fs.writes.empty());
  EXPECT_EQ(again[0].note, "already bound");
}

TEST(HostBind, UnbindRestoresWhatWasThere) {
  FakeTree t;
  group5(t);
  FakeKernelSysfs fs(t);
  fs.native = {{"0000:00:19.0", "e1000e"}, {"0000:00:19.1", "e1000e"}};
  (void)bind_to_vfio(fs, "00:19.0");
  fs.writes.clear();
  const auto actions = unbind_from_vfio(fs, "0000:00:19.0");
  // Reverse order; 19.1 had no driver before bind, so it is not probed (e1000e would match).
  const Writes expected = {
      {"/sys/bus/pci/drivers/vfio-pci/unbind", "0000:00:19.1"},
      {"/sys/bus/pci/devices/0000:00:19.1/driver_override", "\n"},
      {"/sys/bus/pci/drivers/vfio-pci/unbind", "0000:00:19.0"},
      {"/sys/bus/pci/devices/0000:00:19.0/driver_override", "\n"},
      {"/sys/bus/pci/drivers_probe", "0000:00:19.0"},
  };
  EXPECT_EQ(fs.writes, expected);
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].after, "");
  EXPECT_EQ(actions[0].note, "left without a driver, as before");
  EXPECT_EQ(actions[1].after, "e1000e");
  EXPECT_EQ(actions[1].note, "restored");
  EXPECT_EQ(read_function(fs, "0000:00:19.0")->driver, "e1000e");
  EXPECT_EQ(read_function(fs, "0000:00:19.0")->driver_override, "");
  EXPECT_FALSE(fs.exists("/run/uvfio/bind/0000:00:19.0"));
  EXPECT_FALSE(fs.exists("/run/uvfio/bind/0000:00:19.1"));
}

TEST(HostBind, UnbindBindsTheRecordedDriverWhenTheProbePicksNone) {
  FakeTree t;
  group5(t);
  FakeKernelSysfs fs(t);  // no native drivers: e1000e was bound by hand (new_id / bind)
  (void)bind_to_vfio(fs, "00:19.0");
  fs.writes.clear();
  (void)unbind_from_vfio(fs, "00:19.0");
  ASSERT_FALSE(fs.writes.empty());
  EXPECT_EQ(fs.writes.back(), std::make_pair(std::string("/sys/bus/pci/drivers/e1000e/bind"),
                                             std::string("0000:00:19.0")));
  EXPECT_EQ(read_function(fs, "0000:00:19.0")->driver, "e1000e");
}

TEST(HostBind, UnbindWithoutRecordLetsTheKernelPick) {
  FakeTree t;
  t.vfio(true, true);
  t.device("0000:00:03.0", "0x1234", "0x11e8", "0x00ff00", "vfio-pci", 3);
  t.file("/sys/bus/pci/devices/0000:00:03.0/driver_override", "vfio-pci\n");
  FakeKernelSysfs fs(t);
  fs.native = {{"0000:00:03.0", "edu-drv"}};
  t.driver("edu-drv");
  const auto actions = unbind_from_vfio(fs, "00:03.0");
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].after, "edu-drv");
  EXPECT_TRUE(has(actions[0].note, "no previous driver recorded; the kernel picked edu-drv"));
}

TEST(HostBind, ErrorsSayWhatToDo) {
  FakeTree t;
  group5(t);
  FakeKernelSysfs fs(t);
  auto e = error_of([&] { (void)bind_to_vfio(fs, "0000:00:1c.0"); });
  EXPECT_EQ(e.error(), EINVAL);
  EXPECT_TRUE(has(e.what(), "is a PCI bridge: vfio-pci does not take bridges")) << e.what();
  e = error_of([&] { (void)bind_to_vfio(fs, "0000:00:1d.0"); });
  EXPECT_EQ(e.error(), ENODEV);
  EXPECT_TRUE(has(e.what(), "no PCI device 0000:00:1d.0 on this host")) << e.what();
  e = error_of([&] { (void)unbind_from_vfio(fs, "1d.0"); });
  EXPECT_EQ(e.error(), EINVAL);
  EXPECT_TRUE(fs.writes.empty());

  // Not root: the first write is refused; nothing else is attempted.
  fs.refuse = {{"/sys/bus/pci/devices/0000:00:19.0/driver_override", EACCES}};
  e = error_of([&] { (void)bind_to_vfio(fs, "00:19.0"); });
  EXPECT_EQ(e.error(), EACCES);
  EXPECT_TRUE(has(e.what(), "binding drivers needs root")) << e.what();
  EXPECT_EQ(fs.writes.size(), 1u);
  fs.refuse.clear();

  // vfio-pci's probe refuses the device: EIO, and unbind can restore.
  fs.vfio_refuses = true;
  fs.native = {{"0000:00:19.0", "e1000e"}};
  e = error_of([&] { (void)bind_to_vfio(fs, "00:19.0"); });
  EXPECT_EQ(e.error(), EIO);
  EXPECT_TRUE(has(e.what(), "vfio-pci did not take 0000:00:19.0 (its driver is now (none)"))
      << e.what();
  EXPECT_TRUE(has(e.what(), "`uvfio unbind 0000:00:19.0` restores e1000e")) << e.what();
  fs.vfio_refuses = false;
  (void)unbind_from_vfio(fs, "00:19.0");
  EXPECT_EQ(read_function(fs, "0000:00:19.0")->driver, "e1000e");

  // vfio-pci not loaded.
  t.remove("/sys/bus/pci/drivers/vfio-pci");
  e = error_of([&] { (void)bind_to_vfio(fs, "00:19.0"); });
  EXPECT_EQ(e.error(), ENODEV);
  EXPECT_TRUE(has(e.what(), "modprobe vfio-pci")) << e.what();
}

TEST(HostBind, NoGroupNeedsNoIommuModeAndForeignMembersBlock) {
  FakeTree t;
  t.vfio(true, false, "N");
  t.device("0000:00:04.0", "0x1b36", "0x0010", "0x010802", "nvme", -1);
  FakeKernelSysfs fs(t);
  auto e = error_of([&] { (void)bind_to_vfio(fs, "00:04.0"); });
  EXPECT_EQ(e.error(), ENODEV);
  EXPECT_TRUE(has(e.what(), "has no IOMMU group")) << e.what();
  EXPECT_TRUE(has(e.what(), "enable_unsafe_noiommu_mode")) << e.what();
  // With no-IOMMU mode on, vfio-pci makes a no-IOMMU group for it: bind goes ahead.
  t.file("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n");
  const auto actions = bind_to_vfio(fs, "00:04.0");
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].after, "vfio-pci");

  t.device("0000:00:05.0", "0x1b36", "0x0010", "0x010802", "nvme", 8);
  t.dir("/sys/devices/platform/dma0");
  t.link("/sys/kernel/iommu_groups/8/devices/dma0", "/sys/devices/platform/dma0");
  t.driver("dw-dma");
  t.link("/sys/devices/platform/dma0/driver", "/sys/bus/pci/drivers/dw-dma");
  e = error_of([&] { (void)bind_to_vfio(fs, "00:05.0"); });
  EXPECT_EQ(e.error(), EBUSY);
  EXPECT_TRUE(has(e.what(), "dma0 (bound to dw-dma)")) << e.what();
}

}  // namespace
}  // namespace uvfio::host
