// VFIO user ABI that Linux v6.12 has and Debian 12's <linux/vfio.h> (6.1) lacks:
// the device character-device (/dev/vfio/devices/vfioN) binding to iommufd, the
// cdev flavour of PCI hot-reset info, and the device features and migration
// pieces added after 6.1.
//
// Everything is declared in namespace uvfio::uapi under the kernel's names, and
// only when the system header does not already provide it: each group is keyed
// on one of its macros. When the system header has the group, its structures
// are brought into the namespace with using-declarations and its macros are
// left alone. Refer to the constants unqualified (e.g. after
// `using namespace uvfio::uapi;`) so code compiles against either header.
#pragma once

#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/vfio.h>

#include <cstddef>
#include <cstdint>

namespace uvfio::uapi {

// ------------------------------------------------ VFIO_DEVICE_GET_INFO bits

#ifndef VFIO_DEVICE_FLAGS_CDX
/// vfio_device_info::flags: the device is a vfio-cdx device.
inline constexpr std::uint32_t VFIO_DEVICE_FLAGS_CDX = 1u << 8;
#endif

#ifndef VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP
/// Device-info capability: PCIe AtomicOp completer sizes the root port supports.
inline constexpr std::uint16_t VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP = 5;

struct vfio_device_info_cap_pci_atomic_comp {
  ::vfio_info_cap_header header;
  __u32 flags;  // VFIO_PCI_ATOMIC_COMP*
  __u32 reserved;
};

inline constexpr std::uint32_t VFIO_PCI_ATOMIC_COMP32 = 1u << 0;
inline constexpr std::uint32_t VFIO_PCI_ATOMIC_COMP64 = 1u << 1;
inline constexpr std::uint32_t VFIO_PCI_ATOMIC_COMP128 = 1u << 2;
#else
using ::vfio_device_info_cap_pci_atomic_comp;
#endif

// ------------------------------------- PCI hot reset, device-cdev flavour

#ifndef VFIO_PCI_HOT_RESET_FLAG_DEV_ID
/// vfio_pci_hot_reset_info::flags (output): entries carry iommufd device ids
/// (the kernel's `devid`, which shares storage with `group_id`), not group ids.
inline constexpr std::uint32_t VFIO_PCI_HOT_RESET_FLAG_DEV_ID = 1u << 0;
/// vfio_pci_hot_reset_info::flags (output): the caller owns every affected device.
inline constexpr std::uint32_t VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED = 1u << 1;
#endif

#ifndef VFIO_PCI_DEVID_OWNED
/// vfio_pci_dependent_device devid: owned by the caller, but not bound to its iommufd.
inline constexpr int VFIO_PCI_DEVID_OWNED = 0;
/// vfio_pci_dependent_device devid: not owned by the caller (stored as 0xffffffff).
inline constexpr int VFIO_PCI_DEVID_NOT_OWNED = -1;
#endif

/// The devid of a hot-reset dependent device. 6.1 headers name the slot only
/// `group_id`; v6.12 makes it a union { group_id; devid; } at offset 0.
inline constexpr __u32 vfio_pci_dependent_devid(const ::vfio_pci_dependent_device& d) {
  return d.group_id;
}

// --------------------------------------- device cdev <-> iommufd binding

#ifndef VFIO_DEVICE_BIND_IOMMUFD
/// VFIO_DEVICE_BIND_IOMMUFD: bind a device cdev fd to an iommufd; the device's
/// iommufd object id comes back in out_devid. Must precede any other device ioctl.
struct vfio_device_bind_iommufd {
  __u32 argsz;
  __u32 flags;  // must be 0 in v6.12
  __s32 iommufd;
  __u32 out_devid;
};

inline constexpr unsigned long VFIO_DEVICE_BIND_IOMMUFD = _IO(VFIO_TYPE, VFIO_BASE + 18);
static_assert(sizeof(vfio_device_bind_iommufd) == 16);
#else
using ::vfio_device_bind_iommufd;
#endif

#ifndef VFIO_DEVICE_ATTACH_IOMMUFD_PT
/// VFIO_DEVICE_ATTACH_IOMMUFD_PT: attach (or replace the attachment of) a bound
/// device to an IOAS or HWPT; pt_id returns the HWPT actually used.
struct vfio_device_attach_iommufd_pt {
  __u32 argsz;
  __u32 flags;  // must be 0 in v6.12
  __u32 pt_id;
};

inline constexpr unsigned long VFIO_DEVICE_ATTACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 19);
static_assert(sizeof(vfio_device_attach_iommufd_pt) == 12);
#else
using ::vfio_device_attach_iommufd_pt;
#endif

