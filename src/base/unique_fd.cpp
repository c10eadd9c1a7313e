#include "uvfio/base/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

namespace uvfio {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);  // close(2) errors are not actionable here
  fd_ = fd;
}

UniqueFd UniqueFd::dup() const {
  return UniqueFd(::fcntl(fd_, F_DUPFD_CLOEXEC, 0));
}

}  // namespace uvfio
