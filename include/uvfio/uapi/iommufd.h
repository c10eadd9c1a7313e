// iommufd user ABI (the /dev/iommu ioctls) as of Linux 6.12 (checked against
// include/uapi/linux/iommufd.h of Debian's linux-source-6.12, 6.12.117).
//
// Debian 12's linux-libc-dev (6.1) has no <linux/iommufd.h>, so the structures,
// flags and request numbers are written out here under the kernel's own names,
// inside namespace uvfio::uapi. Struct layouts are kernel ABI: every size and
// field offset is pinned by a static_assert at the bottom of this file. The enums
// have the kernel's underlying type (unsigned int: all their values are
// non-negative and fit), so sizeof each enum type is 4 as in the kernel header.
//
// Every iommufd request is _IO(';', nr): the payload size travels in the
// structure's leading `size` field, not in the request number.
//
// Names that the kernel header spells as macros (IOMMUFD_TYPE and the IOMMU_*
// request numbers) are each defined only when no such macro exists yet, so this
// header can share a translation unit with a newer system <linux/iommufd.h>.
// Refer to them unqualified (e.g. after `using namespace uvfio::uapi;`) so the
// code keeps compiling in that case too.
#pragma once

#include <linux/ioctl.h>
#include <linux/types.h>

#include <cstddef>
#include <cstdint>

