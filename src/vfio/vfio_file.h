// VfioFile: an emulated file behind an fd of the EmulatedSystem (container, group, device,
// iommufd). Methods answer as the kernel's file_operations do: >= 0 or -errno.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace uvfio::vfio {

class FdTable;

class VfioFile : public std::enable_shared_from_this<VfioFile> {
 public:
  virtual ~VfioFile() = default;
  /// `fds` is the caller's fd table (for ioctls that take or return fds).
  virtual long ioctl(FdTable& fds, unsigned long request, unsigned long arg) = 0;
  virtual ssize_t read(void* /*buf*/, size_t /*count*/, uint64_t /*offset*/) { return -EINVAL; }
  virtual ssize_t write(const void* /*buf*/, size_t /*count*/, uint64_t /*offset*/) {
    return -EINVAL;
  }
  /// Maps `length` bytes at `offset`; returns the address or -errno cast to a pointer.
  virtual void* mmap(size_t /*length*/, int /*prot*/, int /*flags*/, uint64_t /*offset*/) {
    return reinterpret_cast<void*>(-ENODEV);
  }
  /// The last reference to the file went away (the kernel's release()).
  virtual void release() {}

  /// File references, as the kernel's struct file count: each fd holds one, and so may other
  /// files (a device file holds its group's). release() runs when the last one is put.
  void get_ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void put_ref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) release();
  }

 private:
  std::atomic<int> refs_{0};
};

}  // namespace uvfio::vfio
