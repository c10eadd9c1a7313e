// Group files (/dev/vfio/N): open, GET_STATUS, SET/UNSET_CONTAINER, GET_DEVICE_FD — 6.12's
// group.c semantics.
#include "vfio/group.h"

#include <linux/vfio.h>

#include <algorithm>
#include <cstring>

#include "base/log_format.h"
#include "iommufd/iommufd_context.h"
#include "vfio/container.h"
#include "vfio/device_file.h"
#include "vfio/fd_table.h"
#include "vfio/host.h"

namespace uvfio::vfio {

std::string Group::path() const {
  return noiommu() ? "/dev/vfio/noiommu-" + std::to_string(id_)
                   : "/dev/vfio/" + std::to_string(id_);
}

bool Group::viable() const {
  // vfio_dev_viable: every device of the group must be safe to hand to a user.
  for (const auto& d : devices_) {
    if (std::find(unbound_.begin(), unbound_.end(), d->name()) != unbound_.end()) continue;
    switch (d->driver()) {
      case DriverState::kVfio:
      case DriverState::kNone:
      case DriverState::kAllowed:
      case DriverState::kBridge:
        break;
      case DriverState::kOther:
        return false;
    }
  }
  return true;
}

std::vector<std::shared_ptr<VfioDevice>> Group::devices() const {
  return devices_;
}

std::shared_ptr<VfioDevice> Group::vfio_device(const std::string& name) const {
  for (const auto& d : devices_) {
    if (d->name() == name && d->driver() == DriverState::kVfio) return d;
  }
  return nullptr;
}

bool Group::has_vfio_devices() const {
  return std::any_of(devices_.begin(), devices_.end(),
                     [](const auto& d) { return d->driver() == DriverState::kVfio; });
}

std::vector<iommu::IovaRange> Group::reserved_ranges() const {
  if (noiommu()) return {};
  return host_.options().group_reserved;
}

uint64_t Group::aperture_last() const {
  return host_.options().aperture_last;
}

namespace {

/// The open group file. Device files hold a reference to it, so it is released (and the group
/// leaves its container) only when the group fd and every device fd are closed.
class GroupFile : public VfioFile {
 public:
  explicit GroupFile(std::shared_ptr<Group> group) : group_(std::move(group)) {}

  long ioctl(FdTable& fds, unsigned long request, unsigned long arg) override {
    switch (request) {
      case VFIO_GROUP_GET_STATUS:
        return get_status(arg);
      case VFIO_GROUP_SET_CONTAINER:
        return set_container(fds, arg);
      case VFIO_GROUP_UNSET_CONTAINER:
        return unset_container();
      case VFIO_GROUP_GET_DEVICE_FD:
        return get_device_fd(fds, arg);
      default:
        return -ENOTTY;
    }
  }

  void release() override {
    Group& g = *group_;
    std::shared_ptr<IommufdContext> ctx;
    std::shared_ptr<VfioFile> self;  // the group's reference to this file may be the last
    {
      std::lock_guard lk(g.mu);
      if (g.container) g.container->detach_group(g);
      ctx = g.take_iommufd();
      self = std::move(g.opened_file);
    }
    if (ctx) ctx->put_ref();
  }

 private:
  long get_status(unsigned long arg) {
    auto* status = reinterpret_cast<vfio_group_status*>(arg);
    if (status == nullptr) return -EFAULT;
    if (status->argsz < offsetof(vfio_group_status, flags) + sizeof(status->flags)) return -EINVAL;
    Group& g = *group_;
    std::lock_guard lk(g.mu);
    if (g.dead) return -ENODEV;
    uint32_t flags = 0;
    // 6.12: attaching claims DMA ownership, so a group with a container is viable by definition.
    if (g.has_iommu()) {
      flags = VFIO_GROUP_FLAGS_CONTAINER_SET | VFIO_GROUP_FLAGS_VIABLE;
    } else if (g.viable()) {
      flags = VFIO_GROUP_FLAGS_VIABLE;
    }
    status->flags = flags;
    return 0;
  }

