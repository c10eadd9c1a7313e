// UniqueFd: sole owner of a file descriptor.
#pragma once

#include <utility>

namespace uvfio {

/// Owns one fd and closes it on destruction. Move-only. Not thread-safe.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(std::exchange(o.fd_, -1));
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  /// Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  /// Closes the current fd (if any) and takes ownership of `fd`.
  void reset(int fd = -1);
  /// A new owner of a duplicate (F_DUPFD_CLOEXEC); invalid with errno set on failure.
  UniqueFd dup() const;

 private:
  int fd_ = -1;
};

}  // namespace uvfio
