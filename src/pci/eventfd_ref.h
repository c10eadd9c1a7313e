// EventfdRef: vfio-pci's hold on an eventfd the user passed in SET_IRQS, as the kernel's
// eventfd_ctx_fdget() takes a reference on the eventfd context. The fd is dup()ed, so the user
// may close its own number at once and uvfio never writes to an fd number the user reused.
#pragma once

#include <cstdint>

#include "uvfio/base/result.h"
#include "uvfio/base/unique_fd.h"

namespace uvfio::pci {

/// Owns a duplicate of a user's eventfd. Move-only; signal() and consume() may be called from any
/// thread (they are single syscalls on an fd that stays open as long as the object lives).
class EventfdRef {
 public:
  /// A reference on the eventfd behind `fd` (eventfd_ctx_fdget): EBADF when `fd` is not an open
  /// file descriptor, EINVAL when it is open but not an eventfd.
  static Result<EventfdRef> get(int fd);

  EventfdRef(EventfdRef&&) noexcept = default;
  EventfdRef& operator=(EventfdRef&&) noexcept = default;
  EventfdRef(const EventfdRef&) = delete;
  EventfdRef& operator=(const EventfdRef&) = delete;
  ~EventfdRef() = default;

  /// Adds 1 to the counter (eventfd_signal). Never blocks: the dup shares the user's file status
  /// flags, so on a blocking eventfd whose counter is saturated the signal is dropped (EAGAIN)
  /// rather than stalling a device thread; the kernel's in-kernel signal saturates instead.
  /// 0 or errno.
  int signal() const;
  /// Reads and clears the counter without blocking (eventfd_ctx_do_read); true if it was non-zero.
  bool consume() const;
  /// The duplicate's fd number (for poll()).
  int fd() const { return fd_.get(); }

 private:
  EventfdRef(UniqueFd fd, bool nonblocking) : fd_(std::move(fd)), nonblocking_(nonblocking) {}
  UniqueFd fd_;
  bool nonblocking_ = false;  // O_NONBLOCK at get() time: a plain write cannot block
};

}  // namespace uvfio::pci
