// The container (/dev/vfio/vfio): API version, extension polling, SET_IOMMU with unwinding,
// group attach/detach, and the backend's ioctls passed through — 6.12's container.c.
#include "vfio/container.h"

#include <linux/vfio.h>

#include <algorithm>
#include <mutex>

#include "uvfio/base/fault_injection.h"

#include "vfio/fd_table.h"
#include "vfio/group.h"
#include "vfio/host.h"

namespace uvfio::vfio {

long Container::ioctl(FdTable& fds, unsigned long request, unsigned long arg) {
  switch (request) {
    case VFIO_GET_API_VERSION:
      return VFIO_API_VERSION;
    case VFIO_CHECK_EXTENSION:
      return check_extension(arg);
    case VFIO_SET_IOMMU:
      return set_iommu(arg, fds.creds());
    default: {
      std::shared_lock lk(mu_);
      if (!backend_) return -EINVAL;  // nothing to pass it to yet
      return backend_->ioctl(request, arg);
    }
  }
}

long Container::check_extension(unsigned long arg) {
  std::shared_lock lk(mu_);
  if (backend_) return backend_->ioctl(VFIO_CHECK_EXTENSION, arg);
  // No backend yet: poll every driver this container could still use.
  long ret = 0;
  for (const IommuBackendDriver& d : host_.backends()) {
    if (!groups_.empty() && d.noiommu != noiommu_) continue;
    ret = d.check_extension(host_, arg);
    if (ret > 0) break;
  }
  return ret;
}

long Container::set_iommu(unsigned long arg, const Credentials& creds) {
  std::unique_lock lk(mu_);
  // Only a container holding a group may enable an IOMMU, and only once.
  if (groups_.empty() || backend_) return -EINVAL;
  long ret = -ENODEV;
  for (const IommuBackendDriver& d : host_.backends()) {
    if (d.noiommu != noiommu_) continue;  // no-IOMMU containers and backend only pair up
    if (d.check_extension(host_, arg) <= 0) continue;
    auto backend = fault::should_fail("container: open backend")
                       ? Result<std::unique_ptr<IommuBackend>>(Errno{ENOMEM})
                       : d.open(host_, arg, creds);
    if (!backend) {
      ret = -backend.error();
      continue;
    }
    // Attach every group; unwind on failure and try the next driver.
    size_t attached = 0;
    ret = 0;
    for (; attached < groups_.size(); ++attached) {
      ret = (*backend)->attach_group(*groups_[attached]);
      if (ret < 0) break;
    }
    if (ret < 0) {
      while (attached-- > 0) (*backend)->detach_group(*groups_[attached]);
      continue;
    }
    driver_ = &d;
    backend_ = std::move(*backend);
    break;
  }
  return ret;
}

int Container::attach_group(Group& group, const Credentials& creds) {
  if (group.noiommu() && !creds.cap_sys_rawio) return -EPERM;
  std::unique_lock lk(mu_);
  // Real groups and no-IOMMU groups cannot mix.
  if (!groups_.empty() && noiommu_ != group.noiommu()) return -EPERM;
  // Claiming DMA ownership fails while a device of the group is driven by another driver.
  if (!group.noiommu() && !group.viable()) return -EPERM;
  if (fault::should_fail("container: attach group")) return -ENOMEM;
  if (backend_) {
    if (int r = backend_->attach_group(group); r < 0) return r;
  }
  group.container_users = 1;
  noiommu_ = group.noiommu();
  groups_.push_back(&group);
  return 0;
}

void Container::detach_group(Group& group) {
  std::shared_ptr<Container> self;  // the group's reference may be the last one
  {
    std::unique_lock lk(mu_);
    if (backend_) backend_->detach_group(group);
    groups_.erase(std::remove(groups_.begin(), groups_.end(), &group), groups_.end());
    // Detaching the last group deprivileges the container: the backend and its mappings go.
    if (backend_ && groups_.empty()) {
      backend_.reset();
      driver_ = nullptr;
    }
  }
  group.container_users = 0;
  self = std::move(group.container);
}

std::shared_ptr<iommu::Ioas> Container::ioas() {
  std::shared_lock lk(mu_);
  return backend_ ? backend_->ioas() : nullptr;
}

bool Container::has_backend() {
  std::shared_lock lk(mu_);
  return backend_ != nullptr;
}

}  // namespace uvfio::vfio
