// EventFd: an owned eventfd used for interrupts and wake-ups.
#pragma once

#include <chrono>
#include <cstdint>

#include "uvfio/base/result.h"
#include "uvfio/base/unique_fd.h"

namespace uvfio {

/// Owns an eventfd (non-blocking, close-on-exec). signal() may be called from any thread.
class EventFd {
 public:
  /// A new eventfd, or the errno of eventfd(2).
  static Result<EventFd> create(unsigned initial = 0);
  /// Adopts an fd that is (expected to be) an eventfd.
  explicit EventFd(UniqueFd fd) : fd_(std::move(fd)) {}
  EventFd() = default;

  int fd() const { return fd_.get(); }
  bool valid() const { return fd_.valid(); }
  /// Adds `n` to the counter; 0 or errno.
  int signal(uint64_t n = 1) const;
  /// Reads and resets the counter; 0 if it was zero (non-blocking).
  uint64_t consume() const;
  /// Waits until the counter is non-zero and consumes it. The count, or ETIMEDOUT / errno.
  Result<uint64_t> wait(std::chrono::milliseconds timeout) const;

 private:
  UniqueFd fd_;
};

}  // namespace uvfio
