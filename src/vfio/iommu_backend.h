// IOMMU backends of a container (the kernel's vfio_iommu_driver_ops) and their registry.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "uvfio/base/result.h"
#include "uvfio/iommu/ioas.h"
#include "uvfio/vfio/vfio_system.h"

namespace uvfio::vfio {

class Group;
class Host;

/// One container's backend instance (iommu_data). Called with the container's lock held.
class IommuBackend {
 public:
  virtual ~IommuBackend() = default;
  /// Adds a group's devices to the backend's domain: 0 or -errno.
  virtual int attach_group(Group& group) = 0;
  virtual void detach_group(Group& group) = 0;
  /// Container ioctls the core does not handle itself, CHECK_EXTENSION included.
  virtual long ioctl(unsigned long request, unsigned long arg) = 0;
  /// The IOAS emulated devices of this container do DMA through; null for no-IOMMU.
  virtual std::shared_ptr<iommu::Ioas> ioas() { return nullptr; }
};

/// A registered backend driver: probed in registration order, as the kernel's list.
struct IommuBackendDriver {
  std::string name;
  bool noiommu = false;  // serves only no-IOMMU containers, and they only it
  /// CHECK_EXTENSION without an instance (the kernel calls ioctl(NULL, ...)): > 0 if supported.
  std::function<long(const Host&, unsigned long extension)> check_extension;
  /// SET_IOMMU(type): a new instance, or -errno.
  std::function<Result<std::unique_ptr<IommuBackend>>(Host&, unsigned long type,
                                                      const Credentials&)>
      open;
};

/// The type1 backend (VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU) on an IOAS.
IommuBackendDriver type1_backend_driver();
/// The no-IOMMU backend (VFIO_NOIOMMU_IOMMU).
IommuBackendDriver noiommu_backend_driver();

}  // namespace uvfio::vfio
