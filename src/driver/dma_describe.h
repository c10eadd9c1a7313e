// Texts for DMA error details.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

namespace uvfio::driver::detail {

inline std::string describe_range(uint64_t iova, uint64_t length) {
  return fmt::format("IOVA {:#x}, {:#x} bytes", iova, length);
}

inline std::string describe_no_room(uint64_t length, uint64_t align, uint64_t limit) {
  return fmt::format("no free IOVA range of {:#x} bytes (alignment {:#x}) at or below {:#x}",
                     length, align, limit);
}

}  // namespace uvfio::driver::detail
