// Known kernel-version differences: steps where a kernel answers differently from the 6.12
// behaviour the scenarios (and the emulation) encode, for a documented reason. The VM harness
// reports such a step as KNOWN, never as identical, and never silently.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace uvfio::conformance {

struct KnownDifference {
  std::string_view scenario;  // Scenario::name
  size_t step;                // 1-based, as in the reports
  long kernel;                // what such a kernel returns at that step (value or -errno)
  std::string_view kernels;   // which kernels answer so, e.g. "6.12.0 - 6.12.9"
  std::string_view reason;    // why, with the kernel commit or function that explains it
};

/// The table of known differences the harness accepts (tests/conformance/known_difference.cpp).
std::span<const KnownDifference> known_differences();

/// The entry for (scenario, step) whose kernel value is `kernel_result`, or null.
const KnownDifference* find_known_difference(std::span<const KnownDifference> table,
                                             std::string_view scenario, size_t step,
                                             long kernel_result);

}  // namespace uvfio::conformance