namespace uvfio::uapi {

#ifndef IOMMUFD_TYPE
/// ioctl "type" byte shared by every iommufd request (the same one VFIO uses).
inline constexpr unsigned int IOMMUFD_TYPE = ';';
#endif

/// ioctl command numbers ("nr" byte); one per request, allocated in order.
enum : std::uint32_t {
  IOMMUFD_CMD_BASE = 0x80,
  IOMMUFD_CMD_DESTROY = IOMMUFD_CMD_BASE,
  IOMMUFD_CMD_IOAS_ALLOC = 0x81,
  IOMMUFD_CMD_IOAS_ALLOW_IOVAS = 0x82,
  IOMMUFD_CMD_IOAS_COPY = 0x83,
  IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84,
  IOMMUFD_CMD_IOAS_MAP = 0x85,
  IOMMUFD_CMD_IOAS_UNMAP = 0x86,
  IOMMUFD_CMD_OPTION = 0x87,
  IOMMUFD_CMD_VFIO_IOAS = 0x88,
  IOMMUFD_CMD_HWPT_ALLOC = 0x89,
  IOMMUFD_CMD_GET_HW_INFO = 0x8a,
  IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING = 0x8b,
  IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP = 0x8c,
  IOMMUFD_CMD_HWPT_INVALIDATE = 0x8d,
  IOMMUFD_CMD_FAULT_QUEUE_ALLOC = 0x8e,  // last command in v6.12
};

// ---------------------------------------------------------------- objects

/// IOMMU_DESTROY: drop the object `id` (IOAS, HWPT, device binding, fault queue...).
struct iommu_destroy {
  __u32 size;
  __u32 id;
};

/// IOMMU_IOAS_ALLOC: create an empty IO address space; its id comes back in out_ioas_id.
struct iommu_ioas_alloc {
  __u32 size;
  __u32 flags;  // must be 0
  __u32 out_ioas_id;
};

/// One IOVA interval; `last` is inclusive.
struct iommu_iova_range {
  alignas(8) __u64 start;
  alignas(8) __u64 last;
};

/// IOMMU_IOAS_IOVA_RANGES: list the IOVA ranges usable in an IOAS.
/// num_iovas is the array capacity on input and the full count on output
/// (EMSGSIZE when the array was too small).
struct iommu_ioas_iova_ranges {
  __u32 size;
  __u32 ioas_id;
  __u32 num_iovas;
  __u32 __reserved;
  alignas(8) __u64 allowed_iovas;  // user pointer to iommu_iova_range[num_iovas]
  alignas(8) __u64 out_iova_alignment;
};

/// IOMMU_IOAS_ALLOW_IOVAS: replace the set of IOVA ranges that must stay usable.
struct iommu_ioas_allow_iovas {
  __u32 size;
  __u32 ioas_id;
  __u32 num_iovas;
  __u32 __reserved;
  alignas(8) __u64 allowed_iovas;  // user pointer to iommu_iova_range[num_iovas]
};

/// Flags for IOMMU_IOAS_MAP and IOMMU_IOAS_COPY.
enum iommufd_ioas_map_flags : std::uint32_t {
  IOMMU_IOAS_MAP_FIXED_IOVA = 1u << 0,  // use the caller's iova instead of allocating one
  IOMMU_IOAS_MAP_WRITEABLE = 1u << 1,   // device may write
  IOMMU_IOAS_MAP_READABLE = 1u << 2,    // device may read
};

/// IOMMU_IOAS_MAP: map [user_va, user_va + length) at iova (chosen by the kernel
/// and returned unless IOMMU_IOAS_MAP_FIXED_IOVA is set).
struct iommu_ioas_map {
  __u32 size;
  __u32 flags;  // iommufd_ioas_map_flags
  __u32 ioas_id;
  __u32 __reserved;
  alignas(8) __u64 user_va;
  alignas(8) __u64 length;
  alignas(8) __u64 iova;
};

/// IOMMU_IOAS_COPY: map into dst_ioas_id the pages already mapped at src_iova in
/// src_ioas_id (the source range must match one earlier IOMMU_IOAS_MAP exactly).
struct iommu_ioas_copy {
  __u32 size;
  __u32 flags;  // iommufd_ioas_map_flags
  __u32 dst_ioas_id;
  __u32 src_ioas_id;
  alignas(8) __u64 length;
  alignas(8) __u64 dst_iova;
  alignas(8) __u64 src_iova;
};

/// IOMMU_IOAS_UNMAP: unmap whole earlier mappings covered by [iova, iova + length);
/// length returns the number of bytes unmapped. iova 0 / length UINT64_MAX unmaps all.
struct iommu_ioas_unmap {
  __u32 size;
  __u32 ioas_id;
  alignas(8) __u64 iova;
  alignas(8) __u64 length;
};

/// Option ids for IOMMU_OPTION.
enum iommufd_option : std::uint32_t {
  IOMMU_OPTION_RLIMIT_MODE = 0,  // global: 0 = per-user, 1 = per-process memlock accounting
  IOMMU_OPTION_HUGE_PAGES = 1,   // per IOAS: 1 = allow combining contiguous pages (default)
};

/// Operations for IOMMU_OPTION.
enum iommufd_option_ops : std::uint32_t {
  IOMMU_OPTION_OP_SET = 0,
  IOMMU_OPTION_OP_GET = 1,
};

/// IOMMU_OPTION: read or write one option of an object (object_id 0 for global ones).
struct iommu_option {
  __u32 size;
  __u32 option_id;  // iommufd_option
  __u16 op;         // iommufd_option_ops
  __u16 __reserved;
  __u32 object_id;
  alignas(8) __u64 val64;
};

/// Operations for IOMMU_VFIO_IOAS.
enum iommufd_vfio_ioas_op : std::uint32_t {
  IOMMU_VFIO_IOAS_GET = 0,
  IOMMU_VFIO_IOAS_SET = 1,
  IOMMU_VFIO_IOAS_CLEAR = 2,
};

/// IOMMU_VFIO_IOAS: get/set/clear the IOAS used by the VFIO container emulation.
struct iommu_vfio_ioas {
  __u32 size;
  __u32 ioas_id;
  __u16 op;  // iommufd_vfio_ioas_op
  __u16 __reserved;
};

// ------------------------------------------------------ hardware page tables

/// Flags for IOMMU_HWPT_ALLOC.
enum iommufd_hwpt_alloc_flags : std::uint32_t {
  IOMMU_HWPT_ALLOC_NEST_PARENT = 1u << 0,     // may serve as the parent of nested HWPTs
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1u << 1,  // require dirty tracking support
  IOMMU_HWPT_FAULT_ID_VALID = 1u << 2,        // fault_id names a fault queue
};

/// Attribute bits of iommu_hwpt_vtd_s1::flags.
enum iommu_hwpt_vtd_s1_flags : std::uint32_t {
  IOMMU_VTD_S1_SRE = 1u << 0,
  IOMMU_VTD_S1_EAFE = 1u << 1,
  IOMMU_VTD_S1_WPE = 1u << 2,
};

/// Intel VT-d stage-1 page table description (IOMMU_HWPT_DATA_VTD_S1).
struct iommu_hwpt_vtd_s1 {
  alignas(8) __u64 flags;  // iommu_hwpt_vtd_s1_flags
  alignas(8) __u64 pgtbl_addr;
  __u32 addr_width;
  __u32 __reserved;
};

/// Kind of driver data passed to IOMMU_HWPT_ALLOC.
enum iommu_hwpt_data_type : std::uint32_t {
  IOMMU_HWPT_DATA_NONE = 0,
  IOMMU_HWPT_DATA_VTD_S1 = 1,
};

/// IOMMU_HWPT_ALLOC: allocate a hardware page table for dev_id on top of pt_id
/// (an IOAS, or a parent HWPT for a nested one).
struct iommu_hwpt_alloc {
  __u32 size;
  __u32 flags;  // iommufd_hwpt_alloc_flags
  __u32 dev_id;
  __u32 pt_id;
  __u32 out_hwpt_id;
  __u32 __reserved;
  __u32 data_type;  // iommu_hwpt_data_type
  __u32 data_len;
  alignas(8) __u64 data_uptr;
  __u32 fault_id;  // read only with IOMMU_HWPT_FAULT_ID_VALID
  __u32 __reserved2;
};

/// Bits of iommu_hw_info_vtd::flags.
enum iommu_hw_info_vtd_flags : std::uint32_t {
  IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1u << 0,  // no read-only maps on a nest parent
};

/// Intel VT-d data returned by IOMMU_GET_HW_INFO (IOMMU_HW_INFO_TYPE_INTEL_VTD).
struct iommu_hw_info_vtd {
  __u32 flags;  // iommu_hw_info_vtd_flags
  __u32 __reserved;
  alignas(8) __u64 cap_reg;   // VT-d Capability Register
  alignas(8) __u64 ecap_reg;  // VT-d Extended Capability Register
};

/// Kind of driver data returned by IOMMU_GET_HW_INFO.
enum iommu_hw_info_type : std::uint32_t {
  IOMMU_HW_INFO_TYPE_NONE = 0,
  IOMMU_HW_INFO_TYPE_INTEL_VTD = 1,
};

/// Bits of iommu_hw_info::out_capabilities.
enum iommufd_hw_capabilities : std::uint32_t {
  // IOMMU_HWPT_SET_DIRTY_TRACKING and IOMMU_HWPT_GET_DIRTY_BITMAP are supported.
  IOMMU_HW_CAP_DIRTY_TRACKING = 1u << 0,
  // PCI PASID Execute permission supported (ignore when out_max_pasid_log2 is 0).
  IOMMU_HW_CAP_PCI_PASID_EXEC = 1u << 1,
  // PCI PASID Privileged mode supported (ignore when out_max_pasid_log2 is 0).
  IOMMU_HW_CAP_PCI_PASID_PRIV = 1u << 2,
};

/// IOMMU_GET_HW_INFO: describe the IOMMU behind a bound device; driver-specific
/// data is written to data_uptr (up to data_len bytes; data_len returns the full size).
/// (v6.12.0 had `__u32 __reserved` at offset 28; the 6.12.117 header splits it
/// into out_max_pasid_log2 and __reserved[3]. Same size and offsets otherwise; a
/// kernel without the field leaves that byte 0, i.e. "no PASID support".)
struct iommu_hw_info {
  __u32 size;
  __u32 flags;  // must be 0
  __u32 dev_id;
  __u32 data_len;
  alignas(8) __u64 data_uptr;
  __u32 out_data_type;                // iommu_hw_info_type
  __u8 out_max_pasid_log2;            // PASID width in bits; 0 = no PASID support
  __u8 __reserved[3];                 // must be 0
  alignas(8) __u64 out_capabilities;  // iommufd_hw_capabilities
};

/// Flags for IOMMU_HWPT_SET_DIRTY_TRACKING.
enum iommufd_hwpt_set_dirty_tracking_flags : std::uint32_t {
  IOMMU_HWPT_DIRTY_TRACKING_ENABLE = 1,
};

/// IOMMU_HWPT_SET_DIRTY_TRACKING: switch dirty tracking of a HWPT on or off.
struct iommu_hwpt_set_dirty_tracking {
  __u32 size;
  __u32 flags;  // iommufd_hwpt_set_dirty_tracking_flags
  __u32 hwpt_id;
  __u32 __reserved;
};

/// Flags for IOMMU_HWPT_GET_DIRTY_BITMAP.
enum iommufd_hwpt_get_dirty_bitmap_flags : std::uint32_t {
  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = 1,  // read without clearing the dirty bits
};

/// IOMMU_HWPT_GET_DIRTY_BITMAP: fill a bitmap (one bit per page_size page, from
/// iova) with the dirty state of [iova, iova + length).
struct iommu_hwpt_get_dirty_bitmap {
  __u32 size;
  __u32 hwpt_id;
  __u32 flags;  // iommufd_hwpt_get_dirty_bitmap_flags
  __u32 __reserved;
  alignas(8) __u64 iova;
  alignas(8) __u64 length;
  alignas(8) __u64 page_size;
  alignas(8) __u64 data;  // user pointer to the bitmap (u64 words)
};

/// Kind of the entries passed to IOMMU_HWPT_INVALIDATE.
enum iommu_hwpt_invalidate_data_type : std::uint32_t {
  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0,
};

/// Bits of iommu_hwpt_vtd_s1_invalidate::flags.
enum iommu_hwpt_vtd_s1_invalidate_flags : std::uint32_t {
  IOMMU_VTD_INV_FLAGS_LEAF = 1u << 0,  // leaf PTE cache only
};

/// One VT-d stage-1 invalidation request (4 KiB pages).
struct iommu_hwpt_vtd_s1_invalidate {
  alignas(8) __u64 addr;
  alignas(8) __u64 npages;
  __u32 flags;  // iommu_hwpt_vtd_s1_invalidate_flags
  __u32 __reserved;
};

/// IOMMU_HWPT_INVALIDATE: flush caches of a nested HWPT with an array of
/// entry_num driver-specific requests of entry_len bytes each.
struct iommu_hwpt_invalidate {
  __u32 size;
  __u32 hwpt_id;
  alignas(8) __u64 data_uptr;
  __u32 data_type;  // iommu_hwpt_invalidate_data_type
  __u32 entry_len;
  __u32 entry_num;  // in: requests given; out: requests handled
  __u32 __reserved;
};

// ------------------------------------------------------------ fault queues

/// Bits of iommu_hwpt_pgfault::flags.
enum iommu_hwpt_pgfault_flags : std::uint32_t {
  IOMMU_PGFAULT_FLAGS_PASID_VALID = 1u << 0,
  IOMMU_PGFAULT_FLAGS_LAST_PAGE = 1u << 1,
};

/// Bits of iommu_hwpt_pgfault::perm.
enum iommu_hwpt_pgfault_perm : std::uint32_t {
  IOMMU_PGFAULT_PERM_READ = 1u << 0,
  IOMMU_PGFAULT_PERM_WRITE = 1u << 1,
  IOMMU_PGFAULT_PERM_EXEC = 1u << 2,
  IOMMU_PGFAULT_PERM_PRIV = 1u << 3,
};

/// One page fault message read from a fault queue fd.
/// (v6.12.0 left the 4 bytes before `addr` as implicit padding; later 6.12.y
/// names them __reserved. The layout is the same on 64-bit targets.)
struct iommu_hwpt_pgfault {
  __u32 flags;  // iommu_hwpt_pgfault_flags
  __u32 dev_id;
  __u32 pasid;
  __u32 grpid;
  __u32 perm;  // iommu_hwpt_pgfault_perm
  __u32 __reserved;
  alignas(8) __u64 addr;
  __u32 length;
  __u32 cookie;
};

/// Response codes written back to a fault queue fd.
enum iommufd_page_response_code : std::uint32_t {
  IOMMUFD_PAGE_RESP_SUCCESS = 0,
  IOMMUFD_PAGE_RESP_INVALID = 1,
};

/// One page fault response written to a fault queue fd.
struct iommu_hwpt_page_response {
  __u32 cookie;
  __u32 code;  // iommufd_page_response_code
};

/// IOMMU_FAULT_QUEUE_ALLOC: create a fault queue; returns its object id and fd.
struct iommu_fault_alloc {
  __u32 size;
  __u32 flags;  // must be 0
  __u32 out_fault_id;
  __u32 out_fault_fd;
};

// ---------------------------------------------------------- request numbers

#ifndef IOMMU_DESTROY
inline constexpr unsigned long IOMMU_DESTROY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY);
#endif
#ifndef IOMMU_IOAS_ALLOC
inline constexpr unsigned long IOMMU_IOAS_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC);
#endif
#ifndef IOMMU_IOAS_ALLOW_IOVAS
inline constexpr unsigned long IOMMU_IOAS_ALLOW_IOVAS =
    _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOW_IOVAS);
