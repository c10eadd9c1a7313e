// VfioSystem: the system-call surface of VFIO — open/close/ioctl/pread/pwrite/mmap on file
// descriptors. The kernel answers it through real syscalls; uvfio's emulation answers it with its
// own files. Conformance scenarios and the driver-side library are written against this, so the
// same sequence of calls runs on either and must give the same results and errno.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace uvfio::vfio {

/// The privileges an opener holds (the kernel's capable() checks), and who it is, for the logs.
struct Credentials {
  bool cap_sys_rawio = false;     // needed for no-IOMMU groups and devices
  bool cap_sys_resource = false;  // IOMMU_OPTION(RLIMIT_MODE)
  bool cap_ipc_lock = false;      // locked memory not accounted
  std::string comm = "uvfio";
  int pid = 0;

  /// What a root process has.
  static Credentials privileged(std::string comm = "uvfio", int pid = 0) {
    return {true, true, true, std::move(comm), pid};
  }
};

/// VFIO's system calls. Each returns what the syscall would: >= 0 on success, -errno on failure
/// (never sets errno). Thread-safe.
class VfioSystem {
 public:
  virtual ~VfioSystem() = default;

  /// open(2) of a VFIO path: /dev/vfio/vfio, /dev/vfio/N, /dev/vfio/noiommu-N, /dev/iommu,
  /// /dev/vfio/devices/vfioX. Returns an fd.
  virtual int open(const std::string& path, int flags) = 0;
  virtual int close(int fd) = 0;
  /// ioctl(2); `arg` is the integer or the pointer (cast) the request takes.
  virtual long ioctl(int fd, unsigned long request, unsigned long arg) = 0;
  long ioctl(int fd, unsigned long request, void* arg) {
    return ioctl(fd, request, reinterpret_cast<unsigned long>(arg));
  }
  virtual ssize_t pread(int fd, void* buf, size_t count, uint64_t offset) = 0;
  virtual ssize_t pwrite(int fd, const void* buf, size_t count, uint64_t offset) = 0;
  /// mmap(2) of a device region; returns the address or a -errno cast to a pointer (as the
  /// kernel's do_mmap); check with mmap_failed().
  virtual void* mmap(int fd, size_t length, int prot, int flags, uint64_t offset) = 0;
  virtual int munmap(void* addr, size_t length) = 0;
  static bool mmap_failed(void* p) {
    return reinterpret_cast<uintptr_t>(p) >= static_cast<uintptr_t>(-4095);
  }

  /// Where this system's answers come from ("kernel", "emulated").
  virtual std::string kind() const = 0;
};

}  // namespace uvfio::vfio
