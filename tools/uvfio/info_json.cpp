// device_report_json(): `uvfio info --json`. Numbers stay numbers; names sit beside them.
#include <fmt/format.h>

#include "tools/uvfio/device_report.h"
#include "uvfio/driver/driver.h"

namespace uvfio::tools {

nlohmann::json device_report_json(const DeviceReport& r) {
  using nlohmann::json;
  json j;
  j["target"] = r.target;
  j["name"] = r.name;
  j["backend"] = r.backend;
  j["device"] = {{"flags", r.info.flags},
                 {"flag_names", device_flag_names(r.info.flags)},
                 {"num_regions", r.info.num_regions},
                 {"num_irqs", r.info.num_irqs}};
  json regions = json::array();
  for (const auto& reg : r.regions) {
    json jr = {{"index", reg.index},
               {"name", driver::pci_region_name(reg.index)},
               {"size", reg.size},
               {"offset", reg.offset},
               {"flags", reg.flags},
               {"flag_names", region_flag_names(reg.flags)},
               {"msix_mappable", reg.msix_mappable}};
    json caps = json::array();
    for (const auto id : reg.capability_ids)
      caps.push_back({{"id", id}, {"name", region_cap_name(id)}});
    jr["capabilities"] = caps;
    if (reg.sparse_areas) {
      json areas = json::array();
      for (const auto& a : *reg.sparse_areas)
        areas.push_back({{"offset", a.offset}, {"size", a.size}});
      jr["sparse_areas"] = areas;
    } else {
      jr["sparse_areas"] = nullptr;
    }
    jr["type"] =
        reg.type ? json{{"type", reg.type->type}, {"subtype", reg.type->subtype}} : json(nullptr);
    regions.push_back(jr);
  }
  j["regions"] = regions;
  json irqs = json::array();
  for (const auto& irq : r.irqs) {
    irqs.push_back({{"index", irq.index},
                    {"name", driver::pci_irq_name(irq.index)},
                    {"count", irq.count},
                    {"flags", irq.flags},
                    {"flag_names", irq_flag_names(irq.flags)}});
  }
  j["irqs"] = irqs;
  j["config"] = r.decoded ? config_to_json(*r.decoded) : json(nullptr);
  if (r.config) {
    // The raw bytes too, as hex, so a consumer can decode what this tool does not.
    std::string hex;
    hex.reserve(r.config->size() * 2);
    for (const auto b : *r.config) hex += fmt::format("{:02x}", b);
    j["config_raw"] = hex;
  }
  if (r.dma) {
    json ranges = json::array();
    for (const auto& rg : r.dma->iova_ranges)
      ranges.push_back({{"start", rg.start}, {"last", rg.last}});
    j["dma"] = {{"kind", r.dma->kind},
                {"translates", r.dma->translates},
                {"iova_ranges", ranges},
                {"page_sizes", r.dma->page_sizes},
                {"page_sizes_text", page_sizes_text(r.dma->page_sizes)},
                {"page_size", r.dma->page_size}};
  } else {
    j["dma"] = {{"error", r.dma_error}};
  }
  j["iommu_faults"] = r.iommu_faults ? json(*r.iommu_faults) : json(nullptr);
  return j;
}

}  // namespace uvfio::tools
