// DeviceCdevFile: /dev/vfio/devices/vfioX, a device opened through its character device and
// bound to an iommufd (drivers/vfio/device_cdev.c and the cdev half of vfio_main.c, Linux 6.12).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "uvfio/vfio/vfio_system.h"
#include "vfio/vfio_file.h"

namespace uvfio::vfio {

class Host;
class IommufdContext;
class VfioDevice;

/// Until VFIO_DEVICE_BIND_IOMMUFD succeeds every other ioctl, read, write and mmap is EINVAL.
/// BIND_IOMMUFD opens the device (first and only open: EINVAL if it is already open, EBUSY while
/// its group is open — and the group cannot be opened while a device of it is bound here, see
/// Group::cdev_open_count) and binds it to the iommufd (a DEVICE object, out_devid).
/// ATTACH_IOMMUFD_PT attaches (or replaces) the device's DMA to an IOAS or HWPT and returns the
/// HWPT id; DETACH_IOMMUFD_PT detaches. Everything else goes to the device model. Closing the
/// last reference closes the device, unbinds it and unblocks the group.
class DeviceCdevFile : public VfioFile {
 public:
  /// `creds` are the opener's; capability checks at ioctl time use the caller's (FdTable).
  DeviceCdevFile(Host& host, std::shared_ptr<VfioDevice> device, Credentials creds);
  ~DeviceCdevFile() override;
  DeviceCdevFile(const DeviceCdevFile&) = delete;
  DeviceCdevFile& operator=(const DeviceCdevFile&) = delete;

  long ioctl(FdTable& fds, unsigned long request, unsigned long arg) override;
  ssize_t read(void* buf, size_t count, uint64_t offset) override;
  ssize_t write(const void* buf, size_t count, uint64_t offset) override;
  void* mmap(size_t length, int prot, int flags, uint64_t offset) override;
  void release() override;

  const std::shared_ptr<VfioDevice>& device() const { return device_; }
  /// Bound (BIND_IOMMUFD done: the kernel's df->access_granted).
  bool bound() const { return access_granted_.load(std::memory_order_acquire); }
  /// The iommufd DEVICE id returned by BIND_IOMMUFD (0 when not bound).
  uint32_t devid() const;
  std::shared_ptr<IommufdContext> iommufd() const;

 private:
  long bind(FdTable& fds, unsigned long arg);
  long attach_pt(unsigned long arg);
  long detach_pt(unsigned long arg);
  void unblock_group();

  Host& host_;
  const std::shared_ptr<VfioDevice> device_;
  const Credentials creds_;
  std::atomic<bool> access_granted_{false};
  mutable std::mutex mu_;                 // guards the members below
  std::shared_ptr<IommufdContext> ictx_;  // df->iommufd
  uint32_t devid_ = 0;
  bool noiommu_ = false;
};

}  // namespace uvfio::vfio
