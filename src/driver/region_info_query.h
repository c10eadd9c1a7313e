// VFIO_DEVICE_GET_REGION_INFO with its capability chain, parsed into a RegionInfo.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "driver/transport.h"
#include "uvfio/driver/region.h"

namespace uvfio::driver::detail {

/// Asks for region `index`, growing the buffer when the device says the chain needs more
/// (VFIO_REGION_INFO_FLAG_CAPS with a larger argsz), and parses the chain. Throws Error.
RegionInfo query_region_info(DeviceTransport& t, uint32_t index, const std::string& target);

/// Parses a GET_REGION_INFO answer of `len` bytes (struct vfio_region_info + chain). Malformed
/// capabilities are skipped, never read past `len`.
RegionInfo parse_region_info(const uint8_t* buf, size_t len);

}  // namespace uvfio::driver::detail
