// The host model: groups, devices, drivers, no-IOMMU mode and device removal (the REQ path).
#include "vfio/host.h"

#include <algorithm>

#include "base/log_format.h"
#include "iommufd/iommufd_context.h"
#include "vfio/container.h"
#include "vfio/hot_reset.h"

namespace uvfio::vfio {

Host::Host(HostOptions options)
    : options_(std::move(options)),
      memlock_(iommu::MemlockAccount::create(options_.memlock_limit)) {
  // Probed in this order by CHECK_EXTENSION and SET_IOMMU.
  backends_.push_back(type1_backend_driver());
  backends_.push_back(noiommu_backend_driver());
}

Host::~Host() = default;

bool Host::tainted() const {
  std::lock_guard lk(mu_);
  return tainted_;
}

Result<int> Host::add_device(DeviceSpec spec, int group_id) {
  if (spec.driver == DriverState::kVfio && !spec.ops) return Errno{EINVAL};
  std::lock_guard lk(mu_);
  if (devices_.count(spec.name)) return Errno{EEXIST};
  GroupType type = spec.has_iommu ? GroupType::kIommu : GroupType::kNoIommu;
  std::shared_ptr<Group> group;
  if (!spec.has_iommu) {
    // A device without an IOMMU only gets a group in no-IOMMU mode, and a group of its own.
    if (!options_.enable_unsafe_noiommu_mode) return Errno{ENODEV};
    group_id = next_group_;
  } else if (group_id >= 0) {
    auto it = groups_.find(group_id);
    if (it != groups_.end()) {
      if (it->second->type() != type) return Errno{EINVAL};
      group = it->second;
    }
  } else {
    group_id = next_group_;
  }
  if (!group) {
    group = std::make_shared<Group>(*this, group_id, type);
    groups_.emplace(group_id, group);
    next_group_ = std::max(next_group_, group_id + 1);
    if (type == GroupType::kNoIommu) {
      log_warn("vfio", "{}: adding kernel taint for vfio-noiommu group", spec.name);
      tainted_ = true;
    }
  }
  auto dev = std::make_shared<VfioDevice>(spec.name, spec.driver, spec.ops, next_cdev_++);
  dev->set_group(group);
  {
    std::lock_guard glk(group->mu);
    group->devices_.push_back(dev);
    if (group->has_vfio_devices()) group->dead = false;
  }
  devices_.emplace(spec.name, dev);
  refresh_parent_bus_reset(options_, devices_);  // a new neighbour on the bus
  return group_id;
}

// Not const: it changes the host's devices (held by pointer, hence tidy's suggestion).
Result<void> Host::set_driver(  // NOLINT(readability-make-member-function-const)
    const std::string& name, DriverState driver, std::shared_ptr<VfioDeviceOps> ops) {
  auto dev = device(name);
  if (!dev) return Errno{ENODEV};
  if (driver == DriverState::kVfio && !ops && dev->ops() == nullptr) return Errno{EINVAL};
  // Taking a device away from a user goes through remove_device (the REQ path).
  if (dev->open_count() > 0) return Errno{EBUSY};
  auto group = dev->group();
  std::lock_guard glk(group->mu);
  dev->set_driver(driver, std::move(ops));
  if (group->has_vfio_devices()) group->dead = false;
  return {};
}

Result<void> Host::remove_device(const std::string& name, bool unplug,
                                 std::chrono::milliseconds interval,
                                 std::chrono::steady_clock::time_point deadline) {
  auto dev = device(name);
  if (!dev) return Errno{ENODEV};
  auto group = dev->group();
  {
    // While the user is asked to let go, the device counts as unbound (vfio_unbound_dev), so the
    // group stays viable for the other devices' users.
    std::lock_guard glk(group->mu);
    group->unbound_.push_back(name);
  }
  auto unmark = [&] {
    std::lock_guard glk(group->mu);
    auto& u = group->unbound_;
    u.erase(std::find(u.begin(), u.end(), name));
  };
  for (unsigned count = 0; dev->open_count() > 0; ++count) {
    if (std::chrono::steady_clock::now() >= deadline) {
      unmark();
      return Errno{ETIMEDOUT};
    }
    if (VfioDeviceOps* ops = dev->ops()) ops->request(count);
    std::unique_lock lk(mu_);
    auto until = std::min(deadline, std::chrono::steady_clock::now() + interval);
    released_.wait_until(lk, until, [&] { return dev->open_count() == 0; });
    if (count > 0 && dev->open_count() > 0) {
      log_warn("vfio", "{}: device is in use, waiting for it to be released (request {})", name,
               count + 1);
    }
  }
  std::shared_ptr<IommufdContext> released_iommufd;
  {
    std::lock_guard lk(mu_);
    std::lock_guard glk(group->mu);
    auto& u = group->unbound_;
    u.erase(std::find(u.begin(), u.end(), name));
    if (unplug) {
      auto& v = group->devices_;
      v.erase(std::find(v.begin(), v.end(), dev));
      devices_.erase(name);
      refresh_parent_bus_reset(options_, devices_);
    } else {
      dev->set_driver(DriverState::kNone);
    }
    // The group's last vfio device is gone: no user may keep the group in a container.
    if (!group->has_vfio_devices()) {
      if (group->container) group->container->detach_group(*group);
      released_iommufd = group->take_iommufd();
      group->dead = true;
      if (group->devices_.empty()) groups_.erase(group->id());
    }
  }
  if (released_iommufd) released_iommufd->put_ref();
  return {};
}

std::shared_ptr<Group> Host::group(int id, GroupType type) const {
  std::lock_guard lk(mu_);
  auto it = groups_.find(id);
  if (it == groups_.end() || it->second->type() != type) return nullptr;
  return it->second;
}

std::vector<std::shared_ptr<Group>> Host::groups() const {
  std::lock_guard lk(mu_);
  std::vector<std::shared_ptr<Group>> out;
  for (const auto& [id, g] : groups_) out.push_back(g);
  return out;
}

std::shared_ptr<VfioDevice> Host::device(const std::string& name) const {
  std::lock_guard lk(mu_);
  auto it = devices_.find(name);
  return it == devices_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<VfioDevice>> Host::devices() const {
  std::lock_guard lk(mu_);
  std::vector<std::shared_ptr<VfioDevice>> out;
  out.reserve(devices_.size());
  for (const auto& [name, d] : devices_) out.push_back(d);
  return out;
}

std::shared_ptr<VfioDevice> Host::device_by_cdev(int index) const {
  std::lock_guard lk(mu_);
  for (const auto& [name, d] : devices_) {
    if (d->cdev_index() == index) return d;
  }
  return nullptr;
}

void Host::notify_device_closed() {
  std::lock_guard lk(mu_);
  released_.notify_all();
}

}  // namespace uvfio::vfio
