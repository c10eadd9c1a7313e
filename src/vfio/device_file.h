// GroupDeviceFile: a device fd obtained through VFIO_GROUP_GET_DEVICE_FD. Device ioctls, reads,
// writes and mmaps go to the device model; closing the last one releases the device's use of the
// container (vfio_device_fops_release / vfio_df_group_close).
#pragma once

#include <memory>

#include "vfio/group.h"
#include "vfio/vfio_device.h"
#include "vfio/vfio_file.h"

namespace uvfio::vfio {

class IommufdContext;

/// Shared by its fds; holds a reference on its group's file for as long as it lives.
class GroupDeviceFile : public VfioFile {
 public:
  /// The device is already open (VfioDevice::open succeeded) on behalf of this file.
  GroupDeviceFile(std::shared_ptr<Group> group, std::shared_ptr<VfioDevice> device,
                  std::shared_ptr<VfioFile> group_file);

  long ioctl(FdTable& fds, unsigned long request, unsigned long arg) override;
  ssize_t read(void* buf, size_t count, uint64_t offset) override;
  ssize_t write(const void* buf, size_t count, uint64_t offset) override;
  void* mmap(size_t length, int prot, int flags, uint64_t offset) override;
  void release() override;

 private:
  std::shared_ptr<Group> group_;
  std::shared_ptr<VfioDevice> device_;
  std::shared_ptr<VfioFile> group_file_;
  // The iommufd the device was bound through (the group may leave it while this file is open).
  std::shared_ptr<IommufdContext> iommufd_;
};

}  // namespace uvfio::vfio
