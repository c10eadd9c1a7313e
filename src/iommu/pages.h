// Pages: the memory behind one or more areas (iommufd's iopt_pages). Immutable once created and
// shared by every area that maps it (copies share it), so its pages are charged once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "uvfio/base/mapping.h"
#include "uvfio/base/result.h"
#include "uvfio/iommu/memlock_account.h"
#include "uvfio/iommu/memory_source.h"

namespace uvfio::iommu {

class Pages {
 public:
  /// Validates `src` (EFAULT if process memory is not mapped; the mmap errno for a file),
  /// mmaps a file source and charges the account. `writable`: the device may write.
  static Result<std::shared_ptr<Pages>> create(const MemorySource& src, bool writable,
                                               std::shared_ptr<MemlockAccount> account);
  ~Pages();
  Pages(const Pages&) = delete;
  Pages& operator=(const Pages&) = delete;

  /// Host address of the first byte; nullptr for remote memory (use remote()).
  std::byte* base() const { return base_; }
  /// The memory's callbacks when it is remote (MemorySource::remote), else nullptr.
  RemoteMemory* remote() const { return remote_.get(); }
  uint64_t length() const { return length_; }
  bool writable() const { return writable_; }

 private:
  Pages() = default;
  std::byte* base_ = nullptr;  // host address of the source's first byte
  uint64_t length_ = 0;
  bool writable_ = false;
  Mapping mapping_;  // file sources only
  std::shared_ptr<RemoteMemory> remote_;
  std::shared_ptr<MemlockAccount> account_;
  MemlockAccount::Key key_;
  uint64_t first_page_ = 0, last_page_ = 0;  // charged host pages
};

}  // namespace uvfio::iommu
