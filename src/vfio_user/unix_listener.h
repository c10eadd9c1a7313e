// UnixListener: the listening UNIX stream socket a device is served on — created at a path (and
// removed again), or adopted from an inherited fd — plus the checks for adopted sockets.
#pragma once

#include <string>

#include "uvfio/base/result.h"
#include "uvfio/base/unique_fd.h"

namespace uvfio::vfio_user {

/// Owns the socket and, when it created it, the socket file. Not thread-safe.
class UnixListener {
 public:
  /// A new listening socket bound at `path` (non-blocking, close-on-exec). A stale socket file
  /// (nobody accepts on it) is replaced; EADDRINUSE if a server answers there or the path is
  /// not a socket; ENAMETOOLONG beyond sun_path; errno of socket/bind/listen.
  static Result<UnixListener> bind(const std::string& path);
  /// Adopts an inherited listening socket: ENOTSOCK if it is no socket, EINVAL if it is not a
  /// listening AF_UNIX stream socket.
  static Result<UnixListener> adopt(UniqueFd fd);

  UnixListener() = default;
  UnixListener(UnixListener&& o) noexcept;
  UnixListener& operator=(UnixListener&& o) noexcept;
  /// Removes the socket file if we created it and it is still ours.
  ~UnixListener();

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  /// Accepts one pending connection (non-blocking, close-on-exec); EAGAIN when none.
  Result<UniqueFd> accept() const;

 private:
  void remove_file();

  UniqueFd fd_;
  std::string path_;  // set when we created the file
  unsigned long ino_ = 0;
  unsigned long dev_ = 0;
};

/// Checks that `fd` is a connected stream socket: ENOTSOCK / EINVAL.
Result<void> check_stream_socket(int fd);

}  // namespace uvfio::vfio_user
