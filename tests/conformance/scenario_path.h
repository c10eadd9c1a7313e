// Which kernel VFIO path a scenario exercises, so the VM harness can report kernel parity per
// path ("kernel conformance (legacy): N/N identical").
#pragma once

#include <optional>
#include <string_view>

#include "scenario.h"

namespace uvfio::conformance {

/// The three ways user space reaches a device through kernel VFIO.
enum class Path {
  kLegacy,   // /dev/vfio/vfio container + /dev/vfio/N group, type1 (and the vfio-pci device fd)
  kIommufd,  // /dev/iommu, the device cdev, a group attached to an iommufd
  kNoIommu,  // no-IOMMU mode: /dev/vfio/noiommu-N, the no-IOMMU backend and its privilege rules
};

inline constexpr Path kAllPaths[] = {Path::kLegacy, Path::kIommufd, Path::kNoIommu};

/// "legacy", "iommufd", "noiommu".
std::string_view path_name(Path p);

/// The path `s` runs on, or nullopt if its name has no known area prefix (a new scenario file
/// must be classified here before the VM harness can count it).
std::optional<Path> path_of(const Scenario& s);

}  // namespace uvfio::conformance
