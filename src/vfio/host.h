// Host: the emulated machine's VFIO state — IOMMU groups and devices with their drivers, the
// registered IOMMU backends, and the no-IOMMU mode (vfio_main.c / group.c's global state).
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "uvfio/base/result.h"
#include "uvfio/iommu/iova_range.h"
#include "uvfio/iommu/memlock_account.h"
#include "vfio/group.h"
#include "vfio/iommu_backend.h"
#include "vfio/vfio_device.h"

namespace uvfio::vfio {

struct HostOptions {
  /// The analogue of vfio.enable_unsafe_noiommu_mode=1: only then do devices without an IOMMU
  /// get a (noiommu-N) group, and only then does CHECK_EXTENSION offer VFIO_NOIOMMU_IOMMU.
  bool enable_unsafe_noiommu_mode = false;
  /// IOMMU page size of the emulated IOMMU (type1's pgsize_bitmap, iommufd's alignment).
  uint64_t iommu_page_size = 4096;
  /// Reserved IOVA ranges of every IOMMU group: x86's MSI window by default, as under VT-d.
  std::vector<iommu::IovaRange> group_reserved = {{0xfee00000, 0xfeefffff}};
  /// Highest IOVA the emulated IOMMU translates (VT-d with 48-bit addressing by default).
  uint64_t aperture_last = (uint64_t{1} << 48) - 1;
  /// Locked-memory limit for mappings; kUnlimited by default (a privileged user).
  uint64_t memlock_limit = UINT64_MAX;
  /// type1's dma_entry_limit.
  uint32_t dma_entry_limit = 65535;
  /// PCI topology: devices named "DDDD:BB:DD.F" sit on bus BB of domain DDDD. These bus numbers
  /// are root buses (no bridge above them, so neither a bus reset nor a hot reset reaches their
  /// devices: pci_parent_bus_reset and pci_probe_reset_bus refuse a root bus); every other bus is
  /// the secondary bus of a bridge whose secondary bus reset works. Bus 0, as on QEMU's q35.
  std::vector<uint8_t> root_buses = {0};
};

/// A device to plug into the host.
struct DeviceSpec {
  std::string name;  // its bus address, e.g. "0000:00:03.0"
  DriverState driver = DriverState::kVfio;
  std::shared_ptr<VfioDeviceOps> ops;  // required when bound to vfio
  bool has_iommu = true;               // false: only usable through no-IOMMU
};

/// Shared by everything it serves; thread-safe (one registry mutex, plus each group's lock).
class Host {
 public:
  explicit Host(HostOptions options = {});
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  const HostOptions& options() const { return options_; }
  bool noiommu_enabled() const { return options_.enable_unsafe_noiommu_mode; }
  /// True once any no-IOMMU group has existed (the kernel taints itself: TAINT_USER).
  bool tainted() const;

  /// Adds a device to IOMMU group `group` (a new group if it does not exist yet), or, for a
  /// device without an IOMMU, to a new no-IOMMU group — ENODEV unless no-IOMMU mode is on.
  /// EEXIST for a duplicate name, EINVAL for a vfio device without ops or a group of the other
  /// type. Returns the group number.
  Result<int> add_device(DeviceSpec spec, int group = -1);
  /// Changes a device's driver (bind/unbind of a non-vfio driver, or to/from vfio with `ops`).
  Result<void> set_driver(const std::string& name, DriverState driver,
                          std::shared_ptr<VfioDeviceOps> ops = nullptr);
  /// Takes a device away from its user and vfio (unbinding, as vfio_del_group_dev): while a user
  /// has it open, its REQ hook is called with an escalating count every `interval`; during that
  /// window the device counts as unbound for viability. Afterwards the device is driverless,
  /// or gone if `unplug`. ETIMEDOUT (and nothing changed) if the user has not let go by
  /// `deadline`. Removing a group's last vfio device detaches the group from its container.
  Result<void> remove_device(const std::string& name, bool unplug,
                             std::chrono::milliseconds interval,
                             std::chrono::steady_clock::time_point deadline);

  std::shared_ptr<Group> group(int id, GroupType type) const;
  std::vector<std::shared_ptr<Group>> groups() const;
  std::shared_ptr<VfioDevice> device(const std::string& name) const;
  /// Every device, in name order.
  std::vector<std::shared_ptr<VfioDevice>> devices() const;
  std::shared_ptr<VfioDevice> device_by_cdev(int index) const;

  const std::vector<IommuBackendDriver>& backends() const { return backends_; }
  /// The locked-memory account of the host's (single) user, limit HostOptions::memlock_limit.
  const std::shared_ptr<iommu::MemlockAccount>& memlock_account() const { return memlock_; }

  /// Called by device files when a device is closed (wakes remove_device).
  void notify_device_closed();

 private:
  HostOptions options_;
  std::vector<IommuBackendDriver> backends_;
  std::shared_ptr<iommu::MemlockAccount> memlock_;
  mutable std::mutex mu_;
  std::condition_variable released_;
  std::map<int, std::shared_ptr<Group>> groups_;
  std::map<std::string, std::shared_ptr<VfioDevice>> devices_;
  int next_group_ = 0;
  int next_cdev_ = 0;
  bool tainted_ = false;
};

}  // namespace uvfio::vfio
