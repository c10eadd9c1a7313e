// Group: an IOMMU group, the unit of isolation, and its /dev/vfio/N file (group.c).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "uvfio/base/result.h"
#include "uvfio/iommu/iova_range.h"
#include "uvfio/vfio/vfio_system.h"
#include "vfio/vfio_device.h"
#include "vfio/vfio_file.h"

namespace uvfio::vfio {

class Container;
class Host;
class IommufdContext;

enum class GroupType { kIommu, kNoIommu };

/// Shared by the host, its devices and its open file; `mu` is the kernel's group_lock.
class Group : public std::enable_shared_from_this<Group> {
 public:
  Group(Host& host, int id, GroupType type) : host_(host), id_(id), type_(type) {}

  int id() const { return id_; }
  GroupType type() const { return type_; }
  bool noiommu() const { return type_ == GroupType::kNoIommu; }
  /// "/dev/vfio/N" or "/dev/vfio/noiommu-N".
  std::string path() const;
  Host& host() const { return host_; }

  /// Every device driverless, bound to vfio, allow-listed or a bridge (vfio_dev_viable).
  bool viable() const;
  std::vector<std::shared_ptr<VfioDevice>> devices() const;
  /// IOVA ranges the group's devices cannot use (the MSI window on x86, ...), and the highest
  /// IOVA they can reach; type1 and iommufd turn these into reserved ranges.
  std::vector<iommu::IovaRange> reserved_ranges() const;
  uint64_t aperture_last() const;

  // --- used by the host and the files (lock held as noted) ---
  std::mutex mu;                                      // group_lock
  std::vector<std::shared_ptr<VfioDevice>> devices_;  // under mu
  std::vector<std::string> unbound_;                  // devices being removed (bridge)
  std::shared_ptr<VfioFile> opened_file;              // under mu: the one open file
  std::shared_ptr<Container> container;               // under mu
  int container_users = 0;                            // under mu
  std::shared_ptr<IommufdContext> iommufd;            // under mu: SET_CONTAINER(iommufd)
  bool has_iommu() const { return container != nullptr || iommufd != nullptr; }
  /// Takes the iommufd away (mu held); the caller drops its file reference with put_ref()
  /// once the lock is released (releasing an iommufd may need other locks).
  std::shared_ptr<IommufdContext> take_iommufd() { return std::move(iommufd); }
  int cdev_open_count = 0;  // under mu: devices bound through their cdev (the group can't open)
  bool dead = false;  // under mu: its last vfio device went away (the kernel's iommu_group = NULL)
  /// The vfio-bound device called `name` (null if none).
  std::shared_ptr<VfioDevice> vfio_device(const std::string& name) const;
  bool has_vfio_devices() const;

 private:
  Host& host_;
  const int id_;
  const GroupType type_;
};

/// Opens the group's file: ENODEV if it has no vfio device, EPERM for a no-IOMMU group without
/// CAP_SYS_RAWIO, EBUSY if already open (vfio_group_fops_open).
Result<std::shared_ptr<VfioFile>> open_group_file(const std::shared_ptr<Group>& group,
                                                  const Credentials& creds);

}  // namespace uvfio::vfio
