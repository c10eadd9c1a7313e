// Access: a non-device user of an IOAS, i.e. an emulated device's DMA engine (the user-space
// counterpart of iommufd_access and of the type1 pinned-page users).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "uvfio/base/result.h"
#include "uvfio/iommu/ioas.h"

namespace uvfio::iommu {

/// Flag for read/write/pin: the device writes (checks kPermWrite, marks pages dirty).
inline constexpr uint32_t kAccessWrite = 1u << 0;

/// A host-contiguous piece of a pinned IOVA range.
struct PinnedSegment {
  std::byte* host;
  uint64_t length;
};

/// What translate() found at an IOVA.
struct Translation {
  uint64_t area_iova;   // first IOVA of the area containing the address
  uint64_t contiguous;  // bytes mapped from the address to the end of that area
  uint32_t perm;        // kPermRead | kPermWrite
};

/// A device's view of an IOAS. Shared by the device model and the IOAS's unmap path;
/// read/write/translate may be called concurrently from several device threads and never take a
/// lock shared with map/unmap; pin/unpin/attach/detach are serialized internally.
class Access {
 public:
  /// Called synchronously by an unmap that covers pinned pages of this access, from the
  /// unmapping thread and with no IOAS lock held. It must unpin every range it pinned inside
  /// [iova, iova+length) before returning; the unmap retries until it has.
  using UnmapCallback = std::function<void(uint64_t iova, uint64_t length)>;

  static std::shared_ptr<Access> create(UnmapCallback on_unmap = {});
  ~Access();
  Access(const Access&) = delete;
  Access& operator=(const Access&) = delete;

  /// Attaches to an IOAS. EINVAL if already attached.
  Result<void> attach(const std::shared_ptr<Ioas>& ioas);
  /// Moves to another IOAS. EINVAL if not attached, EBUSY while pins are held.
  Result<void> replace(const std::shared_ptr<Ioas>& ioas);
  /// Detaches. EBUSY while pins are held (unpin first), EINVAL if not attached.
  Result<void> detach();
  std::shared_ptr<Ioas> ioas() const;

  /// Copies device memory at [iova, iova+length) into `dst`. The whole range is checked before
  /// anything is copied: ENOENT if any byte is unmapped, EPERM without kPermRead, EINVAL with no
  /// IOAS attached or length 0, EOVERFLOW on wrap-around. Nothing outside the areas is touched.
  /// Parts in remote memory (MemorySource::remote) are copied through its callbacks after the
  /// local parts, outside any lock (they may block); a failing callback's errno is returned and
  /// the parts before it stay copied.
  Result<void> read(uint64_t iova, void* dst, size_t length);
  /// Copies `src` into device memory (needs kPermWrite; marks pages dirty). Errors as read().
  Result<void> write(uint64_t iova, const void* src, size_t length);
  /// Looks up one IOVA: which area, how many bytes are contiguous, with which permission.
  /// ENOENT if unmapped. The answer may be stale as soon as it returns (use pin() to hold memory).
  Result<Translation> translate(uint64_t iova);

  /// Pins [iova, iova+length) (page-aligned) and returns stable host pointers to it, valid until
  /// unpin() — which an unmap of that range will ask for through the unmap callback.
  /// kAccessWrite requires kPermWrite (EPERM). EINVAL for misalignment or zero length, ENOENT if
  /// not fully mapped, EBUSY if an unmap of the range is in progress, EFAULT if part of it is
  /// remote memory (it has no host address to hold).
  Result<std::vector<PinnedSegment>> pin(uint64_t iova, uint64_t length, uint32_t flags);
  /// Drops a pin made by pin() with the same iova and length. EINVAL if there is none.
  Result<void> unpin(uint64_t iova, uint64_t length);
  /// Number of outstanding pins.
  size_t pin_count() const;

  struct Core;

 private:
  Access() = default;
  std::shared_ptr<Core> core_;
};

}  // namespace uvfio::iommu
