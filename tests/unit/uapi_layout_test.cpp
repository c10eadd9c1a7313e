// Layout and request-number checks for the hand-written kernel ABI in
// uvfio/uapi/: every expected number below is the Linux v6.12 value for
// x86-64, written out rather than derived from the code under test.
#include <gtest/gtest.h>

#include <linux/ioctl.h>
#include <linux/types.h>
#include <linux/vfio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "uvfio/uapi/iommufd.h"
#include "uvfio/uapi/vfio_cdev.h"

using namespace uvfio::uapi;

namespace {

// ---------------------------------------------------------------- compile time

// Request numbers: dir=none, size=0, type=';' (0x3b), nr = command.
static_assert(IOMMUFD_TYPE == 0x3b);
static_assert(IOMMUFD_CMD_BASE == 0x80 && IOMMUFD_CMD_DESTROY == 0x80);
static_assert(IOMMUFD_CMD_FAULT_QUEUE_ALLOC == 0x8e);
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

static_assert(VFIO_DEVICE_BIND_IOMMUFD == 0x3b76);
static_assert(VFIO_DEVICE_ATTACH_IOMMUFD_PT == 0x3b77);
static_assert(VFIO_DEVICE_DETACH_IOMMUFD_PT == 0x3b78);
static_assert(VFIO_MIG_GET_PRECOPY_INFO == 0x3b79);

// Cross-checks against the system <linux/vfio.h>.
static_assert(IOMMUFD_TYPE == VFIO_TYPE);
static_assert(VFIO_BASE == 100);
static_assert(VFIO_DEVICE_FEATURE == 0x3b75);  // VFIO_BASE + 17, the last 6.1 device ioctl
static_assert(VFIO_DEVICE_BIND_IOMMUFD == _IO(VFIO_TYPE, VFIO_BASE + 18));
static_assert(VFIO_DEVICE_ATTACH_IOMMUFD_PT == _IO(VFIO_TYPE, VFIO_BASE + 19));
static_assert(VFIO_DEVICE_DETACH_IOMMUFD_PT == _IO(VFIO_TYPE, VFIO_BASE + 20));
static_assert(VFIO_MIG_GET_PRECOPY_INFO == _IO(VFIO_TYPE, VFIO_BASE + 21));
static_assert(VFIO_DEVICE_BIND_IOMMUFD == VFIO_DEVICE_FEATURE + 1);
static_assert(VFIO_DEVICE_STATE_RUNNING_P2P == 5);  // 6.1 enum ends where PRE_COPY (6) starts
static_assert(VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT == 8);  // 6.1 ends where MIG_DATA_SIZE starts
static_assert(VFIO_DEVICE_FLAGS_CAPS == (1 << 7));           // CDX takes the next bit
static_assert(VFIO_DEVICE_INFO_CAP_ZPCI_PFIP == 4);          // ATOMIC_COMP takes the next id

// Flag and enum values.
static_assert(IOMMU_IOAS_MAP_FIXED_IOVA == 1 && IOMMU_IOAS_MAP_WRITEABLE == 2 &&
              IOMMU_IOAS_MAP_READABLE == 4);
static_assert(IOMMU_OPTION_RLIMIT_MODE == 0 && IOMMU_OPTION_HUGE_PAGES == 1);
static_assert(IOMMU_OPTION_OP_SET == 0 && IOMMU_OPTION_OP_GET == 1);
static_assert(IOMMU_VFIO_IOAS_GET == 0 && IOMMU_VFIO_IOAS_SET == 1 && IOMMU_VFIO_IOAS_CLEAR == 2);
static_assert(IOMMU_HWPT_ALLOC_NEST_PARENT == 1 && IOMMU_HWPT_ALLOC_DIRTY_TRACKING == 2 &&
              IOMMU_HWPT_FAULT_ID_VALID == 4);
static_assert(IOMMU_HWPT_DATA_NONE == 0 && IOMMU_HWPT_DATA_VTD_S1 == 1);
static_assert(IOMMU_HW_INFO_TYPE_NONE == 0 && IOMMU_HW_INFO_TYPE_INTEL_VTD == 1);
static_assert(IOMMU_HW_CAP_DIRTY_TRACKING == 1 && IOMMU_HW_CAP_PCI_PASID_EXEC == 2 &&
              IOMMU_HW_CAP_PCI_PASID_PRIV == 4);
static_assert(IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 == 1);
static_assert(IOMMU_HWPT_DIRTY_TRACKING_ENABLE == 1);
static_assert(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR == 1);
static_assert(IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 == 0 && IOMMU_VTD_INV_FLAGS_LEAF == 1);
static_assert(IOMMU_VTD_S1_SRE == 1 && IOMMU_VTD_S1_EAFE == 2 && IOMMU_VTD_S1_WPE == 4);
static_assert(IOMMU_PGFAULT_FLAGS_PASID_VALID == 1 && IOMMU_PGFAULT_FLAGS_LAST_PAGE == 2);
static_assert(IOMMU_PGFAULT_PERM_READ == 1 && IOMMU_PGFAULT_PERM_WRITE == 2 &&
              IOMMU_PGFAULT_PERM_EXEC == 4 && IOMMU_PGFAULT_PERM_PRIV == 8);
static_assert(IOMMUFD_PAGE_RESP_SUCCESS == 0 && IOMMUFD_PAGE_RESP_INVALID == 1);

// The kernel's enum types are unsigned int sized (values are non-negative).
static_assert(sizeof(iommufd_ioas_map_flags) == 4 && sizeof(iommufd_option) == 4 &&
              sizeof(iommufd_option_ops) == 4 && sizeof(iommufd_vfio_ioas_op) == 4);
static_assert(sizeof(iommufd_hwpt_alloc_flags) == 4 && sizeof(iommu_hwpt_vtd_s1_flags) == 4 &&
              sizeof(iommu_hwpt_data_type) == 4 && sizeof(iommu_hw_info_vtd_flags) == 4);
static_assert(sizeof(iommu_hw_info_type) == 4 && sizeof(iommufd_hw_capabilities) == 4);

static_assert(VFIO_DEVICE_FLAGS_CDX == 0x100);
static_assert(VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP == 5);
static_assert(VFIO_PCI_ATOMIC_COMP32 == 1 && VFIO_PCI_ATOMIC_COMP64 == 2 &&
              VFIO_PCI_ATOMIC_COMP128 == 4);
static_assert(VFIO_PCI_HOT_RESET_FLAG_DEV_ID == 1 && VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED == 2);
static_assert(VFIO_PCI_DEVID_OWNED == 0 && VFIO_PCI_DEVID_NOT_OWNED == -1);
static_assert(VFIO_MIGRATION_PRE_COPY == 4);
static_assert(VFIO_DEVICE_STATE_PRE_COPY == 6 && VFIO_DEVICE_STATE_PRE_COPY_P2P == 7 &&
              VFIO_DEVICE_STATE_NR == 8);
static_assert(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE == 9);
static_assert(VFIO_DEVICE_FEATURE_BUS_MASTER == 10);
static_assert(VFIO_DEVICE_FEATURE_CLEAR_MASTER == 0 && VFIO_DEVICE_FEATURE_SET_MASTER == 1);

// Sizes and offsets: iommufd.
static_assert(sizeof(iommu_destroy) == 8 && offsetof(iommu_destroy, id) == 4);
static_assert(sizeof(iommu_ioas_alloc) == 12 && offsetof(iommu_ioas_alloc, out_ioas_id) == 8);
static_assert(sizeof(iommu_iova_range) == 16 && offsetof(iommu_iova_range, last) == 8);
static_assert(sizeof(iommu_ioas_iova_ranges) == 32);
static_assert(offsetof(iommu_ioas_iova_ranges, allowed_iovas) == 16);
static_assert(offsetof(iommu_ioas_iova_ranges, out_iova_alignment) == 24);
static_assert(sizeof(iommu_ioas_allow_iovas) == 24);
static_assert(offsetof(iommu_ioas_allow_iovas, allowed_iovas) == 16);
static_assert(sizeof(iommu_ioas_map) == 40);
static_assert(offsetof(iommu_ioas_map, user_va) == 16 && offsetof(iommu_ioas_map, length) == 24 &&
              offsetof(iommu_ioas_map, iova) == 32);
static_assert(sizeof(iommu_ioas_copy) == 40);
static_assert(offsetof(iommu_ioas_copy, src_ioas_id) == 12 &&
              offsetof(iommu_ioas_copy, length) == 16 &&
              offsetof(iommu_ioas_copy, dst_iova) == 24 &&
              offsetof(iommu_ioas_copy, src_iova) == 32);
static_assert(sizeof(iommu_ioas_unmap) == 24);
static_assert(offsetof(iommu_ioas_unmap, iova) == 8 && offsetof(iommu_ioas_unmap, length) == 16);
static_assert(sizeof(iommu_option) == 24);
static_assert(offsetof(iommu_option, op) == 8 && offsetof(iommu_option, __reserved) == 10 &&
              offsetof(iommu_option, object_id) == 12 && offsetof(iommu_option, val64) == 16);
static_assert(sizeof(iommu_vfio_ioas) == 12 && offsetof(iommu_vfio_ioas, op) == 8);
static_assert(sizeof(iommu_hwpt_vtd_s1) == 24 && offsetof(iommu_hwpt_vtd_s1, addr_width) == 16);
static_assert(sizeof(iommu_hwpt_alloc) == 48);
static_assert(offsetof(iommu_hwpt_alloc, out_hwpt_id) == 16 &&
              offsetof(iommu_hwpt_alloc, data_type) == 24 &&
              offsetof(iommu_hwpt_alloc, data_uptr) == 32 &&
              offsetof(iommu_hwpt_alloc, fault_id) == 40 &&
              offsetof(iommu_hwpt_alloc, __reserved2) == 44);
static_assert(sizeof(iommu_hw_info_vtd) == 24 && offsetof(iommu_hw_info_vtd, cap_reg) == 8 &&
              offsetof(iommu_hw_info_vtd, ecap_reg) == 16);
static_assert(sizeof(iommu_hw_info) == 40);
static_assert(offsetof(iommu_hw_info, data_uptr) == 16 &&
              offsetof(iommu_hw_info, out_data_type) == 24 &&
              offsetof(iommu_hw_info, out_max_pasid_log2) == 28 &&
              offsetof(iommu_hw_info, __reserved) == 29 &&
              offsetof(iommu_hw_info, out_capabilities) == 32);
static_assert(sizeof(iommu_hw_info::out_max_pasid_log2) == 1 &&
              sizeof(iommu_hw_info::__reserved) == 3);
static_assert(sizeof(iommu_hwpt_set_dirty_tracking) == 16 &&
              offsetof(iommu_hwpt_set_dirty_tracking, hwpt_id) == 8);
static_assert(sizeof(iommu_hwpt_get_dirty_bitmap) == 48);
static_assert(offsetof(iommu_hwpt_get_dirty_bitmap, flags) == 8 &&
              offsetof(iommu_hwpt_get_dirty_bitmap, iova) == 16 &&
              offsetof(iommu_hwpt_get_dirty_bitmap, page_size) == 32 &&
              offsetof(iommu_hwpt_get_dirty_bitmap, data) == 40);
static_assert(sizeof(iommu_hwpt_vtd_s1_invalidate) == 24 &&
              offsetof(iommu_hwpt_vtd_s1_invalidate, flags) == 16);
static_assert(sizeof(iommu_hwpt_invalidate) == 32);
static_assert(offsetof(iommu_hwpt_invalidate, data_uptr) == 8 &&
              offsetof(iommu_hwpt_invalidate, entry_num) == 24);
static_assert(sizeof(iommu_hwpt_pgfault) == 40);
static_assert(offsetof(iommu_hwpt_pgfault, addr) == 24 &&
              offsetof(iommu_hwpt_pgfault, cookie) == 36);
static_assert(sizeof(iommu_hwpt_page_response) == 8);
static_assert(sizeof(iommu_fault_alloc) == 16 && offsetof(iommu_fault_alloc, out_fault_fd) == 12);

// Sizes and offsets: vfio cdev. The exact v6.12 sizes hold while our own
// definitions are in use (a newer system header may append fields).
#if !defined(VFIO_DEVICE_BIND_FLAG_TOKEN)
static_assert(sizeof(vfio_device_bind_iommufd) == 16);
#endif
#if !defined(VFIO_DEVICE_ATTACH_PASID)
static_assert(sizeof(vfio_device_attach_iommufd_pt) == 12);
#endif
#if !defined(VFIO_DEVICE_DETACH_PASID)
static_assert(sizeof(vfio_device_detach_iommufd_pt) == 8);
#endif
static_assert(offsetof(vfio_device_bind_iommufd, iommufd) == 8 &&
              offsetof(vfio_device_bind_iommufd, out_devid) == 12);
static_assert(offsetof(vfio_device_attach_iommufd_pt, pt_id) == 8);
static_assert(offsetof(vfio_device_detach_iommufd_pt, flags) == 4);
static_assert(sizeof(vfio_device_info_cap_pci_atomic_comp) == 16 &&
              offsetof(vfio_device_info_cap_pci_atomic_comp, flags) == 8);
static_assert(sizeof(vfio_precopy_info) == 24 && offsetof(vfio_precopy_info, dirty_bytes) == 16);
static_assert(sizeof(vfio_device_feature_mig_data_size) == 8);
static_assert(sizeof(vfio_device_feature_bus_master) == 4);

// The 6.1 structures we build on keep the v6.12 offsets.
static_assert(sizeof(::vfio_pci_dependent_device) == 8);
static_assert(offsetof(::vfio_pci_dependent_device, segment) == 4);
static_assert(offsetof(::vfio_pci_hot_reset_info, count) == 8);
static_assert(offsetof(::vfio_device_info, cap_offset) == 16);

// The structures are plain data: safe to memset/memcpy and hand to ioctl().
static_assert(std::is_standard_layout_v<iommu_ioas_map> && std::is_trivial_v<iommu_ioas_map>);
static_assert(std::is_standard_layout_v<iommu_hwpt_alloc> && std::is_trivial_v<iommu_hwpt_alloc>);
static_assert(std::is_standard_layout_v<vfio_device_bind_iommufd> &&
              std::is_trivial_v<vfio_device_bind_iommufd>);

// ---------------------------------------------------------------- helpers

template <typename T>
std::uint64_t load_at(const T& obj, std::size_t offset, std::size_t width) {
  std::array<unsigned char, sizeof(T)> bytes{};
  std::memcpy(bytes.data(), &obj, sizeof(T));
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) {
    v |= static_cast<std::uint64_t>(bytes[offset + i]) << (8 * i);  // x86-64: little endian
  }
  return v;
}

