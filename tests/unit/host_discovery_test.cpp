// Host discovery on fake sysfs trees: BDF parsing, devices, groups, viability as Linux 6.12 judges
// it, the VFIO paths offered, and `uvfio ls` as text, JSON and through the real binary.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <string>

#include "host_fake_tree.h"
#include "tools/uvfio/host_report.h"
#include "uvfio/host/inventory.h"
#include "uvfio/host/pci_address.h"

namespace uvfio::host {
namespace {

using test::FakeTree;

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

TEST(HostBdf, NormalizesAndRejects) {
  EXPECT_EQ(normalize_bdf("0000:00:03.0"), "0000:00:03.0");
  EXPECT_EQ(normalize_bdf("00:03.0"), "0000:00:03.0");
  EXPECT_EQ(normalize_bdf("0000:0A:1F.7"), "0000:0a:1f.7");
  EXPECT_EQ(normalize_bdf("10000:00:00.0"), "10000:00:00.0");  // VMD domains
  for (const char* bad :
       {"", "00:03", "0000:00:20.0", "0000:00:03.8", "0000:0:03.0", "0000:00:3.0", "zz:00:03.0",
        "0000:00:03.0x", "0000:00:03.", ":00:03.0", "000000000:00:00.0", "0000:00:03.0/../x"}) {
    EXPECT_EQ(normalize_bdf(bad), std::nullopt) << bad;
  }
}

/// A host with VT-d: edu on vfio-pci alone in group 3 (with its cdev), an e1000e and an audio
/// function sharing group 5, a PCIe port (bridge on pcieport) with a driverless endpoint in
/// group 7, and a no-IOMMU group 9.
void typical_host(const FakeTree& t) {
  t.vfio(/*container=*/true, /*iommufd=*/true, "N");
  t.device("0000:00:03.0", "0x1234", "0x11e8", "0x00ff00", "vfio-pci", 3, "vfio0");
  t.file("/dev/vfio/3");
  t.file("/dev/vfio/devices/vfio0");
  t.device("0000:00:19.0", "0x8086", "0x10d3", "0x020000", "e1000e", 5);
  t.device("0000:00:19.1", "0x8086", "0x293e", "0x040300", "pci-stub", 5);
  t.device("0000:00:1c.0", "0x8086", "0x2940", "0x060400", "pcieport", 7);
  t.device("0000:01:00.0", "0x1b36", "0x0010", "0x010802", "", 7);
  t.group(9, "unknown", "vfio-noiommu");
  t.device("0000:02:00.0", "0x1b36", "0x0010", "0x010802", "vfio-pci", 9);
  t.file("/dev/vfio/noiommu-9");
  t.device("0000:00:00.0", "0x8086", "0x29c0", "0x060000", "", -1);
}

TEST(HostDiscovery, ReadsFunctionsGroupsAndPaths) {
  FakeTree t;
  typical_host(t);
  const Sysfs fs(t.root);
  const auto inv = discover(fs);
  EXPECT_TRUE(inv.vfio.container);
  EXPECT_TRUE(inv.vfio.iommufd);
  EXPECT_TRUE(inv.vfio.vfio_loaded);
  EXPECT_TRUE(inv.vfio.vfio_pci_loaded);
  EXPECT_TRUE(inv.vfio.noiommu_supported);
  EXPECT_FALSE(inv.vfio.noiommu_enabled);
  ASSERT_EQ(inv.groups.size(), 4u);
  const auto& g3 = inv.groups[0];
  EXPECT_EQ(g3.id, 3);
  EXPECT_EQ(g3.type, "DMA");
  EXPECT_FALSE(g3.noiommu);
  EXPECT_TRUE(g3.viable);
  EXPECT_EQ(g3.vfio_file, "/dev/vfio/3");
  ASSERT_EQ(g3.devices.size(), 1u);
  const auto& edu = g3.devices[0];
  EXPECT_EQ(edu.bdf, "0000:00:03.0");
  EXPECT_EQ(edu.vendor, 0x1234);
  EXPECT_EQ(edu.device, 0x11e8);
  EXPECT_EQ(edu.class_code, 0x00ff00u);
  EXPECT_EQ(edu.driver, "vfio-pci");
  EXPECT_EQ(edu.driver_override, "");  // "(null)" in sysfs
  EXPECT_EQ(edu.iommu_group, 3);
  EXPECT_EQ(edu.vfio_cdev, "vfio0");
  EXPECT_FALSE(edu.is_bridge());

  const auto& g5 = inv.groups[1];
  EXPECT_FALSE(g5.viable);
  ASSERT_EQ(g5.blockers.size(), 1u);  // pci-stub manages its own DMA; e1000e does not
  EXPECT_EQ(g5.blockers[0], "0000:00:19.0 is bound to e1000e");
  EXPECT_EQ(g5.vfio_file, "");

  const auto& g7 = inv.groups[2];
  EXPECT_TRUE(g7.viable);  // a bridge on pcieport and a driverless endpoint
  EXPECT_TRUE(g7.devices[0].is_bridge());

  const auto& g9 = inv.groups[3];
  EXPECT_TRUE(g9.noiommu);
  EXPECT_EQ(g9.vfio_file, "/dev/vfio/noiommu-9");

  ASSERT_EQ(inv.ungrouped.size(), 1u);
  EXPECT_EQ(inv.ungrouped[0].bdf, "0000:00:00.0");
}

TEST(HostDiscovery, ViabilityFollowsDmaOwnership) {
  PciFunction f;
  f.bdf = "0000:00:05.0";
  for (const char* ok : {"", "vfio-pci", "mlx5_vfio_pci", "xe-vfio-pci", "pci-stub", "pcieport"}) {
    f.driver = ok;
    EXPECT_EQ(viability_blocker(f), std::nullopt) << ok;
  }
  for (const char* bad : {"e1000e", "nvme", "snd_hda_intel", "shpchp"}) {
    f.driver = bad;
    EXPECT_EQ(viability_blocker(f), "0000:00:05.0 is bound to " + std::string(bad));
  }
  // 6.12 asks the driver, not the header type: a bridge on a DMA-using driver blocks too.
  f.class_code = 0x060400;
  f.driver = "shpchp";
  EXPECT_TRUE(f.is_bridge());
  EXPECT_NE(viability_blocker(f), std::nullopt);
}

TEST(HostDiscovery, NonPciMembersAndOddFiles) {
  FakeTree t;
  t.vfio(false, false, nullptr);
  t.device("0000:00:04.0", "0x1af4", "junk", "", "vfio-pci", 2);
  // A platform device in the group, bound to a driver: blocks viability.
  t.dir("/sys/devices/platform/foo");
  t.driver("foo-drv");
  t.link("/sys/kernel/iommu_groups/2/devices/foo", "/sys/devices/platform/foo");
  t.link("/sys/devices/platform/foo/driver", "/sys/bus/pci/drivers/foo-drv");
  t.dir("/sys/kernel/iommu_groups/notanumber");
  const Sysfs fs(t.root);
  const auto inv = discover(fs);
  EXPECT_FALSE(inv.vfio.noiommu_supported);
  EXPECT_FALSE(inv.vfio.container);
  ASSERT_EQ(inv.groups.size(), 1u);
  EXPECT_EQ(inv.groups[0].members.size(), 2u);
  EXPECT_EQ(inv.groups[0].devices.size(), 1u);
  EXPECT_EQ(inv.groups[0].devices[0].device, 0);  // unparsable: 0, not a crash
  EXPECT_FALSE(inv.groups[0].viable);
  EXPECT_EQ(inv.groups[0].blockers[0], "foo is bound to foo-drv");
  EXPECT_EQ(read_function(fs, "../../etc"), std::nullopt);
  EXPECT_EQ(read_function(fs, "0000:00:09.0"), std::nullopt);
  EXPECT_EQ(read_group(fs, -1), std::nullopt);
}

TEST(HostDiscovery, EmptyHostReportsNoVfio) {
  FakeTree t;
  const Sysfs fs(t.root);
  const auto inv = discover(fs);
  EXPECT_FALSE(inv.vfio.any());
  EXPECT_TRUE(inv.groups.empty());
  const std::string text = tools::render_host_text(inv);
  EXPECT_TRUE(has(text, "No kernel VFIO on this host")) << text;
  EXPECT_TRUE(has(text, "pci: targets can use: nothing")) << text;
  EXPECT_TRUE(has(text, "No IOMMU groups")) << text;
}

TEST(HostLs, TextNamesPathsGroupsAndDevices) {
  FakeTree t;
  typical_host(t);
  t.file("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", "Y\n");
  const std::string text = tools::render_host_text(discover(Sysfs(t.root)));
  for (const char* line : {
           "  legacy container /dev/vfio/vfio: yes\n",
           "  iommufd /dev/iommu: yes\n",
           "  no-IOMMU mode: enabled (unsafe: DMA is not translated)\n",
           "  vfio-pci driver: loaded\n",
           "  pci: targets can use: iommufd, legacy, noiommu\n",
           "IOMMU group 3 (type DMA, viable, /dev/vfio/3):\n",
           "  0000:00:03.0  1234:11e8  Unclassified device [00ff]  driver vfio-pci  cdev "
           "/dev/vfio/devices/vfio0\n",
           "IOMMU group 5 (type DMA, NOT viable: 0000:00:19.0 is bound to e1000e):\n",
           "  0000:00:19.0  8086:10d3  Ethernet controller [0200]  driver e1000e\n",
           "  0000:00:1c.0  8086:2940  PCI bridge [0604]  driver pcieport  bridge\n",
           "  0000:01:00.0  1b36:0010  Non-Volatile memory controller [0108]  driver (none)\n",
           "IOMMU group 9 (no-IOMMU, viable, /dev/vfio/noiommu-9):\n",
           "PCI functions without an IOMMU group:\n",
       }) {
    EXPECT_TRUE(has(text, line)) << "missing: " << line << "in:\n" << text;
  }
}

TEST(HostLs, JsonHasTheSameFacts) {
  FakeTree t;
  typical_host(t);
  const auto j = tools::host_json(discover(Sysfs(t.root)));
  EXPECT_EQ(j["host"]["container"], true);
  EXPECT_EQ(j["host"]["noiommu_enabled"], false);
  EXPECT_EQ(j["host"]["paths"], nlohmann::json({"iommufd", "legacy"}));
  ASSERT_EQ(j["groups"].size(), 4u);
  const auto& g = j["groups"][0];
  EXPECT_EQ(g["id"], 3);
  EXPECT_EQ(g["viable"], true);
  EXPECT_EQ(g["file"], "/dev/vfio/3");
  EXPECT_EQ(g["devices"][0]["ids"], "1234:11e8");
  EXPECT_EQ(g["devices"][0]["vendor"], 0x1234);
  EXPECT_EQ(g["devices"][0]["class"], 0x00ff00);
  EXPECT_EQ(g["devices"][0]["driver"], "vfio-pci");
  EXPECT_EQ(g["devices"][0]["cdev"], "/dev/vfio/devices/vfio0");
  EXPECT_TRUE(g["devices"][0]["driver_override"].is_null());
  EXPECT_EQ(j["groups"][1]["blockers"][0], "0000:00:19.0 is bound to e1000e");
  EXPECT_EQ(j["groups"][3]["noiommu"], true);
  EXPECT_EQ(j["groups"][3]["name"], "vfio-noiommu");
  EXPECT_TRUE(j["ungrouped"][0]["driver"].is_null());
}

#ifdef UVFIO_CLI_PATH
std::string run(const std::string& args, int* status) {
  std::string out;
  FILE* p = ::popen((std::string(UVFIO_CLI_PATH) + " " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int st = ::pclose(p);
  *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

TEST(HostCli, LsBindUnbindThroughTheBinary) {
  FakeTree t;
  typical_host(t);
  int status = -1;
  std::string out = run("ls --json --root " + t.root, &status);
  EXPECT_EQ(status, 0) << out;
  const auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j["groups"][0]["devices"][0]["bdf"], "0000:00:03.0");
  out = run("ls --root " + t.root, &status);
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(has(out, "IOMMU group 3 (type DMA, viable, /dev/vfio/3):")) << out;
  // Without a kernel behind the tree nothing binds; the errors are what a user sees.
  out = run("bind 00:1c.0 --root " + t.root, &status);
  EXPECT_EQ(status, 1);
  EXPECT_TRUE(has(out, "uvfio bind: 0000:00:1c.0 is a PCI bridge")) << out;
  out = run("bind 0000:00:0f.0 --root " + t.root, &status);
  EXPECT_EQ(status, 1);
  EXPECT_TRUE(has(out, "no PCI device 0000:00:0f.0")) << out;
  out = run("bind 00:03.0 --root " + t.root, &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_TRUE(has(out, "0000:00:03.0: vfio-pci (already bound)")) << out;
  EXPECT_TRUE(has(out, "IOMMU group 3 is viable: open the device as pci:0000:00:03.0")) << out;
  out = run("unbind 00:19.0 --root " + t.root, &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_TRUE(has(out, "0000:00:19.0: e1000e (not bound to vfio-pci; nothing to do)")) << out;
  out = run("bind nonsense --root " + t.root, &status);
  EXPECT_EQ(status, 1);
  EXPECT_TRUE(has(out, "is not a PCI function address")) << out;
}
#endif

}  // namespace
}  // namespace uvfio::host
