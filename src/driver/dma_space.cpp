#include "uvfio/driver/dma_space.h"

#include <utility>

#include <fmt/format.h>

#include "driver/transport.h"
#include "uvfio/base/log.h"
#include "uvfio/driver/error.h"

namespace uvfio::driver {

const char* dma_kind_name(DmaKind kind) {
  switch (kind) {
    case DmaKind::kIommufd:
      return "iommufd";
    case DmaKind::kType1:
      return "type1v2";
    case DmaKind::kNoIommu:
      return "noiommu";
    case DmaKind::kVfioUser:
      return "vfio-user";
  }
  return "?";
}

DmaMapping::DmaMapping(std::shared_ptr<detail::DmaTransport> dma, std::shared_ptr<void> keep_alive,
                       void* va, uint64_t iova, uint64_t size)
    : dma_(std::move(dma)), keep_alive_(std::move(keep_alive)), va_(va), iova_(iova), size_(size) {}

DmaMapping::DmaMapping(DmaMapping&& o) noexcept
    : dma_(std::move(o.dma_)),
      keep_alive_(std::move(o.keep_alive_)),
      va_(std::exchange(o.va_, nullptr)),
      iova_(std::exchange(o.iova_, 0)),
      size_(std::exchange(o.size_, 0)) {}

void DmaMapping::release() noexcept {
  try {
    unmap();
    return;
  } catch (const Error& e) {
    log_write(LogLevel::kWarn, "driver", e.what());
  } catch (...) {  // formatting the message failed; nothing more to say
  }
  // Still mapped: the device may DMA into the memory, so it must never be freed. Leak it.
  if (keep_alive_) new std::shared_ptr<void>(std::move(keep_alive_));  // NOLINT: deliberate leak
  dma_.reset();
  va_ = nullptr;
}

DmaMapping& DmaMapping::operator=(DmaMapping&& o) noexcept {
  if (this != &o) {
    release();
    dma_ = std::move(o.dma_);
    keep_alive_ = std::move(o.keep_alive_);
    va_ = std::exchange(o.va_, nullptr);
    iova_ = std::exchange(o.iova_, 0);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

DmaMapping::~DmaMapping() {
  release();
}

void DmaMapping::unmap() {
  if (!dma_) return;
  dma_->unmap(iova_, size_);
  // Only now may the memory go: the device can no longer reach it.
  dma_.reset();
  keep_alive_.reset();
  va_ = nullptr;
}

DmaKind DmaSpace::kind() const {
  return dma_->kind();
}
bool DmaSpace::translates() const {
  return dma_->translates();
}
std::vector<iommu::IovaRange> DmaSpace::iova_ranges() const {
  return dma_->iova_ranges();
}
uint64_t DmaSpace::page_sizes() const {
  return dma_->page_sizes();
}

uint64_t DmaSpace::page_size() const {
  const uint64_t sizes = page_sizes();
  return sizes == 0 ? 4096 : sizes & (~sizes + 1);  // the lowest set bit
}

DmaMapping DmaSpace::map(const DmaBuffer& buffer, const DmaMapOptions& options) const {
  return map(buffer, 0, buffer.size(), options);
}

DmaMapping DmaSpace::map(const DmaBuffer& buffer, uint64_t offset, uint64_t length,
                         const DmaMapOptions& options) const {
  if (!buffer.valid() || offset > buffer.size() || length > buffer.size() - offset) {
    throw Error("DMA map", dma_->target(), EINVAL,
                fmt::format("[{:#x}, +{:#x}) is outside the {:#x}-byte buffer", offset, length,
                            buffer.size()));
  }
  return map_impl(buffer.bytes() + offset, length, buffer.fd(), offset, buffer.memory(),
                  buffer.page_size(), options);
}

DmaMapping DmaSpace::map_memory(void* va, uint64_t length, const DmaMapOptions& options) const {
  return map_impl(va, length, -1, 0, nullptr, 0, options);
}

DmaMapping DmaSpace::map_impl(void* va, uint64_t length, int fd, uint64_t fd_offset,
                              std::shared_ptr<void> keep_alive, uint64_t page,
                              const DmaMapOptions& o) const {
  const uint64_t iommu_page = page_size();
  const auto addr = reinterpret_cast<uint64_t>(va);
  const std::string op = "DMA map";
  if (length == 0 || addr % iommu_page != 0 || length % iommu_page != 0) {
    throw Error(op, dma_->target(), EINVAL,
                fmt::format("address {:#x} and length {:#x} must be non-zero multiples of the "
                            "IOMMU page size {:#x}",
                            addr, length, iommu_page));
  }
  if (o.iova) {
    if (*o.iova % iommu_page != 0 || length - 1 > UINT64_MAX - *o.iova) {
      throw Error(op, dma_->target(), EINVAL,
                  fmt::format("IOVA {:#x} is not page-aligned or the range wraps", *o.iova));
    }
    if (*o.iova + (length - 1) > o.iova_limit) {
      throw Error(op, dma_->target(), ERANGE,
                  fmt::format("IOVAs {:#x}..{:#x} exceed the limit {:#x}", *o.iova,
                              *o.iova + (length - 1), o.iova_limit));
    }
  }
  // A huge-page buffer gets a huge-page-aligned IOVA when the IOMMU has that page size, so it
  // can be mapped with large IOMMU pages.
  uint64_t align = iommu_page;
  if (page > align && (page_sizes() & page) != 0) align = page;
  detail::DmaRequest req;
  req.va = va;
  req.length = length;
  req.fd = fd;
  req.fd_offset = fd_offset;
  req.readable = o.readable;
  req.writable = o.writable;
  const uint64_t iova = dma_->map(req, o.iova, o.iova_limit, align);
  return {dma_, std::move(keep_alive), va, iova, length};
}

}  // namespace uvfio::driver
