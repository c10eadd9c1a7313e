// VFIO_DEVICE_GET_REGION_INFO for vfio-pci: the region layout (index << 40 offsets), the info
// capability chain builder (vfio_info_cap_add / vfio_info_cap_shift) and the ioctl's argsz dance.
#pragma once

#include <linux/vfio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "uvfio/base/result.h"

namespace uvfio::pci {

/// vfio-pci's region offsets: region `index` starts at index << 40 in the device fd
/// (VFIO_PCI_OFFSET_SHIFT, a kernel-internal constant every vfio-pci user relies on).
inline constexpr unsigned kRegionShift = 40;
inline constexpr uint64_t kRegionOffsetMask = (uint64_t{1} << kRegionShift) - 1;
constexpr uint64_t region_offset(unsigned index) {
  return uint64_t{index} << kRegionShift;
}
constexpr uint64_t region_index(uint64_t offset) {
  return offset >> kRegionShift;
}

/// An info capability chain (struct vfio_info_cap): capabilities appended in order, each padded
/// to 8 bytes (6.5+: "vfio: align capability structures") with `next` offsets relative to the
/// chain; placing it after the info struct shifts them. Not thread-safe (built per call).
class InfoCapChain {
 public:
  /// Appends a capability: a vfio_info_cap_header {id, version, next} followed by `body`.
  void add(uint16_t id, uint16_t version, std::span<const std::byte> body = {});
  bool empty() const { return buf_.empty(); }
  size_t size() const { return buf_.size(); }
  /// The chain as it is copied out at byte `base` of the user's buffer: every non-zero `next`
  /// grows by `base`, which must be 8-byte aligned (vfio_info_cap_shift).
  std::vector<std::byte> placed_at(size_t base) const;

 private:
  std::vector<std::byte> buf_;
  size_t last_ = 0;  // offset of the last capability's header
};

/// VFIO_REGION_INFO_CAP_SPARSE_MMAP (version 1): the mmap-able areas of a region.
void add_sparse_mmap_cap(InfoCapChain& chain, std::span<const vfio_region_sparse_mmap_area> areas);
/// VFIO_REGION_INFO_CAP_TYPE (version 1): a device-specific region's type and subtype.
void add_region_type_cap(InfoCapChain& chain, uint32_t type, uint32_t subtype);
/// VFIO_REGION_INFO_CAP_MSIX_MAPPABLE (version 1): the MSI-X table of this BAR may be mmapped.
void add_msix_mappable_cap(InfoCapChain& chain);

/// One region's answer, before it is copied out.
struct RegionDescription {
  uint32_t flags = 0;
  uint64_t size = 0;
  InfoCapChain caps;
};

/// vfio_pci_ioctl_get_region_info's frame around `describe`: copies in the 32-byte header
/// (-EFAULT for a bad pointer), EINVAL when argsz is below it, asks `describe(index)` (which
/// refuses an index with an errno), then writes back flags/size/offset and the capability chain:
/// if argsz cannot hold it, FLAG_CAPS is set, argsz becomes the size needed and cap_offset 0;
/// otherwise the chain follows the struct and cap_offset points at it. As in the kernel, a region
/// without capabilities leaves the caller's cap_offset as it was.
long region_info_ioctl(unsigned long arg,
                       const std::function<Result<RegionDescription>(uint32_t index)>& describe);

}  // namespace uvfio::pci
