// FileIoMemory: a client's DMA window passed as an fd to be accessed with pread/pwrite rather
// than mmap (DMA_MAP's file-I/O access mode, e.g. /proc/PID/mem).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "uvfio/base/unique_fd.h"
#include "uvfio/iommu/remote_memory.h"

namespace uvfio::vfio_user {

/// Owns the fd; immutable; pread/pwrite are safe from several device threads at once.
class FileIoMemory final : public iommu::RemoteMemory {
 public:
  FileIoMemory(UniqueFd fd, uint64_t offset) : fd_(std::move(fd)), offset_(offset) {}
  int read(uint64_t offset, void* dst, size_t len) override { return io(false, offset, dst, len); }
  int write(uint64_t offset, const void* src, size_t len) override {
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): only read by pwrite
    return io(true, offset, const_cast<void*>(src), len);
  }

 private:
  int io(bool write, uint64_t offset, void* buf, size_t len) const {
    auto* p = static_cast<char*>(buf);
    for (size_t done = 0; done < len;) {
      const auto at = static_cast<off_t>(offset_ + offset + done);
      const ssize_t n = write ? ::pwrite(fd_.get(), p + done, len - done, at)
                              : ::pread(fd_.get(), p + done, len - done, at);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return -errno;
      if (n == 0) return -EFAULT;  // past the end of the file
      done += static_cast<size_t>(n);
    }
    return 0;
  }

  const UniqueFd fd_;
  const uint64_t offset_;
};

}  // namespace uvfio::vfio_user