#endif
#ifndef IOMMU_IOAS_COPY
inline constexpr unsigned long IOMMU_IOAS_COPY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_COPY);
#endif
#ifndef IOMMU_IOAS_IOVA_RANGES
inline constexpr unsigned long IOMMU_IOAS_IOVA_RANGES =
    _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_IOVA_RANGES);
#endif
#ifndef IOMMU_IOAS_MAP
inline constexpr unsigned long IOMMU_IOAS_MAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP);
#endif
#ifndef IOMMU_IOAS_UNMAP
inline constexpr unsigned long IOMMU_IOAS_UNMAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_UNMAP);
#endif
#ifndef IOMMU_OPTION
inline constexpr unsigned long IOMMU_OPTION = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_OPTION);
#endif
#ifndef IOMMU_VFIO_IOAS
inline constexpr unsigned long IOMMU_VFIO_IOAS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_VFIO_IOAS);
#endif
#ifndef IOMMU_HWPT_ALLOC
inline constexpr unsigned long IOMMU_HWPT_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_ALLOC);
#endif
#ifndef IOMMU_GET_HW_INFO
inline constexpr unsigned long IOMMU_GET_HW_INFO = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_GET_HW_INFO);
#endif
#ifndef IOMMU_HWPT_SET_DIRTY_TRACKING
inline constexpr unsigned long IOMMU_HWPT_SET_DIRTY_TRACKING =
    _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING);
