#include "driver/region_info_query.h"

#include <linux/vfio.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "driver/checked_call.h"
#include "driver/info_cap_chain.h"

namespace uvfio::driver::detail {

RegionInfo parse_region_info(const uint8_t* buf, size_t len) {
  RegionInfo out;
  vfio_region_info ri{};
  std::memcpy(&ri, buf, std::min(len, sizeof ri));
  out.index = ri.index;
  out.flags = ri.flags;
  out.size = ri.size;
  out.offset = ri.offset;
  if ((ri.flags & VFIO_REGION_INFO_FLAG_CAPS) == 0 || ri.cap_offset == 0) return out;
  for_each_info_cap(
      buf, len, ri.cap_offset,
      [&](uint16_t id, uint16_t /*version*/, size_t off, size_t cap_len) {
        out.capability_ids.push_back(id);
        switch (id) {
          case VFIO_REGION_INFO_CAP_SPARSE_MMAP: {
            // The structure ends in a flexible array: read its fields by offset, not as a
            // variable (zero-length arrays are an extension in C++).
            constexpr size_t kAreas = offsetof(vfio_region_info_cap_sparse_mmap, areas);
            if (cap_len < kAreas) break;
            uint32_t nr_areas = 0;
            std::memcpy(&nr_areas, buf + off + offsetof(vfio_region_info_cap_sparse_mmap, nr_areas),
                        sizeof nr_areas);
            const size_t room = (cap_len - kAreas) / sizeof(vfio_region_sparse_mmap_area);
            std::vector<SparseArea> areas;
            for (uint32_t i = 0; i < nr_areas && i < room; ++i) {
              vfio_region_sparse_mmap_area a{};
              std::memcpy(&a, buf + off + kAreas + i * sizeof a, sizeof a);
              areas.push_back({a.offset, a.size});
            }
            out.sparse_areas = std::move(areas);
            break;
          }
          case VFIO_REGION_INFO_CAP_TYPE: {
            if (cap_len < sizeof(vfio_region_info_cap_type)) break;
            vfio_region_info_cap_type ty{};
            std::memcpy(&ty, buf + off, sizeof ty);
            out.type = RegionType{ty.type, ty.subtype};
            break;
          }
          case VFIO_REGION_INFO_CAP_MSIX_MAPPABLE:
            out.msix_mappable = true;
            break;
          default:
            break;  // known to exist, not interpreted here
        }
      },
      sizeof(vfio_region_info));
  return out;
}

RegionInfo query_region_info(DeviceTransport& t, uint32_t index, const std::string& target) {
  const std::string detail = pci_region_name(index);
  std::vector<uint64_t> buf(sizeof(vfio_region_info) / 8 + 1, 0);
  auto* ri = reinterpret_cast<vfio_region_info*>(buf.data());
  ri->argsz = sizeof(vfio_region_info);
  ri->index = index;
  const long rc = t.ioctl(VFIO_DEVICE_GET_REGION_INFO, ri);
  if (rc == -EINVAL) {
    // vfio-pci answers EINVAL for a region the function does not have — the VGA region of a
    // non-VGA device (vfio_pci_ioctl_get_region_info) — rather than a zero size: absent.
    RegionInfo absent;
    absent.index = index;
    return absent;
  }
  checked(rc, "VFIO_DEVICE_GET_REGION_INFO", target, detail);
  if (ri->argsz > sizeof(vfio_region_info)) {
    // The chain did not fit: the device set argsz to what it needs; ask again with that much.
    const uint32_t need = ri->argsz;
    if (need > (1u << 20)) {
      throw Error("VFIO_DEVICE_GET_REGION_INFO", target, EIO,
                  detail + ": capability chain implausibly large");
    }
    buf.assign(need / 8 + 1, 0);
    ri = reinterpret_cast<vfio_region_info*>(buf.data());
    ri->argsz = need;
    ri->index = index;
    checked(t.ioctl(VFIO_DEVICE_GET_REGION_INFO, ri), "VFIO_DEVICE_GET_REGION_INFO", target,
            detail);
  }
  const size_t len = std::min<size_t>(ri->argsz, buf.size() * 8);
  return parse_region_info(reinterpret_cast<const uint8_t*>(buf.data()), len);
}

}  // namespace uvfio::driver::detail