// ---------------------------------------------------------------- run time

TEST(UapiLayout, IommufdRequestNumbersDecode) {
  const unsigned long requests[] = {
      IOMMU_DESTROY,
      IOMMU_IOAS_ALLOC,
      IOMMU_IOAS_ALLOW_IOVAS,
      IOMMU_IOAS_COPY,
      IOMMU_IOAS_IOVA_RANGES,
      IOMMU_IOAS_MAP,
      IOMMU_IOAS_UNMAP,
      IOMMU_OPTION,
      IOMMU_VFIO_IOAS,
      IOMMU_HWPT_ALLOC,
      IOMMU_GET_HW_INFO,
      IOMMU_HWPT_SET_DIRTY_TRACKING,
      IOMMU_HWPT_GET_DIRTY_BITMAP,
      IOMMU_HWPT_INVALIDATE,
      IOMMU_FAULT_QUEUE_ALLOC,
  };
  unsigned long nr = 0x80;
  for (unsigned long req : requests) {
    EXPECT_EQ(_IOC_DIR(req), static_cast<unsigned long>(_IOC_NONE)) << std::hex << req;
    EXPECT_EQ(_IOC_SIZE(req), 0ul) << std::hex << req;
    EXPECT_EQ(_IOC_TYPE(req), 0x3bul) << std::hex << req;
    EXPECT_EQ(_IOC_NR(req), nr) << std::hex << req;
    ++nr;
  }
  EXPECT_EQ(nr, 0x8ful);  // FAULT_QUEUE_ALLOC (0x8e) is the last v6.12 command
  EXPECT_EQ(IOMMU_IOAS_MAP, 0x3b85ul);
  EXPECT_EQ(IOMMU_IOAS_UNMAP, 0x3b86ul);
  EXPECT_EQ(IOMMU_GET_HW_INFO, 0x3b8aul);
}

