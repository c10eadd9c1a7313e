// MemorySource: the memory an IOAS area makes visible to a device.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "uvfio/iommu/remote_memory.h"

namespace uvfio::iommu {

/// Describes memory to map into an IOAS. Three kinds:
///  - process memory: a pointer into this process; the caller keeps it valid while it is mapped
///    (the in-process analogue of the kernel pinning a user address range);
///  - a file: fd + offset, which the IOAS mmap()s (MAP_SHARED) itself; this is how vfio-user
///    clients hand memory over. The IOAS keeps its own mapping, the caller keeps the fd;
///  - remote memory: reached only through RemoteMemory's read/write callbacks (a vfio-user
///    client's memory mapped without an fd). Nothing is charged to the locked-memory account
///    (nothing is pinned here) and accesses cannot pin it.
/// The pages of one source are charged to the locked-memory account once, however many areas
/// (in however many IOASes) map them.
class MemorySource {
 public:
  static MemorySource process(void* addr, uint64_t length) { return {addr, -1, 0, length}; }
  static MemorySource file(int fd, uint64_t offset, uint64_t length) {
    return {nullptr, fd, offset, length};
  }
  /// `length` bytes of `memory`, from its offset 0.
  static MemorySource remote(std::shared_ptr<RemoteMemory> memory, uint64_t length) {
    MemorySource s{nullptr, -1, 0, length};
    s.remote_ = std::move(memory);
    return s;
  }

  bool is_file() const { return fd_ >= 0; }
  bool is_remote() const { return remote_ != nullptr; }
  const std::shared_ptr<RemoteMemory>& remote() const { return remote_; }
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
  std::shared_ptr<RemoteMemory> remote_;
};

}  // namespace uvfio::iommu
