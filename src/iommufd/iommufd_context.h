// IommufdContext: /dev/iommu — an iommufd context with its object table (IOAS, HWPT_PAGING,
// DEVICE, ACCESS), the IOMMU_* ioctls, and the VFIO type1 compatibility ioctls of
// drivers/iommu/iommufd/vfio_compat.c on the same file. Linux 6.12 semantics: main.c's dispatch
// (size / min_size / E2BIG / ENOTTY), ioas.c, device.c's device and access APIs and
// hw_pagetable.c's automatic domains, with the kernel's errno.
//
// Devices are bound as physical devices (iommufd_device_bind): attaching one to an IOAS gives it
// an automatically allocated HWPT_PAGING (shared by every device attached to that IOAS) and
// reserves its group's reserved ranges and the domain's aperture in the IOAS; the device's DMA
// (its iommu::Access) then translates through that IOAS. ACCESS objects are the in-kernel
// iommufd_access API (mdev-style emulated users), offered here as C++ methods.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "uvfio/base/result.h"
#include "uvfio/iommu/access.h"
#include "uvfio/iommu/ioas.h"
#include "uvfio/vfio/vfio_system.h"
#include "vfio/vfio_file.h"

namespace uvfio::vfio {

class Group;
class Host;
class VfioDevice;

class IommufdContext : public VfioFile {
 public:
  /// Locked-memory accounting mode (IOMMU_OPTION_RLIMIT_MODE): per user (the /dev/iommu default)
  /// or per process (the default when iommufd provides /dev/vfio/vfio).
  enum class AccountMode { kUser, kMm };

  /// `creds` are the opener's. `vfio_container_node`: opened as /dev/vfio/vfio provided by
  /// iommufd (CONFIG_IOMMUFD_VFIO_CONTAINER), which only changes the default account mode.
  IommufdContext(Host& host, Credentials creds, bool vfio_container_node = false);
  ~IommufdContext() override;
  IommufdContext(const IommufdContext&) = delete;
  IommufdContext& operator=(const IommufdContext&) = delete;

  /// IOMMU_* requests (nr 0x80..0x8e) and, for every other number, the type1 compatibility
  /// requests (vfio_compat.c); capabilities are checked against fds.creds().
  long ioctl(FdTable& fds, unsigned long request, unsigned long arg) override;
  /// The last reference went: every object is destroyed (iommufd_fops_release).
  void release() override;

  // ---------------------------------------------------------------- type1 compatibility
  // For the VFIO group code (group.c's iommufd paths). None of these take a group lock.

  /// iommufd_vfio_compat_ioas_create: makes sure a compat IOAS exists (0 if one already does);
  /// EINVAL in no-IOMMU mode.
  long compat_ioas_create();
  /// iommufd_vfio_compat_set_no_iommu: enters no-IOMMU mode; EINVAL if a compat IOAS exists.
  long compat_set_no_iommu();
  /// The compat IOAS (IOMMU_VFIO_IOAS), or null.
  std::shared_ptr<iommu::Ioas> compat_ioas() const;
  bool no_iommu_mode() const;

  /// The iommufd half of vfio_df_group_open for a device's FIRST open through a group whose
  /// container is this context, called after VfioDevice::open() succeeded: for a no-IOMMU device
  /// EPERM without CAP_SYS_RAWIO or when a compat IOAS exists (nothing else to do); otherwise
  /// binds the device (DEVICE object) and attaches it to the compat IOAS (ENODEV without one),
  /// unbinding again on failure. The caller closes the device if this fails. The one-argument
  /// form checks the context opener's credentials; pass the caller's when known.
  long group_device_open(const std::shared_ptr<VfioDevice>& device);
  long group_device_open(const std::shared_ptr<VfioDevice>& device, const Credentials& caller);
  /// Undoes group_device_open at the device's LAST close (detach + unbind); call it before or
  /// after VfioDevice::close(). Does nothing for a device this context has not bound.
  void group_device_close(VfioDevice& device);