TEST(UapiLayout, VfioCdevRequestNumbersMatchSystemVfioBase) {
  EXPECT_EQ(VFIO_DEVICE_BIND_IOMMUFD, 0x3b76ul);
  EXPECT_EQ(VFIO_DEVICE_ATTACH_IOMMUFD_PT, 0x3b77ul);
  EXPECT_EQ(VFIO_DEVICE_DETACH_IOMMUFD_PT, 0x3b78ul);
  EXPECT_EQ(VFIO_MIG_GET_PRECOPY_INFO, 0x3b79ul);
  EXPECT_EQ(_IOC_TYPE(VFIO_DEVICE_BIND_IOMMUFD), static_cast<unsigned long>(VFIO_TYPE));
  EXPECT_EQ(_IOC_NR(VFIO_DEVICE_BIND_IOMMUFD), static_cast<unsigned long>(VFIO_BASE + 18));
  EXPECT_EQ(_IOC_NR(VFIO_DEVICE_ATTACH_IOMMUFD_PT), static_cast<unsigned long>(VFIO_BASE + 19));
  EXPECT_EQ(_IOC_NR(VFIO_DEVICE_DETACH_IOMMUFD_PT), static_cast<unsigned long>(VFIO_BASE + 20));
  EXPECT_EQ(_IOC_NR(VFIO_MIG_GET_PRECOPY_INFO), static_cast<unsigned long>(VFIO_BASE + 21));
  EXPECT_EQ(_IOC_SIZE(VFIO_DEVICE_BIND_IOMMUFD), 0ul);
  // The cdev ioctls continue right after the last device ioctl 6.1 knows.
  EXPECT_EQ(VFIO_DEVICE_BIND_IOMMUFD, static_cast<unsigned long>(VFIO_DEVICE_FEATURE) + 1);
  EXPECT_EQ(static_cast<unsigned long>(IOMMUFD_TYPE), static_cast<unsigned long>(VFIO_TYPE));
}

