// Container scenarios: container.c (vfio_fops_unl_ioctl, vfio_container_ioctl_check_extension,
// vfio_ioctl_set_iommu, vfio_container_attach_group, vfio_group_detach_container).
#include "steps.h"

namespace uvfio::conformance {

using namespace steps;

void add_container_scenarios(std::vector<Scenario>& out) {
  const auto S = Setup::kViableGroup;
  out.push_back({"container: API version is 0",
                 "vfio_fops_unl_ioctl",
                 S,
                 {open_container(), api_version("container", VFIO_API_VERSION)}});
  out.push_back({"container: type1 extensions offered before any group",
                 "vfio_container_ioctl_check_extension",
                 S,
                 {open_container(), check_extension("container", VFIO_TYPE1_IOMMU, 1),
                  check_extension("container", VFIO_TYPE1v2_IOMMU, 1),
                  check_extension("container", VFIO_UNMAP_ALL, 1)}});
  out.push_back({"container: unknown extension is 0",
                 "vfio_container_ioctl_check_extension",
                 S,
                 {open_container(), check_extension("container", 12345, 0)}});
  out.push_back({"container: no-IOMMU extension absent when the mode is off",
                 "vfio_noiommu_ioctl",
                 Setup::kNoIommuDisabled,
                 {open_container(), check_extension("container", VFIO_NOIOMMU_IOMMU, 0)}});
  out.push_back({"container: SET_IOMMU without a group is EINVAL",
                 "vfio_ioctl_set_iommu",
                 S,
                 {open_container(), set_iommu("container", VFIO_TYPE1v2_IOMMU, err(EINVAL))}});
  out.push_back({"container: backend ioctls before SET_IOMMU are EINVAL",
                 "vfio_fops_unl_ioctl",
                 S,
                 {open_container(), open_group(), set_container("group", "container", 0),
                  map_dma("container", 0x100000, 4096, err(EINVAL)),
                  unmap_dma("container", 0x100000, 4096, err(EINVAL))}});
  out.push_back({"container: SET_IOMMU twice is EINVAL", "vfio_ioctl_set_iommu", S,
                 legacy_setup() +
                     std::vector<Step>{set_iommu("container", VFIO_TYPE1v2_IOMMU, err(EINVAL))}});
  out.push_back({"container: SET_IOMMU with an unknown type is ENODEV",
                 "vfio_ioctl_set_iommu",
                 S,
                 {open_container(), open_group(), set_container("group", "container", 0),
                  set_iommu("container", 12345, err(ENODEV))}});
  out.push_back({"container: SET_IOMMU(NOIOMMU) on an ordinary container is ENODEV",
                 "vfio_ioctl_set_iommu",
                 Setup::kNoIommuAndViable,
                 {open_container(), open_group("group", 2), set_container("group", "container", 0),
                  set_iommu("container", VFIO_NOIOMMU_IOMMU, err(ENODEV))}});
  out.push_back(
      {"container: once set, extensions are the backend's", "vfio_container_ioctl_check_extension",
       S,
       legacy_setup() + std::vector<Step>{check_extension("container", VFIO_TYPE1v2_IOMMU, 1),
                                          check_extension("container", VFIO_NOIOMMU_IOMMU, 0)}});
  out.push_back({"container: type1 v1 can be set", "vfio_ioctl_set_iommu", S,
                 legacy_setup(VFIO_TYPE1_IOMMU)});
  out.push_back(
      {"container: unknown ioctl with a backend is ENOTTY", "vfio_iommu_type1_ioctl", S,
       legacy_setup() +
           std::vector<Step>{custom(
               "unknown container ioctl",
               [](Env& e) { return e.ioctl("container", _IO(';', 150), 0ul); }, err(ENOTTY))}});
  out.push_back(
      {"container: detaching the last group releases the backend", "vfio_group_detach_container", S,
       legacy_setup() + std::vector<Step>{map_dma("container", 0x100000, 4096, 0),
                                          unset_container("group", 0),
                                          map_dma("container", 0x100000, 4096, err(EINVAL)),
                                          set_container("group", "container", 0),
                                          set_iommu("container", VFIO_TYPE1v2_IOMMU, 0),
                                          // The old mapping went with the old backend.
                                          map_dma("container", 0x100000, 4096, 0)}});
  out.push_back(
      {"container: closing the group leaves the container", "vfio_group_fops_release", S,
       legacy_setup() +
           std::vector<Step>{close_fd("group"), map_dma("container", 0x100000, 4096, err(EINVAL)),
                             set_iommu("container", VFIO_TYPE1v2_IOMMU, err(EINVAL))}});
  out.push_back(
      {"container: two groups share one container and its mappings", "vfio_container_attach_group",
       Setup::kTwoGroups,
       legacy_setup() +
           std::vector<Step>{map_dma("container", 0x100000, 4096, 0), open_group("group2", 2),
                             set_container("group2", "container", 0),
                             get_device_fd("group2", "dev2", kFd, 2), unset_container("group", 0),
                             // group2 still holds the backend: the mapping survives.
                             map_dma("container", 0x100000, 4096, err(EEXIST))}});
  out.push_back({"container: a group added before SET_IOMMU is attached by it",
                 "__vfio_container_attach_groups",
                 Setup::kTwoGroups,
                 {open_container(), open_group(), open_group("group2", 2),
                  set_container("group", "container", 0), set_container("group2", "container", 0),
                  set_iommu("container", VFIO_TYPE1v2_IOMMU, 0), get_device_fd("group", "dev", kFd),
                  get_device_fd("group2", "dev2", kFd, 2)}});
  out.push_back({"container: a group ioctl on a container without backend is EINVAL",
                 "vfio_fops_unl_ioctl",
                 S,
                 {open_container(), custom(
                                        "GROUP_GET_STATUS on a container",
                                        [](Env& e) {
                                          vfio_group_status st{sizeof st, 0};
                                          return e.ioctl("container", VFIO_GROUP_GET_STATUS, &st);
                                        },
                                        err(EINVAL))}});
}

}  // namespace uvfio::conformance
