// KernelSystem: the VfioSystem answered by the running kernel, through real system calls on the
// real VFIO files (/dev/vfio/*, /dev/iommu). Calls on fds the emulation handed out mean nothing
// here: every fd is the process's own.
#pragma once

#include "uvfio/vfio/vfio_system.h"

namespace uvfio::vfio {

/// Thin syscall wrappers: each returns what the syscall returned, or -errno (errno is left as the
/// syscall set it). Thread-safe as the syscalls are.
class KernelSystem : public VfioSystem {
 public:
  int open(const std::string& path, int flags) override;
  int close(int fd) override;
  using VfioSystem::ioctl;
  long ioctl(int fd, unsigned long request, unsigned long arg) override;
  ssize_t pread(int fd, void* buf, size_t count, uint64_t offset) override;
  ssize_t pwrite(int fd, const void* buf, size_t count, uint64_t offset) override;
  void* mmap(int fd, size_t length, int prot, int flags, uint64_t offset) override;
  int munmap(void* addr, size_t length) override;
  std::string kind() const override { return "kernel"; }
};

}  // namespace uvfio::vfio
