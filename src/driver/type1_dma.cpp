#include "driver/type1_dma.h"

#include <linux/vfio.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "driver/checked_call.h"
#include "driver/dma_describe.h"
#include "driver/info_cap_chain.h"

namespace uvfio::driver::detail {

Type1DmaTransport::Type1DmaTransport(SystemFd container, SystemFd group, std::string target)
    : container_(std::move(container)), group_(std::move(group)), target_(std::move(target)) {}

Type1DmaTransport::~Type1DmaTransport() = default;

Type1DmaTransport::Info Type1DmaTransport::get_info() const {
  // Two calls: the first learns how big the capability chain is (the kernel raises argsz).
  std::vector<uint64_t> buf(sizeof(vfio_iommu_type1_info) / 8 + 1, 0);
  auto* info = reinterpret_cast<vfio_iommu_type1_info*>(buf.data());
  info->argsz = sizeof(vfio_iommu_type1_info);
  checked(container_.sys().ioctl(container_.get(), VFIO_IOMMU_GET_INFO, info),
          "VFIO_IOMMU_GET_INFO", target_);
  if (info->argsz > sizeof(vfio_iommu_type1_info)) {
    const uint32_t need = info->argsz;
    if (need > (1u << 20)) {
      throw Error("VFIO_IOMMU_GET_INFO", target_, EIO, "capability chain implausibly large");
    }
    buf.assign(need / 8 + 1, 0);
    info = reinterpret_cast<vfio_iommu_type1_info*>(buf.data());
    info->argsz = need;
    checked(container_.sys().ioctl(container_.get(), VFIO_IOMMU_GET_INFO, info),
            "VFIO_IOMMU_GET_INFO", target_);
  }
  Info out;
  out.pgsizes = (info->flags & VFIO_IOMMU_INFO_PGSIZES) != 0 ? info->iova_pgsizes : 0;
  const auto* bytes = reinterpret_cast<const uint8_t*>(buf.data());
  const size_t len = std::min<size_t>(info->argsz, buf.size() * 8);
  bool have_ranges = false;
  if ((info->flags & VFIO_IOMMU_INFO_CAPS) != 0) {
    for_each_info_cap(
        bytes, len, info->cap_offset,
        [&](uint16_t id, uint16_t /*version*/, size_t off, size_t cap_len) {
          // Ends in a flexible array: fields are read by offset (see region_info_query.cpp).
          constexpr size_t kRanges = offsetof(vfio_iommu_type1_info_cap_iova_range, iova_ranges);
          if (id != VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE || cap_len < kRanges) return;
          uint32_t nr_iovas = 0;
          std::memcpy(&nr_iovas,
                      bytes + off + offsetof(vfio_iommu_type1_info_cap_iova_range, nr_iovas),
                      sizeof nr_iovas);
          const size_t room = (cap_len - kRanges) / sizeof(vfio_iova_range);
          for (uint32_t i = 0; i < nr_iovas && i < room; ++i) {
            vfio_iova_range r{};
            std::memcpy(&r, bytes + off + kRanges + i * sizeof r, sizeof r);
            out.ranges.push_back({r.start, r.end});
          }
          have_ranges = true;
        });
  }
  // Kernels before 5.4 report no IOVA_RANGE capability: everything is usable as far as they say.
  if (!have_ranges) out.ranges.push_back({0, UINT64_MAX});
  return out;
}

std::vector<iommu::IovaRange> Type1DmaTransport::iova_ranges() const {
  return get_info().ranges;
}

uint64_t Type1DmaTransport::page_sizes() const {
  return get_info().pgsizes;
}

uint64_t Type1DmaTransport::map(const DmaRequest& req, std::optional<uint64_t> iova, uint64_t limit,
                                uint64_t align) {
  std::lock_guard lock(mu_);
  if (!iova) {
    // type1 has no allocator: the driver picks IOVAs itself from the advertised ranges.
    const auto ranges = get_info().ranges;
    iova = iovas_.find(ranges, req.length, align, limit);
    if (!iova) {
      throw Error("VFIO_IOMMU_MAP_DMA", target_, ENOSPC,
                  describe_no_room(req.length, align, limit));
    }
  }
  vfio_iommu_type1_dma_map m{};
  m.argsz = sizeof m;
  m.flags =
      (req.readable ? VFIO_DMA_MAP_FLAG_READ : 0u) | (req.writable ? VFIO_DMA_MAP_FLAG_WRITE : 0u);
  m.vaddr = reinterpret_cast<uint64_t>(req.va);
  m.iova = *iova;
  m.size = req.length;
  checked(container_.sys().ioctl(container_.get(), VFIO_IOMMU_MAP_DMA, &m), "VFIO_IOMMU_MAP_DMA",
          target_, describe_range(*iova, req.length));
  iovas_.insert(*iova, req.length);
  return *iova;
}

void Type1DmaTransport::unmap(uint64_t iova, uint64_t length) {
  std::lock_guard lock(mu_);
  vfio_iommu_type1_dma_unmap u{};
  u.argsz = sizeof u;
  u.iova = iova;
  u.size = length;
  checked(container_.sys().ioctl(container_.get(), VFIO_IOMMU_UNMAP_DMA, &u),
          "VFIO_IOMMU_UNMAP_DMA", target_, describe_range(iova, length));
  iovas_.erase(iova);
  if (u.size != length) {
    throw Error("VFIO_IOMMU_UNMAP_DMA", target_, EIO, describe_short_unmap(iova, length, u.size));
  }
}

}  // namespace uvfio::driver::detail
