// RemoteMemory: memory an IOAS area maps that this process cannot address, reached by copying
// through callbacks instead (a vfio-user client's DMA_MAP without an fd: the device's DMA
// becomes DMA_READ/DMA_WRITE messages to the client).
#pragma once

#include <cstddef>
#include <cstdint>

namespace uvfio::iommu {

/// Implemented by whoever can reach the memory. Shared by the areas mapping it; calls come from
/// device threads concurrently, never under an IOAS lock or inside a read section, and may block
/// (a message round trip). An Access refuses to pin such memory (EFAULT): only read()/write()
/// work on it.
class RemoteMemory {
 public:
  virtual ~RemoteMemory() = default;
  /// Copies `len` bytes at `offset` (from the start of the memory source) into `dst`. 0, or
  /// -errno: the device's DMA fails (the vfio-pci core reports a DMA fault).
  virtual int read(uint64_t offset, void* dst, size_t len) = 0;
  /// Copies `src` to `offset`. 0 or -errno as read().
  virtual int write(uint64_t offset, const void* src, size_t len) = 0;
};

}  // namespace uvfio::iommu
