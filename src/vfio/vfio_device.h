// VfioDevice: a device registered with the VFIO core (the kernel's struct vfio_device): its
// group, driver binding, open count and DMA access.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "uvfio/vfio/device_ops.h"

namespace uvfio::vfio {

class Group;

/// What a device is bound to, which decides its group's viability (vfio_dev_viable).
enum class DriverState {
  kVfio,     // bound to vfio (usable through VFIO)
  kNone,     // driverless
  kAllowed,  // an allow-listed driver (pci-stub)
  kOther,    // another kernel driver: the group is not viable
  kBridge,   // a bridge (pcieport): does not affect viability
};

/// Shared by its group, open device files and the host; thread-safe (internal mutex).
class VfioDevice {
 public:
  VfioDevice(std::string name, DriverState driver, std::shared_ptr<VfioDeviceOps> ops,
             int cdev_index)
      : name_(std::move(name)), driver_(driver), ops_(std::move(ops)), cdev_index_(cdev_index) {}

  const std::string& name() const { return name_; }
  DriverState driver() const;
  /// Rebinds the device; `ops` is the device model when binding to vfio (kept if null).
  void set_driver(DriverState d, std::shared_ptr<VfioDeviceOps> ops = nullptr);
  /// The device model (null if it never had one). Stable while the device is open.
  VfioDeviceOps* ops() const;
  /// The device model with a reference, for callers that may race with a rebind.
  std::shared_ptr<VfioDeviceOps> ops_ref() const;
  int cdev_index() const { return cdev_index_; }
  std::shared_ptr<Group> group() const { return group_.lock(); }
  void set_group(const std::shared_ptr<Group>& g) { group_ = g; }

  /// Counts a user open. The first creates the DMA access (translated or not) and calls
  /// open_device; on failure nothing is counted. Returns 0 or -errno.
  int open(bool translated);
  /// Counts a user close; the last calls close_device and drops the access.
  void close();
  int open_count() const;
  /// The DMA access while open (null when not open, or under no-IOMMU).
  std::shared_ptr<iommu::Access> access() const;
  /// Whether a reset of the device's parent bus would reset it alone (kept up to date by the
  /// host as devices come and go; handed to the ops before each first open).
  void set_parent_bus_reset(bool available);

 private:
  const std::string name_;
  mutable std::mutex mu_;
  DriverState driver_;
  std::shared_ptr<VfioDeviceOps> ops_;
  const int cdev_index_;
  std::weak_ptr<Group> group_;
  int open_count_ = 0;
  bool parent_bus_reset_ = false;
  std::shared_ptr<iommu::Access> access_;
};

}  // namespace uvfio::vfio
