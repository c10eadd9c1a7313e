// VfioDeviceOps: what a device model implements so the VFIO core can serve it (the kernel's
// vfio_device_ops). The vfio-pci core implements it for emulated PCI devices.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "uvfio/iommu/access.h"

namespace uvfio::vfio {

/// DMA as an opened device sees it. `access` is the device's window on its IOAS (attached by the
/// core: to the type1 container's IOAS, or by ATTACH_IOMMUFD_PT; it may be detached for a while
/// on the cdev path). Under no-IOMMU there is no translation: `translated` is false and `access`
/// is null — bus addresses are this process's addresses, which is exactly why no-IOMMU is unsafe.
struct DmaContext {
  std::shared_ptr<iommu::Access> access;
  bool translated = true;
};

/// A device model behind a VFIO device file. Calls come from user threads through the core and
/// may be concurrent; implementations do their own locking. Returns are the kernel's: >= 0 or
/// -errno.
class VfioDeviceOps {
 public:
  virtual ~VfioDeviceOps() = default;
  /// First open of the device by a user. A negative errno refuses the open.
  virtual int open_device(const DmaContext& /*dma*/) { return 0; }
  /// Last close: the device must stop DMA and interrupts and drop its pins.
  virtual void close_device() {}
  /// Device ioctls (VFIO_DEVICE_GET_INFO, GET_REGION_INFO, SET_IRQS, RESET, ...); ENOTTY if not
  /// handled.
  virtual long ioctl(unsigned long /*request*/, unsigned long /*arg*/) { return -ENOTTY; }
  virtual ssize_t read(void* /*buf*/, size_t /*count*/, uint64_t /*offset*/) { return -EINVAL; }
  virtual ssize_t write(const void* /*buf*/, size_t /*count*/, uint64_t /*offset*/) {
    return -EINVAL;
  }
  virtual void* mmap(size_t /*length*/, int /*prot*/, int /*flags*/, uint64_t /*offset*/) {
    return reinterpret_cast<void*>(-EINVAL);
  }
  /// The host wants the device back (hot-unplug, unbind): ask the user to release it, more
  /// insistently as `count` grows (the kernel's REQ interrupt).
  virtual void request(unsigned /*count*/) {}
  /// An unmap covers [iova, iova+length): drop every pin inside it before returning.
  virtual void dma_unmap(uint64_t /*iova*/, uint64_t /*length*/) {}
};

}  // namespace uvfio::vfio