#ifndef VFIO_DEVICE_DETACH_IOMMUFD_PT
/// VFIO_DEVICE_DETACH_IOMMUFD_PT: detach a bound device from its page table
/// (the device is left blocking DMA).
struct vfio_device_detach_iommufd_pt {
  __u32 argsz;
  __u32 flags;  // must be 0 in v6.12
};

inline constexpr unsigned long VFIO_DEVICE_DETACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 20);
static_assert(sizeof(vfio_device_detach_iommufd_pt) == 8);
#else
using ::vfio_device_detach_iommufd_pt;
#endif

// ------------------------------------------------- migration: pre-copy

#ifndef VFIO_MIGRATION_PRE_COPY
/// vfio_device_feature_migration::flags: the PRE_COPY states are supported.
inline constexpr std::uint64_t VFIO_MIGRATION_PRE_COPY = 1u << 2;

/// States of enum vfio_device_mig_state that 6.1 does not list.
inline constexpr std::uint32_t VFIO_DEVICE_STATE_PRE_COPY = 6;
inline constexpr std::uint32_t VFIO_DEVICE_STATE_PRE_COPY_P2P = 7;
inline constexpr std::uint32_t VFIO_DEVICE_STATE_NR = 8;

/// VFIO_MIG_GET_PRECOPY_INFO (on the migration data fd): bytes still to read.
struct vfio_precopy_info {
  __u32 argsz;
  __u32 flags;
  alignas(8) __u64 initial_bytes;
  alignas(8) __u64 dirty_bytes;
};

inline constexpr unsigned long VFIO_MIG_GET_PRECOPY_INFO = _IO(VFIO_TYPE, VFIO_BASE + 21);
#else
using ::VFIO_DEVICE_STATE_NR;
using ::VFIO_DEVICE_STATE_PRE_COPY;
using ::VFIO_DEVICE_STATE_PRE_COPY_P2P;
using ::vfio_precopy_info;
#endif

// ------------------------------------------- VFIO_DEVICE_FEATURE additions

#ifndef VFIO_DEVICE_FEATURE_MIG_DATA_SIZE
/// Feature 9 (GET): estimated size of the STOP_COPY migration data.
inline constexpr std::uint32_t VFIO_DEVICE_FEATURE_MIG_DATA_SIZE = 9;

struct vfio_device_feature_mig_data_size {
  alignas(8) __u64 stop_copy_length;
};
#else
using ::vfio_device_feature_mig_data_size;
#endif

#ifndef VFIO_DEVICE_FEATURE_BUS_MASTER
/// Feature 10 (SET): switch bus mastering of the device on or off.
inline constexpr std::uint32_t VFIO_DEVICE_FEATURE_BUS_MASTER = 10;

struct vfio_device_feature_bus_master {
  __u32 op;  // VFIO_DEVICE_FEATURE_CLEAR_MASTER or VFIO_DEVICE_FEATURE_SET_MASTER
};

inline constexpr std::uint32_t VFIO_DEVICE_FEATURE_CLEAR_MASTER = 0;
inline constexpr std::uint32_t VFIO_DEVICE_FEATURE_SET_MASTER = 1;
#else
using ::vfio_device_feature_bus_master;
#endif

// Left to the system header (checked layout-compatible with v6.12 on x86-64):
// 6.12 names former padding in structures 6.1 already has -- `pad` at the end of
// vfio_device_info (sizeof 20 -> 24: the kernel still accepts argsz >= 16, but
// it places capabilities from offset 24, so follow cap_offset rather than
// assuming sizeof(::vfio_device_info)) and of vfio_iommu_type1_info, `reserved`
// at the end of vfio_device_gfx_plane_info and vfio_device_ioeventfd -- without
// moving any field.