TEST(UapiLayout, IommufdStructSizes) {
  EXPECT_EQ(sizeof(iommu_destroy), 8u);
  EXPECT_EQ(sizeof(iommu_ioas_alloc), 12u);
  EXPECT_EQ(sizeof(iommu_iova_range), 16u);
  EXPECT_EQ(sizeof(iommu_ioas_iova_ranges), 32u);
  EXPECT_EQ(sizeof(iommu_ioas_allow_iovas), 24u);
  EXPECT_EQ(sizeof(iommu_ioas_map), 40u);
  EXPECT_EQ(sizeof(iommu_ioas_copy), 40u);
  EXPECT_EQ(sizeof(iommu_ioas_unmap), 24u);
  EXPECT_EQ(sizeof(iommu_option), 24u);
  EXPECT_EQ(sizeof(iommu_vfio_ioas), 12u);
  EXPECT_EQ(sizeof(iommu_hwpt_vtd_s1), 24u);
  EXPECT_EQ(sizeof(iommu_hwpt_alloc), 48u);
  EXPECT_EQ(sizeof(iommu_hw_info_vtd), 24u);
  EXPECT_EQ(sizeof(iommu_hw_info), 40u);
  EXPECT_EQ(sizeof(iommu_hwpt_set_dirty_tracking), 16u);
  EXPECT_EQ(sizeof(iommu_hwpt_get_dirty_bitmap), 48u);
  EXPECT_EQ(sizeof(iommu_hwpt_vtd_s1_invalidate), 24u);
  EXPECT_EQ(sizeof(iommu_hwpt_invalidate), 32u);
  EXPECT_EQ(sizeof(iommu_hwpt_pgfault), 40u);
  EXPECT_EQ(sizeof(iommu_hwpt_page_response), 8u);
  EXPECT_EQ(sizeof(iommu_fault_alloc), 16u);
}

