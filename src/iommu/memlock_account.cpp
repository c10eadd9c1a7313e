#include "uvfio/iommu/memlock_account.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

#include "uvfio/base/fault_injection.h"

namespace uvfio::iommu {

std::shared_ptr<MemlockAccount> MemlockAccount::create(uint64_t limit) {
  return std::make_shared<MemlockAccount>(limit);
}

std::shared_ptr<MemlockAccount> MemlockAccount::create_from_rlimit() {
  rlimit rl{};
  uint64_t limit = kUnlimited;
  if (::getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) limit = rl.rlim_cur;
  return create(limit);
}

std::shared_ptr<MemlockAccount> MemlockAccount::process_default() {
  static const std::shared_ptr<MemlockAccount> account = create_from_rlimit();
  return account;
}

uint64_t MemlockAccount::host_page_size() {
  static const auto size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

uint64_t MemlockAccount::limit() const {
  std::lock_guard lk(mu_);
  return limit_;
}

void MemlockAccount::set_limit(uint64_t limit) {
  std::lock_guard lk(mu_);
  limit_ = limit;
}

uint64_t MemlockAccount::locked_bytes() const {
  std::lock_guard lk(mu_);
  return locked_pages_ * host_page_size();
}

// Pages of [first, last] not covered by any segment.
uint64_t MemlockAccount::uncovered(const Segments& s, uint64_t first, uint64_t last) {
  uint64_t covered = 0;
  auto it = s.upper_bound(first);
  if (it != s.begin()) --it;
  for (; it != s.end() && it->first <= last; ++it) {
    if (it->second.last < first) continue;
    uint64_t lo = std::max(it->first, first), hi = std::min(it->second.last, last);
    covered += hi - lo + 1;
  }
  return (last - first + 1) - covered;
}

// Splits the segment containing `at` (if any) so that a segment starts at `at`.
void MemlockAccount::split_at(Segments& s, uint64_t at) {
  auto it = s.upper_bound(at);
  if (it == s.begin()) return;
  --it;
  if (it->first == at || it->second.last < at) return;
  Segment tail{it->second.last, it->second.refs};
  it->second.last = at - 1;
  s.emplace(at, tail);
}

Result<void> MemlockAccount::charge(Key key, uint64_t first, uint64_t last) {
  if (fault::should_fail("memlock: charge")) return Errno{ENOMEM};
  std::lock_guard lk(mu_);
  Segments& s = keys_[key];
  uint64_t fresh = uncovered(s, first, last);
  if (fresh > 0 && limit_ != kUnlimited && locked_pages_ + fresh > limit_ / host_page_size()) {
    if (s.empty()) keys_.erase(key);
    return Errno{ENOMEM};  // as vfio_lock_acct / iopt_pages_update_pinned: nothing charged
  }
  split_at(s, first);
  if (last != UINT64_MAX) split_at(s, last + 1);
  uint64_t at = first;
  auto it = s.lower_bound(first);
  while (at <= last) {
    if (it != s.end() && it->first == at) {
      ++it->second.refs;
      if (it->second.last == last) break;
      at = it->second.last + 1;
      ++it;
      continue;
    }
    uint64_t gap_last = (it != s.end() && it->first <= last) ? it->first - 1 : last;
    it = std::next(s.emplace_hint(it, at, Segment{gap_last, 1}));
    if (gap_last == last) break;
    at = gap_last + 1;
  }
  locked_pages_ += fresh;
  return {};
}

void MemlockAccount::uncharge(Key key, uint64_t first, uint64_t last) {
  std::lock_guard lk(mu_);
  auto kit = keys_.find(key);
  if (kit == keys_.end()) return;
  Segments& s = kit->second;
  split_at(s, first);
  if (last != UINT64_MAX) split_at(s, last + 1);
  for (auto it = s.lower_bound(first); it != s.end() && it->first <= last;) {
    if (--it->second.refs == 0) {
      locked_pages_ -= it->second.last - it->first + 1;
      it = s.erase(it);
    } else {
      ++it;
    }
  }
  if (s.empty()) keys_.erase(kit);
}

}  // namespace uvfio::iommu
