// Device cdev files (/dev/vfio/devices/vfioX): BIND_IOMMUFD, ATTACH/DETACH_IOMMUFD_PT and
// access gating — Linux 6.12's device_cdev.c and vfio_device_fops_*.
//
// 6.12 creates no cdev for a no-IOMMU device (vfio_device_add: "cdev does not support noiommu
// device") and BIND_IOMMUFD refuses iommufd < 0 with EINVAL; should such a file be opened
// anyway, binding it follows the kernel's no-IOMMU branches (no DEVICE object, devid 0, ATTACH
// EINVAL, DETACH a no-op) and additionally needs CAP_SYS_RAWIO, as every no-IOMMU open does.
#include "vfio/device_cdev_file.h"

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "iommufd/iommufd_context.h"
#include "uvfio/uapi/vfio_cdev.h"
#include "vfio/fd_table.h"
#include "vfio/group.h"
#include "vfio/host.h"
#include "vfio/hot_reset.h"
#include "vfio/user_copy.h"
#include "vfio/vfio_device.h"

namespace uvfio::vfio {

using namespace uvfio::uapi;  // NOLINT(google-build-using-namespace): the kernel's names

namespace {

// The kernel's dev_set->lock: serializes opening, binding, attaching and closing of devices
// through their cdev (one lock for all devices; these are rare control operations).
std::mutex g_dev_set_mu;

}  // namespace

DeviceCdevFile::DeviceCdevFile(Host& host, std::shared_ptr<VfioDevice> device, Credentials creds)
    : host_(host), device_(std::move(device)), creds_(std::move(creds)) {}

DeviceCdevFile::~DeviceCdevFile() = default;

uint32_t DeviceCdevFile::devid() const {
  std::lock_guard lk(mu_);
  return devid_;
}

std::shared_ptr<IommufdContext> DeviceCdevFile::iommufd() const {
  std::lock_guard lk(mu_);
  return ictx_;
}

long DeviceCdevFile::ioctl(FdTable& fds, unsigned long request, unsigned long arg) {
  if (request == VFIO_DEVICE_BIND_IOMMUFD) return bind(fds, arg);
  if (!access_granted_.load(std::memory_order_acquire)) return -EINVAL;
  switch (request) {  // cdev-only ioctls
    case VFIO_DEVICE_ATTACH_IOMMUFD_PT:
      return attach_pt(arg);
    case VFIO_DEVICE_DETACH_IOMMUFD_PT:
      return detach_pt(arg);
    default:
      break;
  }
  VfioDeviceOps* ops = device_->ops();
  if (ops == nullptr) return -EINVAL;
  // Hot reset looks at the whole bus and the caller's iommufd: the core answers it for PCI
  // functions (a zero-length group array on this path).
  if (is_hot_reset_ioctl(request) && ops->bus_reset_supported()) {
    auto ictx = iommufd();
    if (!ictx) return -EINVAL;  // no-IOMMU cdev: not bound to an iommufd
    return request == VFIO_DEVICE_GET_PCI_HOT_RESET_INFO
               ? get_pci_hot_reset_info(host_, *device_, ictx, arg)
               : pci_hot_reset(host_, *device_, fds, ictx, arg);
  }
  return ops->ioctl(request, arg);
}

ssize_t DeviceCdevFile::read(void* buf, size_t count, uint64_t offset) {
  if (!access_granted_.load(std::memory_order_acquire)) return -EINVAL;
  VfioDeviceOps* ops = device_->ops();
  if (ops == nullptr) return -EINVAL;
  return ops->read(buf, count, offset);
}

ssize_t DeviceCdevFile::write(const void* buf, size_t count, uint64_t offset) {
  if (!access_granted_.load(std::memory_order_acquire)) return -EINVAL;
  VfioDeviceOps* ops = device_->ops();
  if (ops == nullptr) return -EINVAL;
  return ops->write(buf, count, offset);
}

void* DeviceCdevFile::mmap(size_t length, int prot, int flags, uint64_t offset) {
  if (!access_granted_.load(std::memory_order_acquire)) return reinterpret_cast<void*>(-EINVAL);
  VfioDeviceOps* ops = device_->ops();
  if (ops == nullptr) return reinterpret_cast<void*>(-EINVAL);
  return ops->mmap(length, prot, flags, offset);
}

void DeviceCdevFile::unblock_group() {
  // vfio_device_unblock_group.
  if (auto g = device_->group()) {
    std::lock_guard lk(g->mu);
    --g->cdev_open_count;
  }
}

long DeviceCdevFile::bind(FdTable& fds, unsigned long arg) {
  // vfio_df_ioctl_bind_iommufd.
  vfio_device_bind_iommufd bind{};
  constexpr size_t kMinsz = offsetof(vfio_device_bind_iommufd, out_devid) + sizeof(uint32_t);
  if (bad_uptr(arg)) return -EFAULT;
  copy_in(bind, arg, kMinsz);
  if (bind.argsz < kMinsz || bind.flags != 0 || bind.iommufd < 0) return -EINVAL;

  // vfio_device_block_group: not while the group is open; the group can't open meanwhile.
  auto group = device_->group();
  if (!group) return -ENODEV;
  {
    std::lock_guard lk(group->mu);
    if (group->opened_file) return -EBUSY;
    ++group->cdev_open_count;
  }

  long ret = 0;
  {
    std::lock_guard dev_set(g_dev_set_mu);
    std::lock_guard lk(mu_);
    do {
      if (access_granted_.load(std::memory_order_relaxed)) {  // one device cannot be bound twice
        ret = -EINVAL;
        break;
      }
      // iommufd_ctx_from_fd.
      std::shared_ptr<VfioFile> file = fds.get(bind.iommufd);
      if (!file) {
        ret = -EBADF;
        break;
      }
      auto ictx = std::dynamic_pointer_cast<IommufdContext>(file);
      if (!ictx) {
        ret = -EBADFD;
        break;
      }
      // vfio_df_open: the cdev path is the device's only user.
      if (device_->open_count() != 0) {
        ret = -EINVAL;
        break;
      }
      const bool noiommu = group->noiommu();
      if (noiommu && !fds.creds().cap_sys_rawio) {
        ret = -EPERM;
        break;
      }
      // vfio_df_device_first_open: bind (vfio_iommufd_physical_bind), then open_device.
      uint32_t devid = 0;
      if (!noiommu) {
        auto id = ictx->device_bind(device_);
        if (!id) {
          ret = -id.error();
          break;
        }
        devid = *id;
      }
      if (int r = device_->open(!noiommu); r < 0) {
        if (!noiommu) ictx->device_unbind(devid);
        ret = r;
        break;
      }
      copy_out(arg + offsetof(vfio_device_bind_iommufd, out_devid), devid);
      ictx_ = std::move(ictx);
      devid_ = devid;
      noiommu_ = noiommu;
      access_granted_.store(true, std::memory_order_release);
    } while (false);
  }
  if (ret != 0) unblock_group();
  return ret;
}

long DeviceCdevFile::attach_pt(unsigned long arg) {
  // vfio_df_ioctl_attach_pt -> vfio_iommufd_physical_attach_ioas.
  vfio_device_attach_iommufd_pt attach{};
  constexpr size_t kMinsz = offsetof(vfio_device_attach_iommufd_pt, pt_id) + sizeof(uint32_t);
  if (bad_uptr(arg)) return -EFAULT;
  copy_in(attach, arg, kMinsz);
  if (attach.argsz < kMinsz || attach.flags != 0) return -EINVAL;
  std::lock_guard dev_set(g_dev_set_mu);
  std::lock_guard lk(mu_);
  if (noiommu_) return -EINVAL;                         // WARN_ON(!vdev->iommufd_device)
  auto r = ictx_->device_attach(devid_, attach.pt_id);  // replace when already attached
  if (!r) return -r.error();
  const uint32_t pt_id = *r;
  copy_out(arg + offsetof(vfio_device_attach_iommufd_pt, pt_id), pt_id);
  return 0;
}

long DeviceCdevFile::detach_pt(unsigned long arg) {
  // vfio_df_ioctl_detach_pt -> vfio_iommufd_physical_detach_ioas.
  vfio_device_detach_iommufd_pt detach{};
  constexpr size_t kMinsz = offsetof(vfio_device_detach_iommufd_pt, flags) + sizeof(uint32_t);
  if (bad_uptr(arg)) return -EFAULT;
  copy_in(detach, arg, kMinsz);
  if (detach.argsz < kMinsz || detach.flags != 0) return -EINVAL;
  std::lock_guard dev_set(g_dev_set_mu);
  std::lock_guard lk(mu_);
  if (!noiommu_) ictx_->device_detach(devid_);  // not attached: nothing to do
  return 0;
}

void DeviceCdevFile::release() {
  // vfio_device_fops_release -> vfio_df_unbind_iommufd: the last close (close_device), then the
  // unbind (detach + DEVICE object gone + the iommufd reference dropped), then the group.
  if (!access_granted_.load(std::memory_order_acquire)) return;
  std::shared_ptr<IommufdContext> ictx;
  uint32_t devid = 0;
  bool noiommu = false;
  {
    std::lock_guard dev_set(g_dev_set_mu);
    std::lock_guard lk(mu_);
    device_->close();
    ictx = std::move(ictx_);
    devid = devid_;
    noiommu = noiommu_;
    devid_ = 0;
    access_granted_.store(false, std::memory_order_release);
    if (!noiommu) ictx->device_unbind(devid);
  }
  unblock_group();
  try_bus_reset(host_, *device_);  // a device left dirty (needs_reset)
  host_.notify_device_closed();
}

}  // namespace uvfio::vfio
