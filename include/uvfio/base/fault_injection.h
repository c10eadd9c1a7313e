// Fault injection, as the iommufd selftests' fail_nth: every allocation and system call on the
// emulation's map, unmap, attach, bind and open paths is a fault point, and a test can make the
// n-th one the calling thread reaches fail. Walking n = 1, 2, ... until an operation succeeds
// exercises every error path once.
#pragma once

namespace uvfio::fault {

/// Makes the n-th fault point (1-based) reached by this thread fail; 0 disarms.
void arm(unsigned n);
/// Disarms and returns how many fault points this thread reached since arm().
unsigned disarm();
/// True if the armed failure has been injected since arm().
bool injected();

namespace detail {
extern thread_local unsigned tl_countdown;  // 0: disarmed
bool hit(const char* site);
}  // namespace detail

/// A fault point. Returns true when the caller must fail here (as if the allocation or system
/// call at `site` had failed). One thread-local load when disarmed.
inline bool should_fail(const char* site) {
  return detail::tl_countdown != 0 && detail::hit(site);
}

/// RAII: arm for a scope.
class Armed {
 public:
  explicit Armed(unsigned n) { arm(n); }
  ~Armed() { disarm(); }
  Armed(const Armed&) = delete;
  Armed& operator=(const Armed&) = delete;
};

}  // namespace uvfio::fault
