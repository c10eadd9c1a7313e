#include "driver/iommufd_dma.h"

#include "driver/checked_call.h"
#include "driver/dma_describe.h"
#include "uvfio/uapi/iommufd.h"

namespace uvfio::driver::detail {

using namespace uvfio::uapi;  // NOLINT(google-build-using-namespace): 6.1 vs 6.12 headers

IommufdDmaTransport::IommufdDmaTransport(SystemFd iommufd, uint32_t ioas_id, std::string target)
    : iommufd_(std::move(iommufd)), ioas_id_(ioas_id), target_(std::move(target)) {}

IommufdDmaTransport::Ranges IommufdDmaTransport::query() const {
  // num_iovas is the array's capacity in and the full count out; EMSGSIZE says "too small".
  // The set can change between two calls (a device attaches), hence the loop.
  std::vector<iommu_iova_range> arr(4);
  for (int attempt = 0; attempt < 8; ++attempt) {
    iommu_ioas_iova_ranges r{};
    r.size = sizeof r;
    r.ioas_id = ioas_id_;
    r.num_iovas = static_cast<uint32_t>(arr.size());
    r.allowed_iovas = reinterpret_cast<uint64_t>(arr.data());
    const long rc = iommufd_.sys().ioctl(iommufd_.get(), IOMMU_IOAS_IOVA_RANGES, &r);
    if (rc == -EMSGSIZE && r.num_iovas > arr.size() && r.num_iovas <= 65536) {
      arr.resize(r.num_iovas);
      continue;
    }
    checked(rc, "IOMMU_IOAS_IOVA_RANGES", target_);
    Ranges out;
    out.alignment = r.out_iova_alignment;
    for (uint32_t i = 0; i < r.num_iovas && i < arr.size(); ++i) {
      out.ranges.push_back({arr[i].start, arr[i].last});
    }
    return out;
  }
  throw Error("IOMMU_IOAS_IOVA_RANGES", target_, EMSGSIZE, "the range list kept growing");
}

std::vector<iommu::IovaRange> IommufdDmaTransport::iova_ranges() const {
  return query().ranges;
}

uint64_t IommufdDmaTransport::page_sizes() const {
  // iommufd reports one alignment; every power of two from it up is a usable page size.
  const uint64_t a = query().alignment;
  return a == 0 ? 0 : ~(a - 1);
}

uint64_t IommufdDmaTransport::map(const DmaRequest& req, std::optional<uint64_t> iova,
                                  uint64_t limit, uint64_t align) {
  std::lock_guard lock(mu_);
  iommu_ioas_map m{};
  m.size = sizeof m;
  m.flags = (req.readable ? IOMMU_IOAS_MAP_READABLE : 0u) |
            (req.writable ? IOMMU_IOAS_MAP_WRITEABLE : 0u);
  m.ioas_id = ioas_id_;
  m.user_va = reinterpret_cast<uint64_t>(req.va);
  m.length = req.length;
  if (!iova && limit != UINT64_MAX) {
    // The kernel's allocator knows no DMA mask: below a limit the library allocates itself.
    const auto ranges = query().ranges;
    iova = iovas_.find(ranges, req.length, align, limit);
    if (!iova) {
      throw Error("IOMMU_IOAS_MAP", target_, ENOSPC, describe_no_room(req.length, align, limit));
    }
  }
  if (iova) {
    m.flags |= IOMMU_IOAS_MAP_FIXED_IOVA;
    m.iova = *iova;
  }
  checked(iommufd_.sys().ioctl(iommufd_.get(), IOMMU_IOAS_MAP, &m), "IOMMU_IOAS_MAP", target_,
          iova ? describe_range(*iova, req.length)
               : fmt::format("{:#x} bytes, IOVA chosen by the IOAS", req.length));
  iovas_.insert(m.iova, req.length);
  return m.iova;
}

void IommufdDmaTransport::unmap(uint64_t iova, uint64_t length) {
  std::lock_guard lock(mu_);
  iommu_ioas_unmap u{};
  u.size = sizeof u;
  u.ioas_id = ioas_id_;
  u.iova = iova;
  u.length = length;
  checked(iommufd_.sys().ioctl(iommufd_.get(), IOMMU_IOAS_UNMAP, &u), "IOMMU_IOAS_UNMAP", target_,
          describe_range(iova, length));
  iovas_.erase(iova);
  if (u.length != length) {
    throw Error("IOMMU_IOAS_UNMAP", target_, EIO, describe_short_unmap(iova, length, u.length));
  }
}

}  // namespace uvfio::driver::detail
