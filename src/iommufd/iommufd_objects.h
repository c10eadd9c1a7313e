// Internal to src/iommufd: the iommufd object table's objects, the ioctl command buffer, and
// user-memory copy helpers shared by iommufd_context.cpp and vfio_compat.cpp.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "iommufd/iommufd_context.h"
#include "uvfio/iommu/access.h"
#include "uvfio/iommu/ioas.h"
#include "uvfio/iommu/iova_range.h"
#include "uvfio/uapi/iommufd.h"

namespace uvfio::vfio {

class FdTable;

namespace iommufd_detail {

/// Linux's PAGE_SIZE (x86-64); iommufd's alignment rules are stated in it.
inline constexpr uint64_t kPageSize = 4096;

/// A user pointer the kernel's copy_{from,to}_user would fault on. The emulation trusts every
/// other address to be valid for the length the call implies (as the other emulated files do).
inline bool bad_uptr(uint64_t p) {
  return p < kPageSize;
}
inline void copy_in(void* dst, uint64_t uaddr, size_t len) {
  if (len != 0) std::memcpy(dst, reinterpret_cast<const void*>(uaddr), len);
}
inline void copy_out(uint64_t uaddr, const void* src, size_t len) {
  if (len != 0) std::memcpy(reinterpret_cast<void*>(uaddr), src, len);
}

/// The largest IOAS command structure (main.c's union ucmd_buffer).
union UcmdBuffer {
  uapi::iommu_destroy destroy;
  uapi::iommu_fault_alloc fault;
  uapi::iommu_hw_info info;
  uapi::iommu_hwpt_alloc hwpt;
  uapi::iommu_hwpt_get_dirty_bitmap get_dirty_bitmap;
  uapi::iommu_hwpt_invalidate cache;
  uapi::iommu_hwpt_set_dirty_tracking set_dirty_tracking;
  uapi::iommu_ioas_alloc alloc;
  uapi::iommu_ioas_allow_iovas allow_iovas;
  uapi::iommu_ioas_copy ioas_copy;
  uapi::iommu_ioas_iova_ranges iova_ranges;
  uapi::iommu_ioas_map map;
  uapi::iommu_ioas_unmap unmap;
  uapi::iommu_option option;
  uapi::iommu_vfio_ioas vfio_ioas;
  unsigned char bytes[64];
};
static_assert(sizeof(UcmdBuffer) == 64);

}  // namespace iommufd_detail

/// One IOMMU_* call (struct iommufd_ucmd): the user's buffer and the kernel-side copy.
struct IommufdContext::Ucmd {
  FdTable* fds = nullptr;
  uint64_t ubuffer = 0;
  uint32_t user_size = 0;
  iommufd_detail::UcmdBuffer buf{};

  /// iommufd_ucmd_respond: copies min(user size, len) bytes of the command back. The command's
  /// side effects stay even when this fails.
  long respond(size_t len) {
    if (iommufd_detail::bad_uptr(ubuffer)) return -EFAULT;
    iommufd_detail::copy_out(ubuffer, &buf, len < user_size ? len : user_size);
    return 0;
  }
};

/// An object of the table (struct iommufd_object).
struct IommufdContext::Object {
  enum class Type { kIoas, kDevice, kHwptPaging, kAccess };
  explicit Object(Type t) : type(t) {}
  virtual ~Object() = default;
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;

