#include "vfio_user/unix_listener.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace uvfio::vfio_user {
namespace {

Result<sockaddr_un> address_of(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty()) return Errno{EINVAL};
  if (path.size() >= sizeof(sa.sun_path)) return Errno{ENAMETOOLONG};
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  return sa;
}

int sock_opt(int fd, int opt) {
  int v = 0;
  socklen_t len = sizeof v;
  if (::getsockopt(fd, SOL_SOCKET, opt, &v, &len) != 0) return -1;
  return v;
}

}  // namespace

Result<UnixListener> UnixListener::bind(const std::string& path) {
  auto sa = address_of(path);
  if (!sa) return Errno{sa.error()};
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Errno{EADDRINUSE};  // never remove someone's file
    // A socket file: replace it only if nobody accepts there (a server that died).
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe) return Errno{errno};
    if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&*sa), sizeof(*sa)) == 0) {
      return Errno{EADDRINUSE};
    }
    if (errno != ECONNREFUSED) return Errno{EADDRINUSE};
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno{errno};
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Errno{errno};
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*sa), sizeof(*sa)) != 0) {
    return Errno{errno};
  }
  UnixListener l;
  l.fd_ = std::move(fd);
  l.path_ = path;
  if (::lstat(path.c_str(), &st) == 0) {
    l.ino_ = st.st_ino;
    l.dev_ = st.st_dev;
  }
  if (::listen(l.fd_.get(), 8) != 0) return Errno{errno};  // the destructor removes the file
  return l;
}

Result<UnixListener> UnixListener::adopt(UniqueFd fd) {
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) return Errno{EBADF};
  if (!S_ISSOCK(st.st_mode)) return Errno{ENOTSOCK};
  if (sock_opt(fd.get(), SO_DOMAIN) != AF_UNIX || sock_opt(fd.get(), SO_TYPE) != SOCK_STREAM ||
      sock_opt(fd.get(), SO_ACCEPTCONN) != 1) {
    return Errno{EINVAL};
  }
  const int fl = ::fcntl(fd.get(), F_GETFL);
  if (fl < 0 || ::fcntl(fd.get(), F_SETFL, fl | O_NONBLOCK) != 0) return Errno{errno};
  (void)::fcntl(fd.get(), F_SETFD, FD_CLOEXEC);
  UnixListener l;
  l.fd_ = std::move(fd);
  return l;
}

UnixListener::UnixListener(UnixListener&& o) noexcept
    : fd_(std::move(o.fd_)),
      path_(std::exchange(o.path_, {})),
      ino_(std::exchange(o.ino_, 0)),
      dev_(std::exchange(o.dev_, 0)) {}

UnixListener& UnixListener::operator=(UnixListener&& o) noexcept {
  if (this != &o) {
    remove_file();
    fd_ = std::move(o.fd_);
    path_ = std::exchange(o.path_, {});
    ino_ = std::exchange(o.ino_, 0);
    dev_ = std::exchange(o.dev_, 0);
  }
  return *this;
}

UnixListener::~UnixListener() {
  remove_file();
}

void UnixListener::remove_file() {
  if (path_.empty()) return;
  // Only the file we bound: another server may have replaced it since.
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == ino_ &&
      st.st_dev == dev_) {
    ::unlink(path_.c_str());
  }
  path_.clear();
}

Result<UniqueFd> UnixListener::accept() const {
  for (;;) {
    UniqueFd c(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (c) return c;
    if (errno == EINTR || errno == ECONNABORTED) continue;
    return Errno{errno == EWOULDBLOCK ? EAGAIN : errno};
  }
}

Result<void> check_stream_socket(int fd) {
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) return Errno{EBADF};
  if (!S_ISSOCK(st.st_mode)) return Errno{ENOTSOCK};
  if (sock_opt(fd, SO_TYPE) != SOCK_STREAM || sock_opt(fd, SO_ACCEPTCONN) == 1) {
    return Errno{EINVAL};
  }
  return {};
}

}  // namespace uvfio::vfio_user
