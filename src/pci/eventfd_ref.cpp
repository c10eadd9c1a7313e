#include "pci/eventfd_ref.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>
#include <string_view>

namespace uvfio::pci {

namespace {

// What an fd is: anon-inode files all share one inode, so only the /proc link tells an eventfd
// from an epoll or timer fd. Yes / no, or unknown when /proc is not mounted.
enum class Kind { kEventfd, kOther, kUnknown };

Kind classify(int fd) {
  std::array<char, 64> link{};
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(path.c_str(), link.data(), link.size() - 1);
  if (n < 0) return Kind::kUnknown;
  return std::string_view(link.data(), static_cast<size_t>(n)) == "anon_inode:[eventfd]"
             ? Kind::kEventfd
             : Kind::kOther;
}

}  // namespace

Result<EventfdRef> EventfdRef::get(int fd) {
  if (fd < 0) return Errno{EBADF};
  // Duplicate first and classify the duplicate: the user's number could be closed and reused by
  // another thread in between, the duplicate cannot.
  UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!dup.valid()) return Errno{errno == EMFILE ? EMFILE : EBADF};
  // Without /proc the fd cannot be classified; accept it (a non-eventfd then fails its writes).
  if (classify(dup.get()) == Kind::kOther) return Errno{EINVAL};
  int fl = ::fcntl(dup.get(), F_GETFL);
  bool nonblocking = fl >= 0 && (fl & O_NONBLOCK) != 0;
  return EventfdRef(std::move(dup), nonblocking);
}

int EventfdRef::signal() const {
  if (!nonblocking_) {
    // A blocking eventfd's write stalls only when the counter is saturated: poll says so first.
    pollfd p{fd_.get(), POLLOUT, 0};
    if (::poll(&p, 1, 0) <= 0 || (p.revents & POLLOUT) == 0) return EAGAIN;
  }
  uint64_t one = 1;
  if (::write(fd_.get(), &one, sizeof one) != static_cast<ssize_t>(sizeof one)) return errno;
  return 0;
}

bool EventfdRef::consume() const {
  uint64_t v = 0;
  iovec io{&v, sizeof v};
  // RWF_NOWAIT reads an eventfd without blocking whatever the shared O_NONBLOCK flag says.
  ssize_t n = ::preadv2(fd_.get(), &io, 1, -1, RWF_NOWAIT);
  if (n < 0 && (errno == EOPNOTSUPP || errno == EINVAL)) {
    // Older kernels: only read what poll says is there.
    pollfd p{fd_.get(), POLLIN, 0};
    if (!nonblocking_ && (::poll(&p, 1, 0) <= 0 || (p.revents & POLLIN) == 0)) return false;
    n = ::read(fd_.get(), &v, sizeof v);
  }
  return n == static_cast<ssize_t>(sizeof v) && v != 0;
}

}  // namespace uvfio::pci