// ------------------------------------------------- ABI checks (x86-64 / LP64)

static_assert(VFIO_TYPE == 0x3b && VFIO_BASE == 100);

static_assert(VFIO_DEVICE_BIND_IOMMUFD == 0x3b76);
static_assert(VFIO_DEVICE_ATTACH_IOMMUFD_PT == 0x3b77);
static_assert(VFIO_DEVICE_DETACH_IOMMUFD_PT == 0x3b78);
static_assert(VFIO_MIG_GET_PRECOPY_INFO == 0x3b79);
static_assert(VFIO_DEVICE_BIND_IOMMUFD == _IO(VFIO_TYPE, VFIO_BASE + 18));
static_assert(VFIO_DEVICE_ATTACH_IOMMUFD_PT == _IO(VFIO_TYPE, VFIO_BASE + 19));
static_assert(VFIO_DEVICE_DETACH_IOMMUFD_PT == _IO(VFIO_TYPE, VFIO_BASE + 20));
static_assert(VFIO_MIG_GET_PRECOPY_INFO == _IO(VFIO_TYPE, VFIO_BASE + 21));

static_assert(VFIO_DEVICE_FLAGS_CDX == 0x100);
static_assert(VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP == 5);
static_assert(VFIO_PCI_HOT_RESET_FLAG_DEV_ID == 1 && VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED == 2);
static_assert(VFIO_PCI_DEVID_OWNED == 0);
static_assert(static_cast<__u32>(VFIO_PCI_DEVID_NOT_OWNED) == 0xffffffffu);
static_assert(VFIO_MIGRATION_PRE_COPY == 4);
static_assert(VFIO_DEVICE_STATE_PRE_COPY == 6 && VFIO_DEVICE_STATE_PRE_COPY_P2P == 7);
static_assert(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE == 9 && VFIO_DEVICE_FEATURE_BUS_MASTER == 10);

static_assert(sizeof(::vfio_info_cap_header) == 8);
static_assert(sizeof(vfio_device_info_cap_pci_atomic_comp) == 16);
static_assert(offsetof(vfio_device_info_cap_pci_atomic_comp, flags) == 8);
static_assert(offsetof(vfio_device_info_cap_pci_atomic_comp, reserved) == 12);

static_assert(sizeof(::vfio_pci_dependent_device) == 8);
static_assert(offsetof(::vfio_device_info, cap_offset) == 16);
static_assert(offsetof(::vfio_pci_dependent_device, group_id) == 0);

// Exact sizes of the three cdev structures are checked next to their
// definitions; a newer system header may append fields (a VF token pointer, a
// pasid), which the argsz protocol allows.
static_assert(sizeof(vfio_device_bind_iommufd) >= 16);
static_assert(offsetof(vfio_device_bind_iommufd, flags) == 4);
static_assert(offsetof(vfio_device_bind_iommufd, iommufd) == 8);
static_assert(offsetof(vfio_device_bind_iommufd, out_devid) == 12);

static_assert(sizeof(vfio_device_attach_iommufd_pt) >= 12);
static_assert(offsetof(vfio_device_attach_iommufd_pt, flags) == 4);
static_assert(offsetof(vfio_device_attach_iommufd_pt, pt_id) == 8);

static_assert(sizeof(vfio_device_detach_iommufd_pt) >= 8);
static_assert(offsetof(vfio_device_detach_iommufd_pt, flags) == 4);

static_assert(sizeof(vfio_precopy_info) == 24);
static_assert(offsetof(vfio_precopy_info, initial_bytes) == 8);
static_assert(offsetof(vfio_precopy_info, dirty_bytes) == 16);

static_assert(sizeof(vfio_device_feature_mig_data_size) == 8);
static_assert(sizeof(vfio_device_feature_bus_master) == 4);

}  // namespace uvfio::uapi
