#include "uvfio/host/inventory.h"

#include <algorithm>
#include <charconv>

namespace uvfio::host {
namespace {

std::optional<uint64_t> parse_hex(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  std::string_view v = *s;
  if (v.starts_with("0x") || v.starts_with("0X")) v.remove_prefix(2);
  uint64_t out = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out, 16);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty()) return std::nullopt;
  return out;
}

std::optional<int> parse_int(std::string_view v) {
  int out = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty() || out < 0) return std::nullopt;
  return out;
}

/// Drivers that set driver_managed_dma (so they never claim the group's DMA for the kernel).
bool manages_dma_itself(const std::string& driver) {
  // vfio-pci, and its variant drivers (mlx5_vfio_pci, xe-vfio-pci, virtio_vfio_pci, ...).
  if (driver.find("vfio") != std::string::npos) return true;
  return driver == "pci-stub" || driver == "pcieport";
}

}  // namespace

bool PciFunction::is_bridge() const {
  const uint32_t cls = class_code >> 8;
  // PCI-to-PCI, CardBus, semi-transparent PCI-to-PCI: type 1/2 headers.
  return cls == 0x0604 || cls == 0x0607 || cls == 0x0609;
}

std::optional<std::string> viability_blocker(const PciFunction& f) {
  if (f.driver.empty() || manages_dma_itself(f.driver)) return std::nullopt;
  // Before 5.19 bridges were always allowed (vfio_dev_driver_allowed); 6.12 asks the driver,
  // and a bridge on pcieport passes that test anyway.
  return f.bdf + " is bound to " + f.driver;
}

HostVfio read_host_vfio(const Sysfs& fs) {
  HostVfio h;
  h.vfio_loaded = fs.is_dir("/sys/module/vfio");
  h.vfio_pci_loaded = fs.is_dir("/sys/bus/pci/drivers/vfio-pci");
  h.container = fs.exists("/dev/vfio/vfio");
  h.iommufd = fs.exists("/dev/iommu");
  const auto p = fs.read("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode");
  h.noiommu_supported = p.has_value();
  h.noiommu_enabled = p && (*p == "Y" || *p == "1");
  return h;
}

std::optional<PciFunction> read_function(const Sysfs& fs, const std::string& bdf) {
  const std::string dir = "/sys/bus/pci/devices/" + bdf;
  if (bdf.empty() || bdf.find('/') != std::string::npos || !fs.is_dir(dir)) return std::nullopt;
  PciFunction f;
  f.bdf = bdf;
  f.vendor = static_cast<uint16_t>(parse_hex(fs.read(dir + "/vendor")).value_or(0));
  f.device = static_cast<uint16_t>(parse_hex(fs.read(dir + "/device")).value_or(0));
  f.class_code = static_cast<uint32_t>(parse_hex(fs.read(dir + "/class")).value_or(0));
  f.driver = fs.link_name(dir + "/driver").value_or("");
  f.driver_override = fs.read(dir + "/driver_override").value_or("");
  if (f.driver_override == "(null)") f.driver_override.clear();
  if (const auto g = fs.link_name(dir + "/iommu_group")) f.iommu_group = parse_int(*g).value_or(-1);
  for (const auto& name : fs.list(dir + "/vfio-dev")) {
    if (name.starts_with("vfio")) f.vfio_cdev = name;
  }
  return f;
}

std::optional<IommuGroup> read_group(const Sysfs& fs, int id) {
  const std::string dir = "/sys/kernel/iommu_groups/" + std::to_string(id);
  if (id < 0 || !fs.is_dir(dir)) return std::nullopt;
  IommuGroup g;
  g.id = id;
  g.name = fs.read(dir + "/name").value_or("");
  g.type = fs.read(dir + "/type").value_or("");
  // vfio names the fake groups it creates for devices without an IOMMU (vfio_main.c).
  g.noiommu = g.name == "vfio-noiommu";
  g.members = fs.list(dir + "/devices");
  for (const auto& m : g.members) {
    if (auto f = read_function(fs, m)) {
      if (auto why = viability_blocker(*f)) g.blockers.push_back(*why);
      g.devices.push_back(std::move(*f));
    } else {
      // A non-PCI member: the same ownership rule, judged by its driver link.
      std::string link = dir;
      link.append("/devices/").append(m).append("/driver");
      const auto drv = fs.link_name(link);
      if (drv && !manages_dma_itself(*drv)) g.blockers.push_back(m + " is bound to " + *drv);
    }
  }
  g.viable = g.blockers.empty();
  const std::string file =
      g.noiommu ? "/dev/vfio/noiommu-" + std::to_string(id) : "/dev/vfio/" + std::to_string(id);
  if (fs.exists(file)) g.vfio_file = file;
  return g;
}

HostInventory discover(const Sysfs& fs) {
  HostInventory inv;
  inv.vfio = read_host_vfio(fs);
  std::vector<int> ids;
  for (const auto& name : fs.list("/sys/kernel/iommu_groups")) {
    if (auto id = parse_int(name)) ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());
  for (const int id : ids) {
    if (auto g = read_group(fs, id)) inv.groups.push_back(std::move(*g));
  }
  for (const auto& bdf : fs.list("/sys/bus/pci/devices")) {
    auto f = read_function(fs, bdf);
    if (f && f->iommu_group < 0) inv.ungrouped.push_back(std::move(*f));
  }
  return inv;
}

}  // namespace uvfio::host