#endif
#ifndef IOMMU_HWPT_GET_DIRTY_BITMAP
inline constexpr unsigned long IOMMU_HWPT_GET_DIRTY_BITMAP =
    _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP);
#endif
#ifndef IOMMU_HWPT_INVALIDATE
inline constexpr unsigned long IOMMU_HWPT_INVALIDATE =
    _IO(IOMMUFD_TYPE, IOMMUFD_CMD_HWPT_INVALIDATE);
#endif
#ifndef IOMMU_FAULT_QUEUE_ALLOC
inline constexpr unsigned long IOMMU_FAULT_QUEUE_ALLOC =
    _IO(IOMMUFD_TYPE, IOMMUFD_CMD_FAULT_QUEUE_ALLOC);
#endif

// ------------------------------------------------- ABI checks (x86-64 / LP64)

static_assert(IOMMUFD_TYPE == 0x3b);

static_assert(IOMMU_DESTROY == 0x3b80);
static_assert(IOMMU_IOAS_ALLOC == 0x3b81);
static_assert(IOMMU_IOAS_ALLOW_IOVAS == 0x3b82);
static_assert(IOMMU_IOAS_COPY == 0x3b83);
static_assert(IOMMU_IOAS_IOVA_RANGES == 0x3b84);
static_assert(IOMMU_IOAS_MAP == 0x3b85);
static_assert(IOMMU_IOAS_UNMAP == 0x3b86);
static_assert(IOMMU_OPTION == 0x3b87);
static_assert(IOMMU_VFIO_IOAS == 0x3b88);
static_assert(IOMMU_HWPT_ALLOC == 0x3b89);
static_assert(IOMMU_GET_HW_INFO == 0x3b8a);
static_assert(IOMMU_HWPT_SET_DIRTY_TRACKING == 0x3b8b);
static_assert(IOMMU_HWPT_GET_DIRTY_BITMAP == 0x3b8c);
static_assert(IOMMU_HWPT_INVALIDATE == 0x3b8d);
static_assert(IOMMU_FAULT_QUEUE_ALLOC == 0x3b8e);

