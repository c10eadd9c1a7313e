// Container: /dev/vfio/vfio, a set of groups sharing one IOMMU backend (container.c).
#pragma once

#include <memory>
#include <shared_mutex>
#include <vector>

#include "vfio/iommu_backend.h"
#include "vfio/vfio_file.h"

namespace uvfio::vfio {

class Group;
class Host;

/// Shared by its file and its groups. `mu` is the kernel's container->group_lock.
class Container : public VfioFile {
 public:
  explicit Container(Host& host) : host_(host) {}

  long ioctl(FdTable& fds, unsigned long request, unsigned long arg) override;

  /// VFIO_GROUP_SET_CONTAINER's work (vfio_container_attach_group); group lock held.
  int attach_group(Group& group, const Credentials& creds);
  /// Detaches (vfio_group_detach_container); group lock held. The last group out releases the
  /// backend and its mappings.
  void detach_group(Group& group);
  /// The backend's IOAS (null if none is set or under no-IOMMU).
  std::shared_ptr<iommu::Ioas> ioas();
  bool has_backend();

 private:
  long check_extension(unsigned long arg);
  long set_iommu(unsigned long arg, const Credentials& creds);

  Host& host_;
  std::shared_mutex mu_;
  std::vector<Group*> groups_;
  bool noiommu_ = false;
  const IommuBackendDriver* driver_ = nullptr;
  std::unique_ptr<IommuBackend> backend_;
};

}  // namespace uvfio::vfio
