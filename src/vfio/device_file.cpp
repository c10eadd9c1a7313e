#include "vfio/device_file.h"

#include <linux/vfio.h>

#include "iommufd/iommufd_context.h"
#include "vfio/container.h"
#include "vfio/host.h"
#include "vfio/hot_reset.h"

namespace uvfio::vfio {

GroupDeviceFile::GroupDeviceFile(std::shared_ptr<Group> group, std::shared_ptr<VfioDevice> device,
                                 std::shared_ptr<VfioFile> group_file)
    : group_(std::move(group)), device_(std::move(device)), group_file_(std::move(group_file)) {
  group_file_->get_ref();
  std::lock_guard lk(group_->mu);
  iommufd_ = group_->iommufd;
}

long GroupDeviceFile::ioctl(FdTable& fds, unsigned long request, unsigned long arg) {
  VfioDeviceOps* ops = device_->ops();
  // Hot reset takes group fds and looks at the whole bus: the core answers it for PCI functions.
  if (is_hot_reset_ioctl(request) && ops->bus_reset_supported()) {
    Host& host = group_->host();
    return request == VFIO_DEVICE_GET_PCI_HOT_RESET_INFO
               ? get_pci_hot_reset_info(host, *device_, nullptr, arg)
               : pci_hot_reset(host, *device_, fds, nullptr, arg);
  }
  return ops->ioctl(request, arg);
}

ssize_t GroupDeviceFile::read(void* buf, size_t count, uint64_t offset) {
  return device_->ops()->read(buf, count, offset);
}

ssize_t GroupDeviceFile::write(const void* buf, size_t count, uint64_t offset) {
  return device_->ops()->write(buf, count, offset);
}

void* GroupDeviceFile::mmap(size_t length, int prot, int flags, uint64_t offset) {
  return device_->ops()->mmap(length, prot, flags, offset);
}

void GroupDeviceFile::release() {
  Group& g = *group_;
  bool last = false;
  {
    std::lock_guard lk(g.mu);
    last = device_->open_count() == 1;
    if (last && iommufd_) iommufd_->group_device_close(*device_);
    device_->close();
    if (last && g.container) --g.container_users;
  }
  if (last) try_bus_reset(g.host(), *device_);  // a device left dirty (needs_reset)
  g.host().notify_device_closed();
  group_file_->put_ref();  // may release the group file and leave the container
}

}  // namespace uvfio::vfio