// The kernel's enums are all unsigned int sized.
static_assert(sizeof(iommufd_ioas_map_flags) == 4 && sizeof(iommufd_option) == 4);
static_assert(sizeof(iommufd_option_ops) == 4 && sizeof(iommufd_vfio_ioas_op) == 4);
static_assert(sizeof(iommufd_hwpt_alloc_flags) == 4 && sizeof(iommu_hwpt_vtd_s1_flags) == 4);
static_assert(sizeof(iommu_hwpt_data_type) == 4 && sizeof(iommu_hw_info_vtd_flags) == 4);
static_assert(sizeof(iommu_hw_info_type) == 4 && sizeof(iommufd_hw_capabilities) == 4);
static_assert(sizeof(iommufd_hwpt_set_dirty_tracking_flags) == 4);
static_assert(sizeof(iommufd_hwpt_get_dirty_bitmap_flags) == 4);
static_assert(sizeof(iommu_hwpt_invalidate_data_type) == 4);
static_assert(sizeof(iommu_hwpt_vtd_s1_invalidate_flags) == 4);
static_assert(sizeof(iommu_hwpt_pgfault_flags) == 4 && sizeof(iommu_hwpt_pgfault_perm) == 4);
static_assert(sizeof(iommufd_page_response_code) == 4);

