// The uAPI sequences that open a device through VFIO files on a VfioSystem, one per IOMMU path.
// Written against VfioSystem only, so the kernel backend (KernelSystem) reuses them unchanged.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "driver/noiommu_dma.h"
#include "driver/system_fd.h"
#include "driver/transport.h"

namespace uvfio::driver::detail {

enum class IommuMode { kIommufd, kType1, kNoIommu };

/// The `iommu=` option of `options` (removed from the map): iommufd when absent. Throws
/// Error("open", target, EINVAL) naming the accepted values for anything else.
IommuMode take_iommu_mode(std::map<std::string, std::string>& options, const std::string& target);

/// A device fd and the DMA space it was opened into.
struct OpenedVfioDevice {
  SystemFd device;
  std::shared_ptr<DmaTransport> dma;
};

/// iommufd + cdev: open(/dev/iommu), IOMMU_IOAS_ALLOC, open(cdev), VFIO_DEVICE_BIND_IOMMUFD,
/// VFIO_DEVICE_ATTACH_IOMMUFD_PT. Every failure throws Error naming the step; whatever was
/// opened is closed again.
OpenedVfioDevice open_with_iommufd(const std::shared_ptr<vfio::VfioSystem>& sys,
                                   const std::string& cdev_path, const std::string& target);

/// Legacy type1: open(/dev/vfio/vfio), VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION(TYPE1v2),
/// open(group), VFIO_GROUP_GET_STATUS (viable?), VFIO_GROUP_SET_CONTAINER,
/// VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU), VFIO_GROUP_GET_DEVICE_FD(name).
OpenedVfioDevice open_with_type1(const std::shared_ptr<vfio::VfioSystem>& sys,
                                 const std::string& group_path, const std::string& device_name,
                                 const std::string& target);

/// No-IOMMU: as type1 with a noiommu-N group and VFIO_NOIOMMU_IOMMU; DMA addresses come from
/// `bus_address`.
OpenedVfioDevice open_with_noiommu(const std::shared_ptr<vfio::VfioSystem>& sys,
                                   const std::string& group_path, const std::string& device_name,
                                   BusAddressFn bus_address, const std::string& target);

}  // namespace uvfio::driver::detail
