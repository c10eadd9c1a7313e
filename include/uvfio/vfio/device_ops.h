// VfioDeviceOps: what a device model implements so the VFIO core can serve it (the kernel's
// vfio_device_ops). The vfio-pci core implements it for emulated PCI devices.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

/// How another process can map a region itself (vfio-user hands this fd over with
/// GET_REGION_INFO): the file and the offset in it where the region's first byte is. The fd stays
/// owned by the device, valid as long as the device lives.
struct RegionFile {
  int fd = -1;  // -1: the region cannot be mapped through a file
  uint64_t offset = 0;
};

/// A doorbell: a register write whose whole effect is the write itself, so a transport may
/// deliver it through an ioeventfd (vfio-user GET_REGION_IO_FDS, KVM) instead of a message.
/// When the eventfd fires, the transport writes `size` bytes of `datamatch` (0 without one) at
/// `offset` of region `region`. Without a datamatch any written value must do the same.
struct Doorbell {
  uint32_t region = 0;
  uint64_t offset = 0;
  uint32_t size = 4;  // 1, 2, 4 or 8
  std::optional<uint64_t> datamatch;
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
  /// The file behind region `index` for a user in another process (see RegionFile); the default:
  /// none. Only regions whose info carries VFIO_REGION_INFO_FLAG_MMAP have one.
  virtual RegionFile region_file(uint32_t /*index*/) const { return {}; }
  /// The device's doorbell registers (see Doorbell); the default: none.
  virtual std::vector<Doorbell> doorbells() const { return {}; }

  // --- PCI bus resets. The host decides who shares a bus (from the "DDDD:BB:DD.F" names); a
  // device that supports bus resets gets VFIO_DEVICE_GET_PCI_HOT_RESET_INFO and
  // VFIO_DEVICE_PCI_HOT_RESET answered by the VFIO core (they need the caller's fds), every
  // other device sees them as ordinary ioctls.
  /// The device is a vfio-pci function that a secondary bus reset reaches (the kernel's dev_set
  /// membership). False for devices that are not PCI functions.
  virtual bool bus_reset_supported() const { return false; }
  /// The bus the device sits on was reset (pci_reset_bus): the function resets, and its config
  /// state is saved before and restored after, as the PCI core does. 0 or -errno.
  virtual int bus_reset() { return -ENOTTY; }
  /// Set by the core before every first open: whether a reset of the parent bus would reset this
  /// function alone (pci_parent_bus_reset's condition: the only function on a bus below a
  /// bridge), so a function reset may use it.
  virtual void set_parent_bus_reset(bool /*available*/) {}
  /// After its last close the device could not reset itself and wants a bus reset once nothing
  /// on its bus is in use (the kernel's needs_reset, acted on by vfio_pci_dev_set_try_reset).
  virtual bool needs_reset() const { return false; }
};

}  // namespace uvfio::vfio