TEST(UapiLayout, IommufdAlignedFieldsAreEightByteAligned) {
  EXPECT_EQ(alignof(iommu_iova_range), 8u);
  EXPECT_EQ(alignof(iommu_ioas_map), 8u);
  EXPECT_EQ(alignof(iommu_hwpt_alloc), 8u);
  EXPECT_EQ(alignof(iommu_hw_info), 8u);
  EXPECT_EQ(alignof(iommu_hwpt_pgfault), 8u);
  EXPECT_EQ(alignof(iommu_ioas_alloc), 4u);
  EXPECT_EQ(alignof(iommu_vfio_ioas), 4u);
}

TEST(UapiLayout, IoasMapFieldsLandAtKernelOffsets) {
  iommu_ioas_map m{};
  m.size = sizeof(m);
  m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE;
  m.ioas_id = 0x11223344;
  m.user_va = 0x00007f0000001000ull;
  m.length = 0x200000;
  m.iova = 0xfee00000ull;
  EXPECT_EQ(load_at(m, 0, 4), 40u);
  EXPECT_EQ(load_at(m, 4, 4), 5u);
  EXPECT_EQ(load_at(m, 8, 4), 0x11223344u);
  EXPECT_EQ(load_at(m, 12, 4), 0u);
  EXPECT_EQ(load_at(m, 16, 8), 0x00007f0000001000ull);
  EXPECT_EQ(load_at(m, 24, 8), 0x200000ull);
  EXPECT_EQ(load_at(m, 32, 8), 0xfee00000ull);
}