  // ------------------------------------------------ physical devices (iommufd_device_*)

  /// iommufd_device_bind: a DEVICE object for `device` (open, or about to be); returns its id.
  /// EBUSY if the device's group is owned by another context or a container (DMA ownership),
  /// EINVAL if already bound here, ENODEV without a group. Holds a reference on this file
  /// until device_unbind.
  Result<uint32_t> device_bind(const std::shared_ptr<VfioDevice>& device);
  /// iommufd_device_unbind (detaches first if attached). Unknown ids are ignored.
  void device_unbind(uint32_t dev_id);
  /// iommufd_device_attach, or iommufd_device_replace if the device is attached: `pt_id` names an
  /// IOAS (an automatic domain is found or made) or a HWPT_PAGING. Returns the HWPT id. The
  /// device's iommu::Access (VfioDevice::access()) is attached to / moved to the IOAS.
  /// ENOENT unknown id, EINVAL wrong object type / group attached elsewhere, EADDRINUSE if a
  /// reserved range or the aperture hits a mapping or an allowed range.
  Result<uint32_t> device_attach(uint32_t dev_id, uint32_t pt_id);
  /// iommufd_device_detach; a no-op when not attached.
  void device_detach(uint32_t dev_id);
  bool device_attached(uint32_t dev_id) const;
  /// The DEVICE id bound for `device` here, or 0.
  uint32_t device_id(const VfioDevice& device) const;

  // ------------------------------------------------ emulated users (iommufd_access_*)

  /// iommufd_access_create: an ACCESS object (not attached) whose pins the IOAS's unmaps revoke
  /// through `on_unmap` (which must not call back into this context's attach/detach/destroy).
  /// Holds a reference on this file until access_destroy.
  Result<uint32_t> access_create(iommu::Access::UnmapCallback on_unmap = {});
  /// iommufd_access_attach: EINVAL if attached, ENOENT if `ioas_id` is not an IOAS (or the access
  /// does not exist).
  Result<void> access_attach(uint32_t access_id, uint32_t ioas_id);
  /// iommufd_access_replace: ENOENT if not attached or unknown IOAS; 0 for the same IOAS; EBUSY
  /// if the callback left pins behind.
  Result<void> access_replace(uint32_t access_id, uint32_t ioas_id);
  /// iommufd_access_detach (asks for every pin through the callback); no-op when not attached.
  void access_detach(uint32_t access_id);
  /// iommufd_access_destroy: detaches and removes the object.
  void access_destroy(uint32_t access_id);
  /// The access for pin/unpin/read/write/translate, or null.
  std::shared_ptr<iommu::Access> access(uint32_t access_id) const;

  // ---------------------------------------------------------------- inspection
  /// The IOAS behind `ioas_id`, or null.
  std::shared_ptr<iommu::Ioas> ioas(uint32_t ioas_id) const;
  /// Objects in the table (finalized or being created).
  size_t object_count() const;
  AccountMode account_mode() const;
  const Credentials& credentials() const { return creds_; }
  Host& host() const { return host_; }

  struct Object;
  struct IoasObj;
  struct HwptObj;
  struct DeviceObj;
  struct AccessObj;
  struct Ucmd;

 private:
  struct IGroup;
  class ObjRef;

  /// iommufd_fops_release's work (also run by the destructor).
  void destroy_all();

  // --- object table (mu_ held) ---
  uint32_t alloc_id_locked(std::shared_ptr<Object> obj);
  std::shared_ptr<Object> find_locked(uint32_t id) const;
  template <class T>
  std::shared_ptr<T> find_as_locked(uint32_t id) const;
  /// iommufd_get_ioas: the IOAS with a users reference held for the caller (ENOENT).
  Result<std::shared_ptr<IoasObj>> get_ioas(uint32_t id);
  void put(Object& obj);
  std::shared_ptr<IoasObj> new_ioas(const Credentials& creds);
  uint64_t iova_alignment_locked(const IoasObj& o) const;
  bool has_domain_locked(const IoasObj& o) const;

