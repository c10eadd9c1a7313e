#include "known_difference.h"

#include <vector>

namespace uvfio::conformance {

std::span<const KnownDifference> known_differences() {
  // Empty on purpose: the VM kernel (Debian's linux-source-6.12) gives exactly the results the
  // scenarios encode on every step. An entry belongs here only when a kernel the harness runs
  // answers differently for a reason that is the kernel's (a fix or a change in a release), named
  // with the kernels it applies to; an entry matches one step and one kernel value, so any other
  // result at that step is still a difference.
  static const std::vector<KnownDifference> table = {};
  return table;
}

const KnownDifference* find_known_difference(std::span<const KnownDifference> table,
                                             std::string_view scenario, size_t step,
                                             long kernel_result) {
  for (const KnownDifference& d : table) {
    if (d.scenario == scenario && d.step == step && d.kernel == kernel_result) return &d;
  }
  return nullptr;
}

}  // namespace uvfio::conformance