TEST(UapiLayout, OptionAndVfioIoasOffsets) {
  iommu_option o{};
  o.option_id = IOMMU_OPTION_HUGE_PAGES;
  o.op = IOMMU_OPTION_OP_GET;
  o.object_id = 7;
  o.val64 = 0x0102030405060708ull;
  EXPECT_EQ(load_at(o, 4, 4), 1u);
  EXPECT_EQ(load_at(o, 8, 2), 1u);
  EXPECT_EQ(load_at(o, 10, 2), 0u);
  EXPECT_EQ(load_at(o, 12, 4), 7u);
  EXPECT_EQ(load_at(o, 16, 8), 0x0102030405060708ull);

  iommu_vfio_ioas v{};
  v.ioas_id = 3;
  v.op = IOMMU_VFIO_IOAS_CLEAR;
  EXPECT_EQ(load_at(v, 4, 4), 3u);
  EXPECT_EQ(load_at(v, 8, 2), 2u);
}

TEST(UapiLayout, HwptAllocAndHwInfoOffsets) {
  EXPECT_EQ(offsetof(iommu_hwpt_alloc, dev_id), 8u);
  EXPECT_EQ(offsetof(iommu_hwpt_alloc, pt_id), 12u);
  EXPECT_EQ(offsetof(iommu_hwpt_alloc, out_hwpt_id), 16u);
  EXPECT_EQ(offsetof(iommu_hwpt_alloc, data_type), 24u);
  EXPECT_EQ(offsetof(iommu_hwpt_alloc, data_len), 28u);
  EXPECT_EQ(offsetof(iommu_hwpt_alloc, data_uptr), 32u);
  EXPECT_EQ(offsetof(iommu_hwpt_alloc, fault_id), 40u);
  EXPECT_EQ(offsetof(iommu_hw_info, dev_id), 8u);
  EXPECT_EQ(offsetof(iommu_hw_info, data_len), 12u);
  EXPECT_EQ(offsetof(iommu_hw_info, data_uptr), 16u);
  EXPECT_EQ(offsetof(iommu_hw_info, out_data_type), 24u);
  EXPECT_EQ(offsetof(iommu_hw_info, out_max_pasid_log2), 28u);
  EXPECT_EQ(offsetof(iommu_hw_info, __reserved), 29u);
  EXPECT_EQ(offsetof(iommu_hw_info, out_capabilities), 32u);
  EXPECT_EQ(offsetof(iommu_hw_info_vtd, cap_reg), 8u);
  EXPECT_EQ(offsetof(iommu_hw_info_vtd, ecap_reg), 16u);
  EXPECT_EQ(offsetof(iommu_hwpt_get_dirty_bitmap, hwpt_id), 4u);
  EXPECT_EQ(offsetof(iommu_hwpt_get_dirty_bitmap, flags), 8u);
  EXPECT_EQ(offsetof(iommu_hwpt_get_dirty_bitmap, length), 24u);
  EXPECT_EQ(offsetof(iommu_hwpt_get_dirty_bitmap, data), 40u);
  EXPECT_EQ(offsetof(iommu_ioas_unmap, iova), 8u);
  EXPECT_EQ(offsetof(iommu_ioas_copy, dst_iova), 24u);
  EXPECT_EQ(offsetof(iommu_ioas_iova_ranges, out_iova_alignment), 24u);
}

