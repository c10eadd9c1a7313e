// Ioas: an IO address space, the user-space counterpart of iommufd's io_pagetable and of the
// type1 backend's mapping table. Every emulated device's DMA is translated through one.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "uvfio/base/result.h"
#include "uvfio/iommu/iova_range.h"
#include "uvfio/iommu/memlock_account.h"
#include "uvfio/iommu/memory_source.h"

namespace uvfio::iommu {

class Access;
struct IoasState;

/// Whose rules a call follows. The IOAS offers one mechanism; the front ends differ in
/// validation errno and in which unmaps they accept:
///  - kIommufd: IOMMU_IOAS_MAP/UNMAP/COPY (iopt_map_pages, iopt_unmap_iova_range);
///  - kType1v1 / kType1v2: VFIO_IOMMU_MAP_DMA/UNMAP_DMA of vfio_iommu_type1 (vfio_dma_do_map,
///    vfio_dma_do_unmap), v1 or v2 unmap semantics.
enum class Frontend { kIommufd, kType1v1, kType1v2 };

/// Map/copy flags; the values are iommufd's IOMMU_IOAS_MAP_*.
inline constexpr uint32_t kMapFixedIova = 1u << 0;
inline constexpr uint32_t kMapWrite = 1u << 1;
inline constexpr uint32_t kMapRead = 1u << 2;
inline constexpr uint32_t kMapFlagsMask = kMapFixedIova | kMapWrite | kMapRead;

/// Device permissions of an area.
inline constexpr uint32_t kPermRead = 1u << 0;
inline constexpr uint32_t kPermWrite = 1u << 1;

/// One mapping, as listed by Ioas::areas().
struct AreaInfo {
  uint64_t iova;
  uint64_t length;
  uint32_t perm;  // kPermRead | kPermWrite
  uint32_t pins;  // outstanding access pins on this area
};

/// Where unmap() reports dirty bits of the areas it removes (type1's UNMAP with
/// GET_DIRTY_BITMAP): bit n covers [base_iova + n*page_size, +page_size).
struct DirtySink {
  uint64_t base_iova;
  uint64_t page_size;
  std::span<uint64_t> bitmap;
};

struct IoasOptions {
  /// IOMMU page size: a power of two in [1 KiB, 1 GiB]. 4 KiB like x86; 2 KiB reproduces
  /// iommufd's mock domain, which exercises sub-host-page arithmetic.
  uint64_t page_size = 4096;
  /// Locked-memory account; null selects MemlockAccount::process_default().
  std::shared_ptr<MemlockAccount> account;
  /// Maximum number of areas, like type1's dma_entry_limit; ENOSPC beyond it. 0: no limit.
  uint32_t max_areas = 65535;
};

/// An IO address space. Thread-safety: map/unmap/copy and configuration calls may come from any
/// thread and are serialized internally; device threads translate and move data through an
/// Access without taking any lock shared with other devices (read sections; see Access).
class Ioas : public std::enable_shared_from_this<Ioas> {
 public:
  /// A new IOAS: EINVAL for a page size that is not a power of two in [1 KiB, 1 GiB], ENOMEM
  /// if its page table cannot be allocated.
  static Result<std::shared_ptr<Ioas>> create(const IoasOptions& options = {});
  ~Ioas();
  Ioas(const Ioas&) = delete;
  Ioas& operator=(const Ioas&) = delete;

  uint64_t page_size() const;
  const std::shared_ptr<MemlockAccount>& account() const;

  /// Maps `src` at `iova` (kMapFixedIova) or at an IOVA the IOAS chooses (honouring the length's
  /// and the source address's alignment, the allowed ranges and the reserved ranges). `flags`:
  /// kMapRead and/or kMapWrite (device permissions), kMapFixedIova. Returns the IOVA.
  /// Errors as the front end's kernel code: EINVAL (alignment, zero length, no permission, a
  /// reserved or disallowed IOVA), EOVERFLOW (iommufd) or EINVAL (type1) for iova+length past
  /// 2^64, EOPNOTSUPP (iommufd) / EINVAL (type1) for unknown flags, EEXIST (overlap), ENOSPC (no
  /// free IOVA, or max_areas reached), ENOMEM (locked-memory limit), EFAULT (source not mapped).
  /// Nothing is half-mapped on failure.
  Result<uint64_t> map(const MemorySource& src, uint64_t iova, uint32_t flags,
                       Frontend fe = Frontend::kIommufd);

