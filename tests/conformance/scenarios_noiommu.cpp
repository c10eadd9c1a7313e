// No-IOMMU scenarios: vfio_noiommu_ops, container.c's no-IOMMU rules, group open's privilege.
#include "steps.h"

namespace uvfio::conformance {

using namespace steps;

void add_noiommu_scenarios(std::vector<Scenario>& out) {
  const auto N = Setup::kNoIommuGroup;
  using V = std::vector<Step>;
  const auto setup = [] {
    return V{open_container(), open_group(), set_container("group", "container", 0)};
  };
  out.push_back({"noiommu: extension offered in no-IOMMU mode",
                 "vfio_noiommu_ioctl",
                 N,
                 {open_container(), check_extension("container", VFIO_NOIOMMU_IOMMU, 1)}});
  out.push_back({"noiommu: a no-IOMMU group is viable",
                 "vfio_group_ioctl_get_status",
                 N,
                 {open_group(), group_status("group", VFIO_GROUP_FLAGS_VIABLE)}});
  out.push_back({"noiommu: a no-IOMMU container offers no type1", "vfio_iommu_driver_allowed", N,
                 setup() + V{check_extension("container", VFIO_TYPE1v2_IOMMU, 0),
                             check_extension("container", VFIO_NOIOMMU_IOMMU, 1)}});
  out.push_back({"noiommu: type1 cannot serve a no-IOMMU container", "vfio_ioctl_set_iommu", N,
                 setup() + V{set_iommu("container", VFIO_TYPE1v2_IOMMU, err(ENODEV)),
                             set_iommu("container", VFIO_TYPE1_IOMMU, err(ENODEV))}});
  out.push_back(
      {"noiommu: full sequence to a device fd", "vfio_noiommu_open", N,
       setup() + V{set_iommu("container", VFIO_NOIOMMU_IOMMU, 0),
                   group_status("group", VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET),
                   get_device_fd("group", "dev", kFd), device_info("dev", 9)}});
  out.push_back({"noiommu: mapping ioctls are ENOTTY", "vfio_noiommu_ioctl", N,
                 setup() + V{set_iommu("container", VFIO_NOIOMMU_IOMMU, 0),
                             map_dma("container", 0x100000, 4096, err(ENOTTY)),
                             unmap_dma("container", 0x100000, 4096, err(ENOTTY)),
                             custom(
                                 "VFIO_IOMMU_GET_INFO",
                                 [](Env& e) {
                                   vfio_iommu_type1_info i{};
                                   i.argsz = sizeof i;
                                   return e.ioctl("container", VFIO_IOMMU_GET_INFO, &i);
                                 },
                                 err(ENOTTY))}});
  out.push_back({"noiommu: SET_IOMMU(NOIOMMU) without a group is EINVAL",
                 "vfio_ioctl_set_iommu",
                 N,
                 {open_container(), set_iommu("container", VFIO_NOIOMMU_IOMMU, err(EINVAL))}});
  out.push_back({"noiommu: GET_DEVICE_FD before SET_IOMMU is EINVAL", "vfio_group_use_container", N,
                 setup() + V{get_device_fd("group", "dev", err(EINVAL))}});
  out.push_back(
      {"noiommu: a no-IOMMU group then an ordinary one is EPERM",
       "vfio_container_attach_group",
       Setup::kNoIommuAndViable,
       {open_container(), open_group("group", 1), open_group("group2", 2),
        set_container("group", "container", 0), set_container("group2", "container", err(EPERM))}});
  out.push_back(
      {"noiommu: an ordinary group then a no-IOMMU one is EPERM",
       "vfio_container_attach_group",
       Setup::kNoIommuAndViable,
       {open_container(), open_group("group", 1), open_group("group2", 2),
        set_container("group2", "container", 0), set_container("group", "container", err(EPERM))}});
  out.push_back(
      {"noiommu: ordinary groups still work in no-IOMMU mode",
       "vfio_ioctl_set_iommu",
       Setup::kNoIommuAndViable,
       {open_container(), open_group("group2", 2), set_container("group2", "container", 0),
        set_iommu("container", VFIO_TYPE1v2_IOMMU, 0), get_device_fd("group2", "dev2", kFd, 2)}});
  out.push_back({"noiommu: opening a no-IOMMU group needs CAP_SYS_RAWIO",
                 "vfio_group_fops_open",
                 Setup::kUnprivileged,
                 {open_group("group", 1, err(EPERM))}});
  out.push_back(
      {"noiommu: ordinary groups need no CAP_SYS_RAWIO",
       "vfio_group_fops_open",
       Setup::kUnprivileged,
       {open_container(), open_group("group2", 2), group_status("group2", VFIO_GROUP_FLAGS_VIABLE),
        set_container("group2", "container", 0), set_iommu("container", VFIO_TYPE1v2_IOMMU, 0)}});
  out.push_back({"noiommu: the group is not reachable under its plain number",
                 "vfio_group_find_or_alloc",
                 N,
                 {custom(
                     "open /dev/vfio/<N> of a no-IOMMU group",
                     [](Env& e) {
                       std::string p = e.world.group;
                       return e.open("g", "/dev/vfio/" + p.substr(p.find('-') + 1));
                     },
                     err(ENOENT))}});
}

}  // namespace uvfio::conformance
