// SystemFd: an fd opened through a VfioSystem, closed through it (RAII).
#pragma once

#include <memory>
#include <utility>

#include "uvfio/vfio/vfio_system.h"

namespace uvfio::driver::detail {

/// Owns one fd of a VfioSystem and keeps the system alive. Move-only; not thread-safe (the fd
/// number itself may be used from any thread).
class SystemFd {
 public:
  SystemFd() = default;
  SystemFd(std::shared_ptr<vfio::VfioSystem> sys, int fd) : sys_(std::move(sys)), fd_(fd) {}
  SystemFd(SystemFd&& o) noexcept : sys_(std::move(o.sys_)), fd_(std::exchange(o.fd_, -1)) {}
  SystemFd& operator=(SystemFd&& o) noexcept {
    if (this != &o) {
      reset();
      sys_ = std::move(o.sys_);
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  SystemFd(const SystemFd&) = delete;
  SystemFd& operator=(const SystemFd&) = delete;
  ~SystemFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  vfio::VfioSystem& sys() const { return *sys_; }
  const std::shared_ptr<vfio::VfioSystem>& system() const { return sys_; }
  void reset() {
    if (fd_ >= 0 && sys_) (void)sys_->close(fd_);
    fd_ = -1;
  }

 private:
  std::shared_ptr<vfio::VfioSystem> sys_;
  int fd_ = -1;
};

}  // namespace uvfio::driver::detail
