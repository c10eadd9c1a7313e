// Group scenarios: group.c (vfio_group_fops_open/release, vfio_group_ioctl_get_status,
// _set_container, _unset_container, _get_device_fd) and device-file lifetime.
#include "steps.h"

namespace uvfio::conformance {

using namespace steps;

void add_group_scenarios(std::vector<Scenario>& out) {
  const auto S = Setup::kViableGroup;
  const long kViable = VFIO_GROUP_FLAGS_VIABLE;
  const long kSet = VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET;
  out.push_back({"group: a second open is EBUSY",
                 "vfio_group_fops_open",
                 S,
                 {open_group(), open_group("again", 1, err(EBUSY))}});
  out.push_back({"group: reopen after close",
                 "vfio_group_fops_release",
                 S,
                 {open_group(), close_fd("group"), open_group("again", 1, kFd)}});
  out.push_back({"group: a missing group does not exist",
                 "vfio_group_fops_open",
                 S,
                 {open_path("g", "/dev/vfio/4242", err(ENOENT))}});
  out.push_back({"group: status of a viable group without container",
                 "vfio_group_ioctl_get_status",
                 S,
                 {open_group(), group_status("group", kViable)}});
  out.push_back({"group: status with a container",
                 "vfio_group_ioctl_get_status",
                 S,
                 {open_container(), open_group(), set_container("group", "container", 0),
                  group_status("group", kSet)}});
  out.push_back({"group: status argsz too small is EINVAL",
                 "vfio_group_ioctl_get_status",
                 S,
                 {open_group(), group_status("group", err(EINVAL), 4)}});
  out.push_back({"group: SET_CONTAINER with a closed fd is EBADF",
                 "vfio_group_ioctl_set_container",
                 S,
                 {open_group(), set_container_fd("group", 999999, err(EBADF))}});
  out.push_back({"group: SET_CONTAINER with a group fd is EBADFD",
                 "vfio_group_ioctl_set_container",
                 S,
                 {open_group(), set_container("group", "group", err(EBADFD))}});
  out.push_back({"group: SET_CONTAINER twice is EINVAL",
                 "vfio_group_ioctl_set_container",
                 S,
                 {open_container(), open_group(), set_container("group", "container", 0),
                  set_container("group", "container", err(EINVAL))}});
  out.push_back({"group: UNSET_CONTAINER without one is EINVAL",
                 "vfio_group_ioctl_unset_container",
                 S,
                 {open_group(), unset_container("group", err(EINVAL))}});
  out.push_back({"group: UNSET_CONTAINER then status",
                 "vfio_group_ioctl_unset_container",
                 S,
                 {open_container(), open_group(), set_container("group", "container", 0),
                  unset_container("group", 0), group_status("group", kViable)}});
  out.push_back({"group: UNSET_CONTAINER with an open device is EBUSY",
                 "vfio_group_ioctl_unset_container", S,
                 legacy_setup() + std::vector<Step>{get_device_fd("group", "dev", kFd),
                                                    unset_container("group", err(EBUSY)),
                                                    close_fd("dev"), unset_container("group", 0)}});
  out.push_back({"group: GET_DEVICE_FD without a container is EINVAL",
                 "vfio_device_open_file",
                 S,
                 {open_group(), get_device_fd("group", "dev", err(EINVAL))}});
  out.push_back({"group: GET_DEVICE_FD before SET_IOMMU is EINVAL",
                 "vfio_group_use_container",
                 S,
                 {open_container(), open_group(), set_container("group", "container", 0),
                  get_device_fd("group", "dev", err(EINVAL))}});
  out.push_back(
      {"group: GET_DEVICE_FD of an unknown device is ENODEV", "vfio_device_get_from_name", S,
       legacy_setup() +
           std::vector<Step>{get_device_fd("group", "dev", err(ENODEV), 1, "0000:ff:1f.7")}});
  out.push_back(
      {"group: GET_DEVICE_FD works and can be repeated", "vfio_df_open", S,
       legacy_setup() + std::vector<Step>{get_device_fd("group", "dev", kFd),
                                          get_device_fd("group", "dev2", kFd),
                                          device_info("dev", 9), device_info("dev2", 9)}});
  out.push_back(
      {"group: device fds keep the group open and in its container", "vfio_group_fops_release", S,
       legacy_setup() + std::vector<Step>{get_device_fd("group", "dev", kFd), close_fd("group"),
                                          // The device holds the group file: it is still open...
                                          open_group("again", 1, err(EBUSY)),
                                          // ...and still in the container with its backend.
                                          map_dma("container", 0x100000, 4096, 0), close_fd("dev"),
                                          // Last device gone: group released, container emptied.
                                          map_dma("container", 0x200000, 4096, err(EINVAL)),
                                          open_group("again", 1, kFd),
                                          group_status("again", kViable)}});
  out.push_back({"group: unknown group ioctl is ENOTTY",
                 "vfio_group_fops_unl_ioctl",
                 S,
                 {open_group(), api_version("group", err(ENOTTY))}});
  out.push_back({"group: device bound to another driver makes the group not viable",
                 "vfio_dev_viable",
                 Setup::kGroupOtherDriver,
                 {open_group(), group_status("group", 0)}});
  out.push_back({"group: SET_CONTAINER on a non-viable group is EPERM",
                 "iommu_group_claim_dma_owner",
                 Setup::kGroupOtherDriver,
                 {open_container(), open_group(), set_container("group", "container", err(EPERM)),
                  group_status("group", 0)}});
  out.push_back(
      {"group: a pci-stub device keeps the group viable", "vfio_dev_viable",
       Setup::kGroupStubDriver,
       std::vector<Step>{open_group(), group_status("group", kViable), close_fd("group")} +
           legacy_setup() + std::vector<Step>{get_device_fd("group", "dev", kFd)}});
  out.push_back({"group: device GET_INFO argsz too small is EINVAL", "vfio_pci_ioctl_get_info", S,
                 legacy_setup() + std::vector<Step>{get_device_fd("group", "dev", kFd),
                                                    device_info("dev", err(EINVAL), 8)}});
  out.push_back(
      {"group: the container goes away with its last user", "vfio_container_release", S,
       legacy_setup() + std::vector<Step>{get_device_fd("group", "dev", kFd), close_fd("container"),
                                          // The group still holds the container: the device works.
                                          device_info("dev", 9), close_fd("dev"), close_fd("group"),
                                          open_group("again", 1, kFd),
                                          group_status("again", kViable)}});
}

}  // namespace uvfio::conformance
