// MemlockAccount: locked-memory accounting for mapped pages (the analogue of RLIMIT_MEMLOCK
// accounting in type1 and iommufd).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "uvfio/base/result.h"

namespace uvfio::iommu {

/// Counts the host pages mapped by every IOAS charged to it, each page of a memory source
/// counted once however many areas map it, against a limit. Shared by IOASes; thread-safe.
class MemlockAccount {
 public:
  static constexpr uint64_t kUnlimited = UINT64_MAX;

  /// Identity of a memory source's pages: {0,0} is this process's virtual memory (page index =
  /// address / page size); otherwise the file's st_dev/st_ino (page index = offset / page size).
  struct Key {
    uint64_t dev = 0;
    uint64_t ino = 0;
    auto operator<=>(const Key&) const = default;  // NOLINT(modernize-use-nullptr): tidy 14 bug
  };

  /// An account with `limit` bytes (kUnlimited for none).
  static std::shared_ptr<MemlockAccount> create(uint64_t limit);
  /// An account whose limit is this process's RLIMIT_MEMLOCK soft limit.
  static std::shared_ptr<MemlockAccount> create_from_rlimit();
  /// The process-wide default account (RLIMIT_MEMLOCK), used when an IOAS names none.
  static std::shared_ptr<MemlockAccount> process_default();

  explicit MemlockAccount(uint64_t limit) : limit_(limit) {}

  uint64_t limit() const;
  /// Changing the limit never unmaps anything; it applies to later charges.
  void set_limit(uint64_t limit);
  uint64_t locked_bytes() const;
  static uint64_t host_page_size();

  /// Charges host pages [first, last] of `key`; pages already charged are not counted again.
  /// ENOMEM (and nothing charged) if the newly counted pages would exceed the limit.
  Result<void> charge(Key key, uint64_t first_page, uint64_t last_page);
  /// Drops one reference to each page of [first, last] of `key` (the inverse of charge()).
  void uncharge(Key key, uint64_t first_page, uint64_t last_page);

 private:
  // Disjoint segments [start, last] of one key's pages with their reference counts.
  struct Segment {
    uint64_t last;
    uint64_t refs;
  };
  using Segments = std::map<uint64_t, Segment>;
  static uint64_t uncovered(const Segments& s, uint64_t first, uint64_t last);
  static void split_at(Segments& s, uint64_t at);

  mutable std::mutex mu_;
  uint64_t limit_;
  uint64_t locked_pages_ = 0;
  std::map<Key, Segments> keys_;
};

}  // namespace uvfio::iommu
