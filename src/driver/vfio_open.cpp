#include "driver/vfio_open.h"

#include <fcntl.h>
#include <linux/vfio.h>

#include "driver/checked_call.h"
#include "driver/iommufd_dma.h"
#include "driver/type1_dma.h"
#include "uvfio/uapi/iommufd.h"
#include "uvfio/uapi/vfio_cdev.h"

namespace uvfio::driver::detail {

using namespace uvfio::uapi;  // NOLINT(google-build-using-namespace): 6.1 vs 6.12 headers
namespace {

SystemFd open_path(const std::shared_ptr<vfio::VfioSystem>& sys, const std::string& path,
                   const std::string& target) {
  const int fd =
      static_cast<int>(checked(sys->open(path, O_RDWR | O_CLOEXEC), "open(" + path + ")", target));
  return {sys, fd};
}

/// Container + group, the part type1 and no-IOMMU share; leaves the IOMMU unset.
std::pair<SystemFd, SystemFd> container_with_group(const std::shared_ptr<vfio::VfioSystem>& sys,
                                                   const std::string& group_path,
                                                   unsigned long iommu_type, const char* type_name,
                                                   const std::string& target) {
  SystemFd container = open_path(sys, "/dev/vfio/vfio", target);
  const long version = checked(sys->ioctl(container.get(), VFIO_GET_API_VERSION, 0UL),
                               "VFIO_GET_API_VERSION", target);
  if (version != VFIO_API_VERSION) {
    throw Error("VFIO_GET_API_VERSION", target, EINVAL,
                "API version " + std::to_string(version) + ", expected " +
                    std::to_string(VFIO_API_VERSION));
  }
  const long has = checked(sys->ioctl(container.get(), VFIO_CHECK_EXTENSION, iommu_type),
                           "VFIO_CHECK_EXTENSION", target);
  if (has <= 0) {
    throw Error("VFIO_CHECK_EXTENSION", target, EOPNOTSUPP,
                std::string("the container does not offer ") + type_name +
                    (iommu_type == VFIO_NOIOMMU_IOMMU ? " (no-IOMMU mode is not enabled)" : ""));
  }
  SystemFd group = open_path(sys, group_path, target);
  vfio_group_status status{};
  status.argsz = sizeof status;
  checked(sys->ioctl(group.get(), VFIO_GROUP_GET_STATUS, &status), "VFIO_GROUP_GET_STATUS", target);
  if ((status.flags & VFIO_GROUP_FLAGS_VIABLE) == 0) {
    throw Error(
        "VFIO_GROUP_GET_STATUS", target, EBUSY,
        group_path + " is not viable: every device in the group must be bound to vfio or unbound");
  }
  int cfd = container.get();
  checked(sys->ioctl(group.get(), VFIO_GROUP_SET_CONTAINER, &cfd), "VFIO_GROUP_SET_CONTAINER",
          target, group_path);
  checked(sys->ioctl(container.get(), VFIO_SET_IOMMU, iommu_type), "VFIO_SET_IOMMU", target,
          type_name);
  return {std::move(container), std::move(group)};
}

SystemFd get_device_fd(const SystemFd& group, const std::string& device_name,
                       const std::string& target) {
  std::string name = device_name;  // the ioctl takes a mutable char*
  const int fd = static_cast<int>(
      checked(group.sys().ioctl(group.get(), VFIO_GROUP_GET_DEVICE_FD, name.data()),
              "VFIO_GROUP_GET_DEVICE_FD", target, device_name));
  return {group.system(), fd};
}

}  // namespace

IommuMode take_iommu_mode(std::map<std::string, std::string>& options, const std::string& target) {
  auto it = options.find("iommu");
  if (it == options.end()) return IommuMode::kIommufd;
  const std::string v = it->second;
  options.erase(it);
  if (v == "iommufd") return IommuMode::kIommufd;
  if (v == "type1") return IommuMode::kType1;
  if (v == "noiommu") return IommuMode::kNoIommu;
  throw Error("open", target, EINVAL,
              "unknown iommu=" + v + " (accepted: iommu=iommufd, iommu=type1, iommu=noiommu)");
}

OpenedVfioDevice open_with_iommufd(const std::shared_ptr<vfio::VfioSystem>& sys,
                                   const std::string& cdev_path, const std::string& target) {
  SystemFd iommufd = open_path(sys, "/dev/iommu", target);
  iommu_ioas_alloc alloc{};
  alloc.size = sizeof alloc;
  checked(sys->ioctl(iommufd.get(), IOMMU_IOAS_ALLOC, &alloc), "IOMMU_IOAS_ALLOC", target);
  SystemFd device = open_path(sys, cdev_path, target);
  vfio_device_bind_iommufd bind{};
  bind.argsz = sizeof bind;
  bind.iommufd = iommufd.get();
  checked(sys->ioctl(device.get(), VFIO_DEVICE_BIND_IOMMUFD, &bind), "VFIO_DEVICE_BIND_IOMMUFD",
          target, cdev_path);
  vfio_device_attach_iommufd_pt attach{};
  attach.argsz = sizeof attach;
  attach.pt_id = alloc.out_ioas_id;
  checked(sys->ioctl(device.get(), VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach),
          "VFIO_DEVICE_ATTACH_IOMMUFD_PT", target, "IOAS " + std::to_string(alloc.out_ioas_id));
  auto dma = std::make_shared<IommufdDmaTransport>(std::move(iommufd), alloc.out_ioas_id, target);
  return {std::move(device), std::move(dma)};
}

OpenedVfioDevice open_with_type1(const std::shared_ptr<vfio::VfioSystem>& sys,
                                 const std::string& group_path, const std::string& device_name,
                                 const std::string& target) {
  auto [container, group] =
      container_with_group(sys, group_path, VFIO_TYPE1v2_IOMMU, "VFIO_TYPE1v2_IOMMU", target);
  SystemFd device = get_device_fd(group, device_name, target);
  auto dma = std::make_shared<Type1DmaTransport>(std::move(container), std::move(group), target);
  return {std::move(device), std::move(dma)};
}

OpenedVfioDevice open_with_noiommu(const std::shared_ptr<vfio::VfioSystem>& sys,
                                   const std::string& group_path, const std::string& device_name,
                                   BusAddressFn bus_address, const std::string& target) {
  auto [container, group] =
      container_with_group(sys, group_path, VFIO_NOIOMMU_IOMMU, "VFIO_NOIOMMU_IOMMU", target);
  SystemFd device = get_device_fd(group, device_name, target);
  auto dma = std::make_shared<NoIommuDmaTransport>(std::move(container), std::move(group),
                                                   std::move(bus_address), target);
  return {std::move(device), std::move(dma)};
}

}  // namespace uvfio::driver::detail
