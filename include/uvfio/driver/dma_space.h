// DmaSpace: the DMA address space of an opened device — what IOVAs it can use, and mapping
// buffers at chosen or allocated IOVAs (DmaMapping, RAII).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "uvfio/driver/dma_buffer.h"
#include "uvfio/iommu/iova_range.h"

namespace uvfio::driver {

namespace detail {
class DmaTransport;
struct DmaSpaceAccess;  // the library's transports reach a space's transport (shared spaces)
}  // namespace detail

/// How a DMA space is provided.
enum class DmaKind {
  kIommufd,   // an IOAS on /dev/iommu, the device attached to it
  kType1,     // a VFIO container with VFIO_TYPE1v2_IOMMU
  kNoIommu,   // no translation: bus addresses (unsafe)
  kVfioUser,  // a vfio-user device: the client is the IOMMU (DMA_MAP / DMA_UNMAP messages)
};

/// "iommufd", "type1v2", "noiommu", "vfio-user".
const char* dma_kind_name(DmaKind kind);

struct DmaMapOptions {
  /// Map at exactly this IOVA (page-aligned); absent: the library picks one.
  std::optional<uint64_t> iova;
  /// Highest IOVA the mapping may touch (inclusive): the device's DMA mask, e.g. 0x0fffffff for
  /// a 28-bit device. An allocated IOVA respects it; a fixed `iova` beyond it is refused (ERANGE).
  uint64_t iova_limit = UINT64_MAX;
  bool readable = true;  // the device may read the memory
  bool writable = true;  // the device may write it
};

/// One mapping; unmapped on destruction (errors logged, not thrown). Move-only. Keeps the DMA
/// space, and the DmaBuffer's memory when mapped from one, alive while it lives. The accessors
/// may be read from any thread; unmap() and destruction are the owner's (not thread-safe).
class DmaMapping {
 public:
  DmaMapping() = default;
  DmaMapping(DmaMapping&& o) noexcept;
  DmaMapping& operator=(DmaMapping&& o) noexcept;
  DmaMapping(const DmaMapping&) = delete;
  DmaMapping& operator=(const DmaMapping&) = delete;
  ~DmaMapping();

  bool valid() const { return dma_ != nullptr; }
  /// The address the device uses: the IOVA, or under no-IOMMU the bus address.
  uint64_t iova() const { return iova_; }
  uint64_t size() const { return size_; }
  /// The process address of the first mapped byte.
  void* data() const { return va_; }
  /// Unmaps now; throws driver::Error on failure (the mapping is then left as it was).
  void unmap();

 private:
  friend class DmaSpace;
  DmaMapping(std::shared_ptr<detail::DmaTransport> dma, std::shared_ptr<void> keep_alive, void* va,
             uint64_t iova, uint64_t size);
  /// unmap() for destructors: logs a failure and then keeps the memory alive for good, since
  /// the device may still reach it.
  void release() noexcept;

  std::shared_ptr<detail::DmaTransport> dma_;
  std::shared_ptr<void> keep_alive_;
  void* va_ = nullptr;
  uint64_t iova_ = 0;
  uint64_t size_ = 0;
};

/// The DMA space of one device; a cheap handle (copies share it). Thread-safe: map/unmap and
/// the queries may be called from any thread.
///
/// IOVA allocation: the library keeps its own allocator over iova_ranges() (type1 has no kernel
/// allocator; on iommufd the kernel's allocation is used when no limit is given and the
/// library's — with IOMMU_IOAS_MAP_FIXED_IOVA — when one is), first fit, aligned to the IOMMU
/// page size (or the buffer's huge page size when the IOMMU supports it), never at IOVA 0.
///
/// No-IOMMU: translates() is false; map() maps nothing and returns the bus address of the
/// memory. For emulated devices that is the process address; a kernel no-IOMMU device needs
/// physical addresses of pinned memory (/proc/self/pagemap), which the kernel transport will
/// supply through the same seam. A fixed `iova` other than the bus address, or a bus address
/// above `iova_limit`, is refused (EINVAL / ERANGE).
class DmaSpace {
 public:
  DmaKind kind() const;
  /// False under no-IOMMU: the device sees bus addresses and nothing protects memory.
  bool translates() const;
  /// Usable IOVA ranges (type1: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE; iommufd:
  /// IOMMU_IOAS_IOVA_RANGES); under no-IOMMU the whole 64-bit space.
  std::vector<iommu::IovaRange> iova_ranges() const;
  /// Supported IOMMU page sizes as a bitmap (type1's iova_pgsizes; iommufd: the IOAS's
  /// alignment and its multiples); under no-IOMMU the CPU page size.
  uint64_t page_sizes() const;
  /// The smallest supported page size: the alignment of every map argument.
  uint64_t page_size() const;

  /// Maps all of `buffer`.
  DmaMapping map(const DmaBuffer& buffer, const DmaMapOptions& options = {}) const;
  /// Maps [offset, offset+length) of `buffer` (page-aligned).
  DmaMapping map(const DmaBuffer& buffer, uint64_t offset, uint64_t length,
                 const DmaMapOptions& options = {}) const;
  /// Maps process memory the caller owns (page-aligned `va` and `length`), which must stay
  /// mapped until the DmaMapping is gone. On vfio-user there is no fd to pass for it, so the
  /// device's DMA to it travels as DMA_READ / DMA_WRITE messages (slow): prefer DmaBuffer.
  DmaMapping map_memory(void* va, uint64_t length, const DmaMapOptions& options = {}) const;

 private:
  friend class Device;
  friend struct detail::DmaSpaceAccess;
  explicit DmaSpace(std::shared_ptr<detail::DmaTransport> dma) : dma_(std::move(dma)) {}
  DmaMapping map_impl(void* va, uint64_t length, int fd, uint64_t fd_offset,
                      std::shared_ptr<void> keep_alive, uint64_t page,
                      const DmaMapOptions& o) const;
  std::shared_ptr<detail::DmaTransport> dma_;
};

}  // namespace uvfio::driver
