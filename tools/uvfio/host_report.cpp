#include "tools/uvfio/host_report.h"

#include <fmt/format.h>

#include "tools/uvfio/config_decoder.h"

namespace uvfio::tools {
namespace {

std::vector<std::string> offered_paths(const host::HostVfio& h) {
  std::vector<std::string> p;
  if (h.iommufd) p.emplace_back("iommufd");
  if (h.container) p.emplace_back("legacy");
  if (h.container && h.noiommu_enabled) p.emplace_back("noiommu");
  return p;
}

std::string device_line(const host::PciFunction& f) {
  std::string s = fmt::format("  {}  {:04x}:{:04x}  {} [{:04x}]  driver {}", f.bdf, f.vendor,
                              f.device, pci_class_name(f.class_code), f.class_code >> 8,
                              f.driver.empty() ? "(none)" : f.driver);
  if (!f.driver_override.empty()) s += " (override " + f.driver_override + ")";
  if (!f.vfio_cdev.empty()) s += "  cdev /dev/vfio/devices/" + f.vfio_cdev;
  if (f.is_bridge()) s += "  bridge";
  return s + "\n";
}

nlohmann::json device_json(const host::PciFunction& f) {
  auto opt = [](const std::string& s) { return s.empty() ? nlohmann::json() : nlohmann::json(s); };
  return {{"bdf", f.bdf},
          {"vendor", f.vendor},
          {"device", f.device},
          {"ids", fmt::format("{:04x}:{:04x}", f.vendor, f.device)},
          {"class", f.class_code},
          {"class_name", pci_class_name(f.class_code)},
          {"driver", opt(f.driver)},
          {"driver_override", opt(f.driver_override)},
          {"iommu_group", f.iommu_group < 0 ? nlohmann::json() : nlohmann::json(f.iommu_group)},
          {"cdev", opt(f.vfio_cdev.empty() ? "" : "/dev/vfio/devices/" + f.vfio_cdev)},
          {"bridge", f.is_bridge()}};
}

}  // namespace

std::string render_host_text(const host::HostInventory& inv) {
  const auto& h = inv.vfio;
  std::string out;
  if (!h.any()) {
    out +=
        "No kernel VFIO on this host: no /dev/vfio/vfio, no /dev/iommu, and the vfio module is "
        "not loaded (modprobe vfio-pci; device isolation also needs an IOMMU: intel_iommu=on or "
        "amd_iommu=on).\n";
  }
  out += "Kernel VFIO paths:\n";
  out += fmt::format("  legacy container /dev/vfio/vfio: {}\n", h.container ? "yes" : "no");
  out += fmt::format("  iommufd /dev/iommu: {}\n", h.iommufd ? "yes" : "no");
  out += fmt::format(
      "  no-IOMMU mode: {}\n",
      !h.noiommu_supported
          ? "unavailable (no vfio enable_unsafe_noiommu_mode parameter)"
          : (h.noiommu_enabled ? "enabled (unsafe: DMA is not translated)" : "disabled"));
  out += fmt::format("  vfio-pci driver: {}\n", h.vfio_pci_loaded ? "loaded" : "not loaded");
  const auto paths = offered_paths(h);
  std::string list;
  for (const auto& p : paths) list += (list.empty() ? "" : ", ") + p;
  out += fmt::format("  pci: targets can use: {}\n", list.empty() ? "nothing" : list);
  if (inv.groups.empty()) {
    out += "No IOMMU groups (no IOMMU is enabled, and no no-IOMMU group exists).\n";
  }
  for (const auto& g : inv.groups) {
    std::string kind = g.noiommu ? "no-IOMMU" : "type " + (g.type.empty() ? "?" : g.type);
    std::string via;
    for (const auto& b : g.blockers) via += (via.empty() ? "" : "; ") + b;
    out += fmt::format("IOMMU group {} ({}, {}{}):\n", g.id, kind,
                       g.viable ? "viable" : "NOT viable: " + via,
                       g.vfio_file.empty() ? "" : ", " + g.vfio_file);
    for (const auto& f : g.devices) out += device_line(f);
    for (const auto& m : g.members) {
      bool pci = false;
      for (const auto& f : g.devices) pci |= f.bdf == m;
      if (!pci) out += "  " + m + "  (not a PCI function)\n";
    }
  }
  if (!inv.ungrouped.empty()) {
    out += "PCI functions without an IOMMU group:\n";
    for (const auto& f : inv.ungrouped) out += device_line(f);
  }
  return out;
}

nlohmann::json host_json(const host::HostInventory& inv) {
  const auto& h = inv.vfio;
  nlohmann::json j;
  j["host"] = {{"vfio", h.vfio_loaded},
               {"vfio_pci", h.vfio_pci_loaded},
               {"container", h.container},
               {"iommufd", h.iommufd},
               {"noiommu_supported", h.noiommu_supported},
               {"noiommu_enabled", h.noiommu_enabled},
               {"paths", offered_paths(h)}};
  j["groups"] = nlohmann::json::array();
  for (const auto& g : inv.groups) {
    nlohmann::json devs = nlohmann::json::array();
    for (const auto& f : g.devices) devs.push_back(device_json(f));
    j["groups"].push_back(
        {{"id", g.id},
         {"name", g.name.empty() ? nlohmann::json() : nlohmann::json(g.name)},
         {"type", g.type.empty() ? nlohmann::json() : nlohmann::json(g.type)},
         {"noiommu", g.noiommu},
         {"viable", g.viable},
         {"blockers", g.blockers},
         {"file", g.vfio_file.empty() ? nlohmann::json() : nlohmann::json(g.vfio_file)},
         {"members", g.members},
         {"devices", devs}});
  }
  j["ungrouped"] = nlohmann::json::array();
  for (const auto& f : inv.ungrouped) j["ungrouped"].push_back(device_json(f));
  return j;
}

}  // namespace uvfio::tools
