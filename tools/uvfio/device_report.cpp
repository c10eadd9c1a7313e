// collect_device_report() and the flag-name tables of `uvfio info`. The flag values are the
// uAPI's (include/uapi/linux/vfio.h); spelled out here because the 6.1 headers lack some.
#include "tools/uvfio/device_report.h"

#include <fmt/format.h>

#include <bit>
#include <exception>
#include <utility>

#include "uvfio/driver/driver.h"

namespace uvfio::tools {

namespace {

std::vector<std::string> names_of(uint32_t flags,
                                  std::initializer_list<std::pair<uint32_t, const char*>> table) {
  std::vector<std::string> out;
  for (const auto& [bit, name] : table) {
    if (flags & bit) {
      out.emplace_back(name);
      flags &= ~bit;
    }
  }
  if (flags) out.push_back(fmt::format("{:#x}", flags));
  return out;
}

}  // namespace

std::vector<std::string> device_flag_names(uint32_t flags) {
  return names_of(flags, {{1u << 0, "RESET"},
                          {1u << 1, "PCI"},
                          {1u << 2, "PLATFORM"},
                          {1u << 3, "AMBA"},
                          {1u << 4, "CCW"},
                          {1u << 5, "AP"},
                          {1u << 6, "FSL_MC"},
                          {1u << 7, "CAPS"},
                          {1u << 8, "CDX"}});
}

std::vector<std::string> region_flag_names(uint32_t flags) {
  return names_of(flags,
                  {{1u << 0, "READ"}, {1u << 1, "WRITE"}, {1u << 2, "MMAP"}, {1u << 3, "CAPS"}});
}

std::vector<std::string> irq_flag_names(uint32_t flags) {
  return names_of(flags, {{1u << 0, "EVENTFD"},
                          {1u << 1, "MASKABLE"},
                          {1u << 2, "AUTOMASKED"},
                          {1u << 3, "NORESIZE"}});
}

std::string region_cap_name(uint16_t id) {
  switch (id) {
    case 1:
      return "SPARSE_MMAP";
    case 2:
      return "TYPE";
    case 3:
      return "MSIX_MAPPABLE";
    case 4:
      return "NVLINK2_SSATGT";
    case 5:
      return "NVLINK2_LNKSPD";
    default:
      return fmt::format("cap {}", id);
  }
}

std::string page_sizes_text(uint64_t bitmap) {
  if (bitmap == 0) return "none";
  auto size = [](unsigned shift) {
    static constexpr const char* kUnits[] = {"", "K", "M", "G", "T", "P", "E"};
    return fmt::format("{}{}", uint64_t{1} << (shift % 10), kUnits[shift / 10]);
  };
  const auto low = static_cast<unsigned>(std::countr_zero(bitmap));
  // Every bit from the lowest up: type1 and iommufd report "any multiple" this way.
  if (std::popcount(bitmap) == 64 - static_cast<int>(low) && low < 63) {
    return fmt::format("every power of two from {}", size(low));
  }
  std::string out;
  for (unsigned b = 0; b < 64; ++b) {
    if (bitmap & (uint64_t{1} << b)) out += (out.empty() ? "" : " ") + size(b);
  }
  return out;
}

DeviceReport collect_device_report(const driver::Device& device) {
  DeviceReport r;
  r.target = device.target();
  r.name = device.name();
  r.backend = device.backend();
  r.info = device.info();
  r.regions = device.regions();
  r.irqs = device.irqs();
  if (r.info.is_pci()) {
    r.config = device.config().read_all();
    RegionSizes sizes{};
    for (const auto& reg : r.regions) {
      if (reg.index < sizes.size()) sizes[reg.index] = reg.size;
    }
    r.decoded = decode_config(*r.config, sizes);
  }
  try {
    const auto dma = device.dma();
    DeviceReport::Dma d;
    d.kind = driver::dma_kind_name(dma.kind());
    d.translates = dma.translates();
    d.iova_ranges = dma.iova_ranges();
    d.page_sizes = dma.page_sizes();
    d.page_size = dma.page_size();
    r.dma = std::move(d);
  } catch (const driver::Error& e) {
    // A device can be inspected even when its DMA space cannot be described.
    r.dma_error = e.what();
  }
  r.iommu_faults = device.iommu_faults();
  return r;
}

}  // namespace uvfio::tools