TEST(UapiLayout, HwInfoFieldsLandAtKernelOffsets) {
  iommu_hw_info h{};
  h.size = sizeof(h);
  h.dev_id = 0x55;
  h.data_len = 24;
  h.data_uptr = 0x00007f00deadb000ull;
  h.out_data_type = IOMMU_HW_INFO_TYPE_INTEL_VTD;
  h.out_max_pasid_log2 = 20;
  h.out_capabilities = IOMMU_HW_CAP_DIRTY_TRACKING | IOMMU_HW_CAP_PCI_PASID_PRIV;
  EXPECT_EQ(load_at(h, 0, 4), 40u);
  EXPECT_EQ(load_at(h, 8, 4), 0x55u);
  EXPECT_EQ(load_at(h, 12, 4), 24u);
  EXPECT_EQ(load_at(h, 16, 8), 0x00007f00deadb000ull);
  EXPECT_EQ(load_at(h, 24, 4), 1u);
  EXPECT_EQ(load_at(h, 28, 1), 20u);
  EXPECT_EQ(load_at(h, 29, 3), 0u);
  EXPECT_EQ(load_at(h, 32, 8), 5u);
}

TEST(UapiLayout, VfioCdevStructs) {
#if !defined(VFIO_DEVICE_BIND_FLAG_TOKEN)
  EXPECT_EQ(sizeof(vfio_device_bind_iommufd), 16u);
#endif
#if !defined(VFIO_DEVICE_ATTACH_PASID)
  EXPECT_EQ(sizeof(vfio_device_attach_iommufd_pt), 12u);
#endif
#if !defined(VFIO_DEVICE_DETACH_PASID)
  EXPECT_EQ(sizeof(vfio_device_detach_iommufd_pt), 8u);
#endif
  EXPECT_EQ(sizeof(vfio_device_info_cap_pci_atomic_comp), 16u);
  EXPECT_EQ(sizeof(vfio_precopy_info), 24u);
  EXPECT_EQ(sizeof(vfio_device_feature_mig_data_size), 8u);
  EXPECT_EQ(sizeof(vfio_device_feature_bus_master), 4u);

  vfio_device_bind_iommufd b{};
  b.argsz = 16;
  b.iommufd = -1;
  b.out_devid = 0xabcd;
  EXPECT_EQ(load_at(b, 0, 4), 16u);
  EXPECT_EQ(load_at(b, 4, 4), 0u);
  EXPECT_EQ(load_at(b, 8, 4), 0xffffffffu);
  EXPECT_EQ(load_at(b, 12, 4), 0xabcdu);

  vfio_device_attach_iommufd_pt a{};
  a.pt_id = 9;
  EXPECT_EQ(load_at(a, 8, 4), 9u);
}

TEST(UapiLayout, HotResetDevidSharesTheGroupIdSlot) {
  ::vfio_pci_dependent_device d{};
  d.group_id = static_cast<__u32>(VFIO_PCI_DEVID_NOT_OWNED);
  d.segment = 1;
  d.bus = 2;
  d.devfn = 3;
  EXPECT_EQ(vfio_pci_dependent_devid(d), 0xffffffffu);
  EXPECT_EQ(load_at(d, 0, 4), 0xffffffffu);
  EXPECT_EQ(load_at(d, 4, 2), 1u);
  EXPECT_EQ(load_at(d, 6, 1), 2u);
  EXPECT_EQ(load_at(d, 7, 1), 3u);
}

}  // namespace
