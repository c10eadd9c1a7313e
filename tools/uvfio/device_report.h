// DeviceReport: everything `uvfio info` shows about a device, gathered once through the driver
// API (so it works on any target) and rendered as text or JSON from the same facts.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/uvfio/config_decoder.h"
#include "uvfio/driver/device.h"

namespace uvfio::tools {

/// A plain value; build it with collect_device_report().
struct DeviceReport {
  std::string target;
  std::string name;     // "0000:00:03.0"
  std::string backend;  // "emulated"
  driver::DeviceInfo info;
  std::vector<driver::RegionInfo> regions;
  std::vector<driver::IrqInfo> irqs;
  /// Config space as the driver reads it (PCI devices only), and its decode.
  std::optional<std::vector<uint8_t>> config;
  std::optional<DecodedConfig> decoded;

  struct Dma {
    std::string kind;  // "iommufd", "type1v2", "noiommu"
    bool translates = true;
    std::vector<iommu::IovaRange> iova_ranges;
    uint64_t page_sizes = 0;  // bitmap
    uint64_t page_size = 0;
  };
  std::optional<Dma> dma;
  /// Set when the DMA space could not be queried (its error text).
  std::string dma_error;
  std::optional<uint64_t> iommu_faults;
};

/// Queries `device` (GET_INFO, every REGION_INFO and IRQ_INFO, config space, the DMA space).
/// Reads only: nothing on the device changes. Throws driver::Error if a query fails.
DeviceReport collect_device_report(const driver::Device& device);

/// Text for a terminal: sections Device, Regions, IRQs, Config space (lspci -vv), DMA space.
std::string render_device_text(const DeviceReport& report);
/// The same facts as JSON.
nlohmann::json device_report_json(const DeviceReport& report);

/// Flag names: "RESET PCI ...", "READ WRITE MMAP ...", "EVENTFD MASKABLE ..."; unknown bits as
/// hex.
std::vector<std::string> device_flag_names(uint32_t flags);
std::vector<std::string> region_flag_names(uint32_t flags);
std::vector<std::string> irq_flag_names(uint32_t flags);
/// "SPARSE_MMAP", "TYPE", "MSIX_MAPPABLE", ... for VFIO_REGION_INFO_CAP_* ids.
std::string region_cap_name(uint16_t id);
/// The page sizes in a bitmap: "4K", or "4K 2M 1G", or "every power of two from 4K".
std::string page_sizes_text(uint64_t bitmap);

}  // namespace uvfio::tools
