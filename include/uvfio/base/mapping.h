// Mapping: sole owner of an mmap()ed range.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "uvfio/base/result.h"

namespace uvfio {

/// Owns one mmap()ed range and unmaps it on destruction. Move-only. Not thread-safe.
class Mapping {
 public:
  Mapping() = default;
  Mapping(void* addr, size_t length) : addr_(addr), length_(length) {}
  Mapping(Mapping&& o) noexcept
      : addr_(std::exchange(o.addr_, nullptr)), length_(std::exchange(o.length_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { reset(); }

  /// mmap(nullptr, length, prot, flags, fd, offset); the errno on failure.
  static Result<Mapping> map(size_t length, int prot, int flags, int fd, uint64_t offset);
  /// Anonymous private read/write memory.
  static Result<Mapping> anonymous(size_t length);

  void* data() const { return addr_; }
  std::byte* bytes() const { return static_cast<std::byte*>(addr_); }
  size_t size() const { return length_; }
  bool valid() const { return addr_ != nullptr; }
  void reset();

 private:
  void* addr_ = nullptr;
  size_t length_ = 0;
};

}  // namespace uvfio
