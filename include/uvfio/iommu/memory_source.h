// MemorySource: the memory an IOAS area makes visible to a device.
#pragma once

#include <cstdint>

namespace uvfio::iommu {

/// Describes memory to map into an IOAS. Two kinds:
///  - process memory: a pointer into this process; the caller keeps it valid while it is mapped
///    (the in-process analogue of the kernel pinning a user address range);
///  - a file: fd + offset, which the IOAS mmap()s (MAP_SHARED) itself; this is how vfio-user
///    clients hand memory over. The IOAS keeps its own mapping, the caller keeps the fd.
/// The pages of one source are charged to the locked-memory account once, however many areas
/// (in however many IOASes) map them.
class MemorySource {
 public:
  static MemorySource process(void* addr, uint64_t length) { return {addr, -1, 0, length}; }
  static MemorySource file(int fd, uint64_t offset, uint64_t length) {
    return {nullptr, fd, offset, length};
  }

  bool is_file() const { return fd_ >= 0; }
  void* addr() const { return addr_; }
  int fd() const { return fd_; }
  uint64_t offset() const { return offset_; }
  uint64_t length() const { return length_; }

 private:
  MemorySource(void* addr, int fd, uint64_t offset, uint64_t length)
      : addr_(addr), fd_(fd), offset_(offset), length_(length) {}
  void* addr_;
  int fd_;
  uint64_t offset_;
  uint64_t length_;
};

}  // namespace uvfio::iommu
