#include "scenario_path.h"

namespace uvfio::conformance {

std::string_view path_name(Path p) {
  switch (p) {
    case Path::kLegacy:
      return "legacy";
    case Path::kIommufd:
      return "iommufd";
    case Path::kNoIommu:
      return "noiommu";
  }
  return "?";
}

std::optional<Path> path_of(const Scenario& s) {
  // The world decides first: a scenario that needs no-IOMMU mode switched on (a no-IOMMU group,
  // or the privilege rules around one) can only run on a machine set up for that path, whatever
  // area it belongs to (e.g. "container: SET_IOMMU(NOIOMMU) on an ordinary container").
  switch (s.setup) {
    case Setup::kNoIommuGroup:
    case Setup::kNoIommuAndViable:
    case Setup::kUnprivileged:
      return Path::kNoIommu;
    default:
      break;
  }
  // Otherwise the area (the name's prefix, one per scenarios_*.cpp) decides. The iommufd file
  // covers /dev/iommu, the device cdev and groups attached to an iommufd; container, group, type1
  // and vfio-pci scenarios all open the device through the legacy container and a group.
  struct Area {
    std::string_view prefix;
    Path path;
  };
  static constexpr Area kAreas[] = {
      {"container:", Path::kLegacy}, {"group:", Path::kLegacy},    {"type1", Path::kLegacy},
      {"vfio-pci:", Path::kLegacy},  {"iommufd:", Path::kIommufd}, {"noiommu:", Path::kNoIommu},
  };
  const std::string_view name = s.name;
  for (const Area& a : kAreas) {
    if (name.starts_with(a.prefix)) return a.path;
  }
  return std::nullopt;
}

}  // namespace uvfio::conformance