static_assert(sizeof(iommu_destroy) == 8);
static_assert(offsetof(iommu_destroy, id) == 4);

static_assert(sizeof(iommu_ioas_alloc) == 12);
static_assert(offsetof(iommu_ioas_alloc, flags) == 4);
static_assert(offsetof(iommu_ioas_alloc, out_ioas_id) == 8);

static_assert(sizeof(iommu_iova_range) == 16 && alignof(iommu_iova_range) == 8);
static_assert(offsetof(iommu_iova_range, last) == 8);

static_assert(sizeof(iommu_ioas_iova_ranges) == 32);
static_assert(offsetof(iommu_ioas_iova_ranges, ioas_id) == 4);
static_assert(offsetof(iommu_ioas_iova_ranges, num_iovas) == 8);
static_assert(offsetof(iommu_ioas_iova_ranges, __reserved) == 12);
static_assert(offsetof(iommu_ioas_iova_ranges, allowed_iovas) == 16);
static_assert(offsetof(iommu_ioas_iova_ranges, out_iova_alignment) == 24);

static_assert(sizeof(iommu_ioas_allow_iovas) == 24);
static_assert(offsetof(iommu_ioas_allow_iovas, num_iovas) == 8);
static_assert(offsetof(iommu_ioas_allow_iovas, allowed_iovas) == 16);

