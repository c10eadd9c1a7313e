#include "uvfio/base/fault_injection.h"

#include "base/log_format.h"

namespace uvfio::fault {
namespace detail {

thread_local unsigned tl_countdown = 0;
namespace {
thread_local unsigned tl_reached = 0;
thread_local bool tl_injected = false;
}  // namespace

bool hit(const char* site) {
  ++tl_reached;
  if (--tl_countdown != 0) return false;
  tl_injected = true;
  log_debug("fault", "injected failure at {} (fault point {})", site, tl_reached);
  return true;
}

}  // namespace detail

void arm(unsigned n) {
  detail::tl_countdown = n;
  detail::tl_reached = 0;
  detail::tl_injected = false;
}

unsigned disarm() {
  detail::tl_countdown = 0;
  return detail::tl_reached;
}

bool injected() {
  return detail::tl_injected;
}

}  // namespace uvfio::fault
