// render_device_text(): `uvfio info` for a terminal.
#include <fmt/format.h>

#include <string>

#include "tools/uvfio/device_report.h"
#include "uvfio/driver/driver.h"

namespace uvfio::tools {

namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out.empty() ? "-" : out;
}

/// "1M", "4K", "0x1234" for sizes that are not a power-of-two unit.
std::string size_text(uint64_t n) {
  if (n == 0) return "0";
  static constexpr const char* kUnits[] = {"", "K", "M", "G", "T"};
  size_t u = 0;
  uint64_t v = n;
  while (v >= 1024 && v % 1024 == 0 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:#x} ({}{})", n, v, kUnits[u]);
}

/// Every line of `text` indented by `pad`, tabs expanded to two spaces per level.
std::string indent(const std::string& text, const std::string& pad) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    size_t tabs = 0;
    while (tabs < line.size() && line[tabs] == '\t') ++tabs;
    std::string body = line.substr(tabs);
    // Tabs inside a line (lspci's "DevCap:\t...") become a space.
    for (auto& ch : body) {
      if (ch == '\t') ch = ' ';
    }
    out += pad;
    out.append(tabs * 2, ' ');
    out += body;
    out += '\n';
    start = end + 1;
  }
  return out;
}

}  // namespace

std::string render_device_text(const DeviceReport& r) {
  std::string out = fmt::format("Device {} ({}, {})\n", r.name, r.target, r.backend);
  out += fmt::format("  flags: {:#x} {}; {} regions, {} IRQ indexes\n", r.info.flags,
                     joined(device_flag_names(r.info.flags)), r.info.num_regions, r.info.num_irqs);

  out += "Regions:\n";
  for (const auto& reg : r.regions) {
    const std::string name = driver::pci_region_name(reg.index);
    if (reg.size == 0) {
      out += fmt::format("  {:>2} {:<6} (not implemented)\n", reg.index, name);
      continue;
    }
    out += fmt::format("  {:>2} {:<6} size {}, offset {:#x}, flags {}\n", reg.index, name,
                       size_text(reg.size), reg.offset, joined(region_flag_names(reg.flags)));
    if (!reg.capability_ids.empty()) {
      std::vector<std::string> caps;
      for (const auto id : reg.capability_ids) caps.push_back(region_cap_name(id));
      out += fmt::format("            capabilities: {}\n", joined(caps));
    }
    if (reg.sparse_areas) {
      std::string areas;
      for (const auto& a : *reg.sparse_areas) {
        areas += fmt::format(" [{:#x}, +{:#x})", a.offset, a.size);
      }
      out += fmt::format("            sparse mmap areas:{}\n", areas.empty() ? " none" : areas);
    }
    if (reg.type) {
      out +=
          fmt::format("            type {:#x} sub-type {:#x}\n", reg.type->type, reg.type->subtype);
    }
  }

  out += "IRQs:\n";
  for (const auto& irq : r.irqs) {
    out +=
        fmt::format("  {:>2} {:<6} count {}, flags {}\n", irq.index,
                    driver::pci_irq_name(irq.index), irq.count, joined(irq_flag_names(irq.flags)));
  }

  if (r.decoded) {
    out += fmt::format("Config space ({} bytes, lspci -vv style):\n", r.config->size());
    out += indent(render_config_text(*r.decoded), "  ");
  }

  out += "DMA space:\n";
  if (r.dma) {
    out += fmt::format("  type: {}; translates: {}\n", r.dma->kind,
                       r.dma->translates ? "yes" : "NO (no-IOMMU: the device sees bus addresses)");
    std::string ranges;
    for (const auto& rg : r.dma->iova_ranges)
      ranges += fmt::format(" [{:#x}, {:#x}]", rg.start, rg.last);
    out += fmt::format("  IOVA ranges:{}\n", ranges.empty() ? " none" : ranges);
    out += fmt::format("  page sizes: {} (bitmap {:#x}); map alignment {}\n",
                       page_sizes_text(r.dma->page_sizes), r.dma->page_sizes,
                       size_text(r.dma->page_size));
  } else {
    out += fmt::format("  unavailable: {}\n", r.dma_error);
  }
  if (r.iommu_faults) out += fmt::format("  IOMMU faults so far: {}\n", *r.iommu_faults);
  return out;
}

}  // namespace uvfio::tools
