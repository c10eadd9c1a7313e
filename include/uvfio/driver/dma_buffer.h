// DmaBuffer: memory a device may DMA to or from — memfd-backed (so a vfio-user server can map
// the same pages later), page-aligned, optionally on huge pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace uvfio::driver {

struct DmaBufferOptions {
  /// Back the buffer with huge pages (memfd MFD_HUGETLB). Fails with driver::Error (usually
  /// ENOMEM) when the system has none reserved (/proc/sys/vm/nr_hugepages) — never silently
  /// falls back to small pages.
  bool hugepages = false;
  /// Huge page size in bytes when `hugepages`: 0 for the system default, else a supported size
  /// (2 MiB, 1 GiB on x86).
  uint64_t hugepage_size = 0;
  /// Name of the memfd (shows in /proc/PID/maps).
  std::string name = "uvfio-dma";
};

/// Owns a shared, zero-filled, page-aligned memfd mapping. Move-only. The memory itself is
/// plain memory: the owner synchronises the CPU's and the device's accesses (as with any DMA).
/// A DmaSpace mapping of the buffer keeps the memory alive until it is unmapped, even if the
/// DmaBuffer object is destroyed first, so a device never DMAs into freed pages.
class DmaBuffer {
 public:
  /// `size` rounded up to the page size (the huge page size with hugepages). size 0: EINVAL.
  /// Errors throw driver::Error naming the failing call ("memfd_create(MFD_HUGETLB)", "mmap").
  static DmaBuffer allocate(size_t size, const DmaBufferOptions& options = {});

  DmaBuffer() = default;
  DmaBuffer(DmaBuffer&&) noexcept = default;
  DmaBuffer& operator=(DmaBuffer&&) noexcept = default;
  DmaBuffer(const DmaBuffer&) = delete;
  DmaBuffer& operator=(const DmaBuffer&) = delete;
  ~DmaBuffer();

  bool valid() const { return mem_ != nullptr; }
  void* data() const;
  std::byte* bytes() const { return static_cast<std::byte*>(data()); }
  std::span<std::byte> span() const { return {bytes(), size()}; }
  /// Bytes (a multiple of page_size()).
  size_t size() const;
  /// 4096, or the huge page size.
  size_t page_size() const;
  bool hugepages() const;
  /// The memfd (owned by the buffer); for sharing with a vfio-user server.
  int fd() const;

  /// Shared state of the memory; used by DmaSpace to keep it alive while mapped.
  struct Memory;
  const std::shared_ptr<Memory>& memory() const { return mem_; }

 private:
  explicit DmaBuffer(std::shared_ptr<Memory> mem) : mem_(std::move(mem)) {}
  std::shared_ptr<Memory> mem_;
};

}  // namespace uvfio::driver
