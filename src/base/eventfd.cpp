#include "uvfio/base/eventfd.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace uvfio {

Result<EventFd> EventFd::create(unsigned initial) {
  int fd = ::eventfd(initial, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return Errno{errno};
  return EventFd(UniqueFd(fd));
}

int EventFd::signal(uint64_t n) const {
  if (::write(fd_.get(), &n, sizeof n) != static_cast<ssize_t>(sizeof n)) return errno;
  return 0;
}

uint64_t EventFd::consume() const {
  uint64_t v = 0;
  if (::read(fd_.get(), &v, sizeof v) != static_cast<ssize_t>(sizeof v)) return 0;
  return v;
}

Result<uint64_t> EventFd::wait(std::chrono::milliseconds timeout) const {
  pollfd p{fd_.get(), POLLIN, 0};
  for (;;) {
    int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Errno{errno};
    if (r == 0) return Errno{ETIMEDOUT};
    uint64_t v = consume();
    if (v != 0) return v;
    // Another reader consumed it first: keep waiting (timeout restarts; acceptable for wake-ups).
  }
}

}  // namespace uvfio