static_assert(sizeof(iommu_ioas_map) == 40);
static_assert(offsetof(iommu_ioas_map, flags) == 4);
static_assert(offsetof(iommu_ioas_map, ioas_id) == 8);
static_assert(offsetof(iommu_ioas_map, __reserved) == 12);
static_assert(offsetof(iommu_ioas_map, user_va) == 16);
static_assert(offsetof(iommu_ioas_map, length) == 24);
static_assert(offsetof(iommu_ioas_map, iova) == 32);

static_assert(sizeof(iommu_ioas_copy) == 40);
static_assert(offsetof(iommu_ioas_copy, dst_ioas_id) == 8);
static_assert(offsetof(iommu_ioas_copy, src_ioas_id) == 12);
static_assert(offsetof(iommu_ioas_copy, length) == 16);
static_assert(offsetof(iommu_ioas_copy, dst_iova) == 24);
static_assert(offsetof(iommu_ioas_copy, src_iova) == 32);

static_assert(sizeof(iommu_ioas_unmap) == 24);
static_assert(offsetof(iommu_ioas_unmap, ioas_id) == 4);
static_assert(offsetof(iommu_ioas_unmap, iova) == 8);
static_assert(offsetof(iommu_ioas_unmap, length) == 16);

static_assert(sizeof(iommu_option) == 24);
static_assert(offsetof(iommu_option, option_id) == 4);
static_assert(offsetof(iommu_option, op) == 8);
static_assert(offsetof(iommu_option, __reserved) == 10);
static_assert(offsetof(iommu_option, object_id) == 12);
static_assert(offsetof(iommu_option, val64) == 16);

static_assert(sizeof(iommu_vfio_ioas) == 12);
static_assert(offsetof(iommu_vfio_ioas, ioas_id) == 4);
static_assert(offsetof(iommu_vfio_ioas, op) == 8);
static_assert(offsetof(iommu_vfio_ioas, __reserved) == 10);

static_assert(sizeof(iommu_hwpt_vtd_s1) == 24);
static_assert(offsetof(iommu_hwpt_vtd_s1, pgtbl_addr) == 8);
static_assert(offsetof(iommu_hwpt_vtd_s1, addr_width) == 16);
static_assert(offsetof(iommu_hwpt_vtd_s1, __reserved) == 20);

static_assert(sizeof(iommu_hwpt_alloc) == 48);
static_assert(offsetof(iommu_hwpt_alloc, flags) == 4);
static_assert(offsetof(iommu_hwpt_alloc, dev_id) == 8);
static_assert(offsetof(iommu_hwpt_alloc, pt_id) == 12);
static_assert(offsetof(iommu_hwpt_alloc, out_hwpt_id) == 16);
static_assert(offsetof(iommu_hwpt_alloc, __reserved) == 20);
static_assert(offsetof(iommu_hwpt_alloc, data_type) == 24);
static_assert(offsetof(iommu_hwpt_alloc, data_len) == 28);
static_assert(offsetof(iommu_hwpt_alloc, data_uptr) == 32);
static_assert(offsetof(iommu_hwpt_alloc, fault_id) == 40);
static_assert(offsetof(iommu_hwpt_alloc, __reserved2) == 44);

static_assert(sizeof(iommu_hw_info_vtd) == 24);
static_assert(offsetof(iommu_hw_info_vtd, __reserved) == 4);
static_assert(offsetof(iommu_hw_info_vtd, cap_reg) == 8);
static_assert(offsetof(iommu_hw_info_vtd, ecap_reg) == 16);