  const Type type;
  uint32_t id = 0;
  /// obj->users: 1 for the table, +1 for every holder (an attached device, a HWPT on an IOAS, a
  /// driver's binding, an ioctl in progress). IOMMU_DESTROY succeeds only at exactly 1.
  int users = 1;
  /// Published (iommufd_object_finalize). Until then the id is taken but lookups say ENOENT.
  bool finalized = false;
};

/// IOMMUFD_OBJ_IOAS.
struct IommufdContext::IoasObj : Object {
  IoasObj() : Object(Type::kIoas) {}
  std::shared_ptr<iommu::Ioas> ioas;
  /// iopt.disable_large_pages (IOMMU_OPTION_HUGE_PAGES = 0, or VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU)).
  bool disable_large_pages = false;
  /// ioas->hwpt_list: the HWPT_PAGING objects (domains) on this IOAS, oldest first.
  std::vector<std::shared_ptr<HwptObj>> hwpts;
  /// Attached ACCESS objects (each needs PAGE_SIZE alignment: needs_pin_pages).
  int accesses = 0;
};

/// IOMMUFD_OBJ_HWPT_PAGING: an emulated IOMMU domain on an IOAS.
struct IommufdContext::HwptObj : Object {
  HwptObj() : Object(Type::kHwptPaging) {}
  std::shared_ptr<IoasObj> ioas;
  bool auto_domain = false;
  bool added = false;  // iopt_table_add_domain done (on ioas->hwpts, aperture reserved)
  /// Ranges reserved in the IOAS for the domain's aperture (iopt_table_add_domain).
  std::vector<iommu::IovaRange> aperture;
};

/// IOMMUFD_OBJ_DEVICE: a bound physical device (struct iommufd_device).
struct IommufdContext::DeviceObj : Object {
  DeviceObj() : Object(Type::kDevice) {}
  std::shared_ptr<VfioDevice> device;
  std::shared_ptr<Group> group;
  /// While attached: the domain, the device's DMA access (attached to the domain's IOAS), and
  /// the device's reserved ranges added to that IOAS (iopt_table_enforce_dev_resv_regions).
  std::shared_ptr<HwptObj> hwpt;
  std::shared_ptr<iommu::Access> access;
  std::vector<iommu::IovaRange> reserved;
};

/// IOMMUFD_OBJ_ACCESS: an in-kernel (emulated) user of an IOAS.
struct IommufdContext::AccessObj : Object {
  AccessObj() : Object(Type::kAccess) {}
  std::shared_ptr<iommu::Access> access;
  std::shared_ptr<IoasObj> ioas;  // attached IOAS (holds a users reference on it)
};

/// struct iommufd_group: this context's view of an IOMMU group.
struct IommufdContext::IGroup {
  std::shared_ptr<HwptObj> hwpt;    // the domain the group is attached to
  std::vector<DeviceObj*> devices;  // device_list: attached devices, in attach order
  int bound = 0;                    // DEVICE objects of this group in this context
};

template <class T>
std::shared_ptr<T> IommufdContext::find_as_locked(uint32_t id) const {
  auto obj = find_locked(id);
  if (!obj) return nullptr;
  if constexpr (std::is_same_v<T, IoasObj>) {
    if (obj->type != Object::Type::kIoas) return nullptr;
  } else if constexpr (std::is_same_v<T, HwptObj>) {
    if (obj->type != Object::Type::kHwptPaging) return nullptr;
  } else if constexpr (std::is_same_v<T, DeviceObj>) {
    if (obj->type != Object::Type::kDevice) return nullptr;
  } else {
    static_assert(std::is_same_v<T, AccessObj>);
    if (obj->type != Object::Type::kAccess) return nullptr;
  }
  return std::static_pointer_cast<T>(obj);
}

/// An IOAS reference held for the length of a call (iommufd_get_ioas / iommufd_put_object).
class IommufdContext::ObjRef {
 public:
  ObjRef(IommufdContext* ctx, std::shared_ptr<IoasObj> obj) : ctx_(ctx), obj_(std::move(obj)) {}
  ~ObjRef() {
    if (obj_) ctx_->put(*obj_);
  }
  ObjRef(const ObjRef&) = delete;
  ObjRef& operator=(const ObjRef&) = delete;
  IoasObj* operator->() const { return obj_.get(); }
  IoasObj& operator*() const { return *obj_; }
  const std::shared_ptr<IoasObj>& ptr() const { return obj_; }

 private:
  IommufdContext* ctx_;
  std::shared_ptr<IoasObj> obj_;
};

}  // namespace uvfio::vfio
