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

/// An unmap that removed fewer bytes than asked for.
inline std::string describe_short_unmap(uint64_t iova, uint64_t length, uint64_t unmapped) {
  return describe_range(iova, length) + ": only " + std::to_string(unmapped) +
         " bytes were unmapped";
}

}  // namespace uvfio::driver::detail