  /// Unmaps [iova, iova+length) by the front end's rule; returns the bytes unmapped.
  /// Areas pinned by an access are first offered to the access's unmap callback, synchronously;
  /// the unmap completes only after the pins are dropped (EDEADLK if they never are).
  /// `dirty`, if given, receives the dirty bits of the removed areas.
  Result<uint64_t> unmap(uint64_t iova, uint64_t length, Frontend fe,
                         const DirtySink* dirty = nullptr);
  /// Unmaps everything; returns the bytes unmapped (0 if nothing was mapped).
  Result<uint64_t> unmap_all(Frontend fe = Frontend::kIommufd);

  /// Maps the memory behind [src_iova, src_iova+length) of `src` (this IOAS or another) at
  /// `dst_iova` (kMapFixedIova) or a chosen IOVA of this IOAS; no new pages are charged.
  /// ENOENT if the source range is not fully mapped, EPERM if kMapWrite is asked of memory the
  /// source cannot write, otherwise as map(). Returns the destination IOVA.
  Result<uint64_t> copy_from(Ioas& src, uint64_t src_iova, uint64_t length, uint64_t dst_iova,
                             uint32_t flags);

  /// Splits the area containing `iova` so that `iova` is the last byte of one area and the next
  /// byte the first of another, both over the same memory (iopt_area_split, as the iommufd
  /// compat layer's type1-v1 unmap needs). Atomic for devices: every access sees one area or the
  /// other, and dirty bits carry over. Nothing to do at an area's last byte or outside any area.
  /// EINVAL if `iova + 1` is not page aligned or an access pins the area, EBUSY while an unmap
  /// is tearing it down, ENOSPC at max_areas, ENOMEM.
  Result<void> split_at(uint64_t iova);

  /// The IOVA ranges a mapping may use: the complement of the reserved ranges.
  std::vector<IovaRange> iova_ranges() const;
  /// Restricts IOVAs the IOAS chooses itself to `ranges` (empty: no restriction), as
  /// IOMMU_IOAS_ALLOW_IOVAS. EINVAL for start > last or overlapping ranges, EADDRINUSE if one
  /// intersects a reserved range.
  Result<void> set_allowed_iovas(std::span<const IovaRange> ranges);
  std::vector<IovaRange> allowed_iovas() const;
  /// Reserves a range (an MSI window, a device's own decode range): no mapping may use it.
  /// EADDRINUSE if it intersects an area or an allowed range; EINVAL if start > last.
  Result<void> add_reserved(IovaRange range);
  /// Removes a range previously added by add_reserved() (ENOENT if none matches exactly).
  Result<void> remove_reserved(IovaRange range);

  std::vector<AreaInfo> areas() const;
  size_t area_count() const;
  /// How many more areas may be created (type1's DMA_AVAIL capability).
  uint32_t areas_available() const;
  uint32_t max_areas() const;
  void set_max_areas(uint32_t max);

  /// Dirty tracking: while enabled, writes through accesses (and pages pinned for writing) mark
  /// IOAS pages dirty.
  void set_dirty_tracking(bool enabled);
  bool dirty_tracking() const;
  /// Fills `bitmap` for [iova, iova+length) at `page_size` granularity (a power of two, at least
  /// the IOAS page size; iova and length aligned to it) and clears what it reported unless
  /// `clear` is false. Pages pinned for writing stay dirty. EINVAL for bad alignment/size,
  /// EOVERFLOW for wrap-around.
  Result<void> read_dirty(uint64_t iova, uint64_t length, uint64_t page_size,
                          std::span<uint64_t> bitmap, bool clear = true);

  IoasState& state() { return *state_; }

 private:
  explicit Ioas(const IoasOptions& options);
  std::unique_ptr<IoasState> state_;
};

}  // namespace uvfio::iommu