  // --- IOMMU_* handlers (ioas / main) ---
  long dispatch(FdTable& fds, unsigned int cmd, unsigned long arg);
  long cmd_destroy(Ucmd& u);
  long cmd_ioas_alloc(Ucmd& u);
  long cmd_ioas_allow_iovas(Ucmd& u);
  long cmd_ioas_copy(Ucmd& u);
  long cmd_ioas_iova_ranges(Ucmd& u);
  long cmd_ioas_map(Ucmd& u);
  long cmd_ioas_unmap(Ucmd& u);
  long cmd_option(Ucmd& u);
  long cmd_vfio_ioas(Ucmd& u);
  long cmd_hwpt_alloc(Ucmd& u);
  long cmd_get_hw_info(Ucmd& u);
  long cmd_hwpt_set_dirty_tracking(Ucmd& u);
  long cmd_hwpt_get_dirty_bitmap(Ucmd& u);
  long cmd_hwpt_invalidate(Ucmd& u);
  long cmd_fault_queue_alloc(Ucmd& u);
  long option_huge_pages(Ucmd& u);
  /// iopt_disable_large_pages.
  int disable_large_pages(IoasObj& o);

  // --- devices and domains (ctl_mu_ held) ---
  int attach_hwpt(DeviceObj& d, const std::shared_ptr<HwptObj>& hwpt, bool is_new);
  int replace_hwpt(DeviceObj& d, const std::shared_ptr<HwptObj>& hwpt);
  Result<uint32_t> auto_domain(DeviceObj& d, const std::shared_ptr<IoasObj>& ioas, bool replace);
  /// iopt_table_add_domain: alignment and aperture of a new domain on its IOAS.
  int add_domain(const std::shared_ptr<HwptObj>& hwpt);
  void remove_domain(HwptObj& hwpt);
  Result<std::shared_ptr<HwptObj>> new_hwpt(const std::shared_ptr<IoasObj>& ioas, bool auto_domain);
  void abort_hwpt(const std::shared_ptr<HwptObj>& hwpt);
  void hwpt_put(const std::shared_ptr<HwptObj>& hwpt);
  int reserve_device_ranges(DeviceObj& d, IoasObj& ioas, std::vector<iommu::IovaRange>* out);
  static void unreserve(IoasObj& ioas, std::vector<iommu::IovaRange>& ranges);
  void detach_locked_ctl(DeviceObj& d);
  IGroup& igroup(const Group* g);

  // --- type1 compatibility (vfio_compat.cpp) ---
  long compat_ioctl(FdTable& fds, unsigned int cmd, unsigned long arg);
  Result<std::shared_ptr<IoasObj>> get_compat_ioas();
  long compat_check_extension(unsigned long type);
  long compat_set_iommu(const Credentials& caller, unsigned long type);
  long compat_get_info(unsigned long arg);
  long compat_map_dma(unsigned long arg);
  long compat_unmap_dma(unsigned long arg);
  int compat_cut(IoasObj& o, uint64_t iova);

  Host& host_;
  const Credentials creds_;

  // ctl_mu_ serializes operations that attach, detach or replace (they call unmap callbacks
  // with mu_ dropped); mu_ guards the table and every object's fields. Order: ctl_mu_, mu_.
  mutable std::mutex ctl_mu_;
  mutable std::mutex mu_;
  std::map<uint32_t, std::shared_ptr<Object>> objects_;
  std::map<const Group*, IGroup> igroups_;
  std::shared_ptr<IoasObj> vfio_ioas_;
  bool no_iommu_mode_ = false;
  AccountMode account_mode_;
};

}  // namespace uvfio::vfio