static_assert(sizeof(iommu_hw_info) == 40);
static_assert(offsetof(iommu_hw_info, flags) == 4);
static_assert(offsetof(iommu_hw_info, dev_id) == 8);
static_assert(offsetof(iommu_hw_info, data_len) == 12);
static_assert(offsetof(iommu_hw_info, data_uptr) == 16);
static_assert(offsetof(iommu_hw_info, out_data_type) == 24);
static_assert(offsetof(iommu_hw_info, out_max_pasid_log2) == 28);
static_assert(offsetof(iommu_hw_info, __reserved) == 29 && sizeof(iommu_hw_info::__reserved) == 3);
static_assert(offsetof(iommu_hw_info, out_capabilities) == 32);

static_assert(sizeof(iommu_hwpt_set_dirty_tracking) == 16);
static_assert(offsetof(iommu_hwpt_set_dirty_tracking, flags) == 4);
static_assert(offsetof(iommu_hwpt_set_dirty_tracking, hwpt_id) == 8);
static_assert(offsetof(iommu_hwpt_set_dirty_tracking, __reserved) == 12);

static_assert(sizeof(iommu_hwpt_get_dirty_bitmap) == 48);
static_assert(offsetof(iommu_hwpt_get_dirty_bitmap, hwpt_id) == 4);
static_assert(offsetof(iommu_hwpt_get_dirty_bitmap, flags) == 8);
static_assert(offsetof(iommu_hwpt_get_dirty_bitmap, __reserved) == 12);
static_assert(offsetof(iommu_hwpt_get_dirty_bitmap, iova) == 16);
static_assert(offsetof(iommu_hwpt_get_dirty_bitmap, length) == 24);
static_assert(offsetof(iommu_hwpt_get_dirty_bitmap, page_size) == 32);
static_assert(offsetof(iommu_hwpt_get_dirty_bitmap, data) == 40);

static_assert(sizeof(iommu_hwpt_vtd_s1_invalidate) == 24);
static_assert(offsetof(iommu_hwpt_vtd_s1_invalidate, npages) == 8);
static_assert(offsetof(iommu_hwpt_vtd_s1_invalidate, flags) == 16);
static_assert(offsetof(iommu_hwpt_vtd_s1_invalidate, __reserved) == 20);

static_assert(sizeof(iommu_hwpt_invalidate) == 32);
static_assert(offsetof(iommu_hwpt_invalidate, hwpt_id) == 4);
static_assert(offsetof(iommu_hwpt_invalidate, data_uptr) == 8);
static_assert(offsetof(iommu_hwpt_invalidate, data_type) == 16);
static_assert(offsetof(iommu_hwpt_invalidate, entry_len) == 20);
static_assert(offsetof(iommu_hwpt_invalidate, entry_num) == 24);
static_assert(offsetof(iommu_hwpt_invalidate, __reserved) == 28);

static_assert(sizeof(iommu_hwpt_pgfault) == 40);
static_assert(offsetof(iommu_hwpt_pgfault, dev_id) == 4);
static_assert(offsetof(iommu_hwpt_pgfault, pasid) == 8);
static_assert(offsetof(iommu_hwpt_pgfault, grpid) == 12);
static_assert(offsetof(iommu_hwpt_pgfault, perm) == 16);
static_assert(offsetof(iommu_hwpt_pgfault, addr) == 24);
static_assert(offsetof(iommu_hwpt_pgfault, length) == 32);
static_assert(offsetof(iommu_hwpt_pgfault, cookie) == 36);

static_assert(sizeof(iommu_hwpt_page_response) == 8);
static_assert(offsetof(iommu_hwpt_page_response, code) == 4);

static_assert(sizeof(iommu_fault_alloc) == 16);
static_assert(offsetof(iommu_fault_alloc, out_fault_id) == 8);
static_assert(offsetof(iommu_fault_alloc, out_fault_fd) == 12);

}  // namespace uvfio::uapi
