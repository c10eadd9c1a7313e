// `uvfio ls` output: the host inventory as text and as JSON.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "uvfio/host/inventory.h"

namespace uvfio::tools {

/// Human-readable: which kernel paths the host offers, then each IOMMU group with its viability
/// and devices (BDF, vendor:device, class, driver), then PCI functions without a group.
std::string render_host_text(const host::HostInventory& inv);

/// The same facts as one JSON object {"host": {...}, "groups": [...], "ungrouped": [...]}.
nlohmann::json host_json(const host::HostInventory& inv);

}  // namespace uvfio::tools