  long set_container(FdTable& fds, unsigned long arg) {
    const auto* fdp = reinterpret_cast<const int*>(arg);
    if (fdp == nullptr) return -EFAULT;
    std::shared_ptr<VfioFile> file = fds.get(*fdp);
    if (!file) return -EBADF;
    Group& g = *group_;
    std::lock_guard lk(g.mu);
    if (g.has_iommu()) return -EINVAL;
    if (g.dead) return -ENODEV;
    if (auto container = std::dynamic_pointer_cast<Container>(file)) {
      long r = container->attach_group(g, fds.creds());
      if (r == 0) g.container = container;
      return r;
    }
    if (auto ctx = std::dynamic_pointer_cast<IommufdContext>(file)) {
      long r = g.noiommu() ? ctx->compat_set_no_iommu() : ctx->compat_ioas_create();
      if (r == 0) {
        ctx->get_ref();  // the group holds the iommufd file, as the kernel's iommufd_ctx_get
        g.iommufd = ctx;
      }
      return r;
    }
    return -EBADFD;  // not a container nor an iommufd
  }

  long unset_container() {
    Group& g = *group_;
    std::shared_ptr<IommufdContext> ctx;
    {
      std::lock_guard lk(g.mu);
      if (!g.has_iommu()) return -EINVAL;
      if (g.container) {
        if (g.container_users != 1) return -EBUSY;
        g.container->detach_group(g);
      }
      ctx = g.take_iommufd();
    }
    if (ctx) ctx->put_ref();
    return 0;
  }

  long get_device_fd(FdTable& fds, unsigned long arg) {
    const auto* name = reinterpret_cast<const char*>(arg);
    if (name == nullptr) return -EFAULT;
    Group& g = *group_;
    const Credentials& creds = fds.creds();
    std::shared_ptr<VfioDevice> dev;
    {
      std::lock_guard lk(g.mu);
      dev = g.vfio_device(std::string(name, strnlen(name, 4096)));
      if (!dev) return -ENODEV;
      if (long r = open_device(g, *dev, creds); r < 0) return r;
    }
    if (g.noiommu()) {
      log_warn("vfio", "{}: vfio-noiommu device opened by user ({}:{})", dev->name(), creds.comm,
               creds.pid);
    }
    auto file = std::make_shared<GroupDeviceFile>(group_, dev, shared_from_this());
    int fd = fds.install(file);
    if (fd < 0) file->release();  // no fd ever referred to it: undo the open by hand
    return fd;
  }

  // vfio_df_group_open: the device's first open uses the container (or binds to the iommufd)
  // and attaches its DMA to the IOAS. Group lock held.
  static long open_device(Group& g, VfioDevice& dev, const Credentials& creds) {
    if (!g.has_iommu()) return -EINVAL;
    if (g.container && !g.container->has_backend()) return -EINVAL;  // SET_IOMMU not done
    if (g.noiommu() && !creds.cap_sys_rawio) return -EPERM;
    const bool first = dev.open_count() == 0;
    if (int r = dev.open(!g.noiommu()); r < 0) return r;
    if (!first) return 0;
    if (g.container) {
      if (auto ioas = g.container->ioas(); ioas && dev.access()) {
        if (auto a = dev.access()->attach(ioas); !a) {
          dev.close();
          return -a.error();
        }
      }
      ++g.container_users;
      return 0;
    }
    if (long r = g.iommufd->group_device_open(g.vfio_device(dev.name()), creds); r < 0) {
      dev.close();
      return r;
    }
    return 0;
  }

  std::shared_ptr<Group> group_;
};

}  // namespace

Result<std::shared_ptr<VfioFile>> open_group_file(const std::shared_ptr<Group>& group,
                                                  const Credentials& creds) {
  std::lock_guard lk(group->mu);
  if (group->dead || !group->has_vfio_devices()) return Errno{ENODEV};
  if (group->noiommu() && !creds.cap_sys_rawio) return Errno{EPERM};
  if (group->opened_file) return Errno{EBUSY};
  if (group->cdev_open_count > 0) return Errno{EBUSY};  // a device is in use through its cdev
  auto file = std::make_shared<GroupFile>(group);
  group->opened_file = file;
  return std::shared_ptr<VfioFile>(file);
}

}  // namespace uvfio::vfio
