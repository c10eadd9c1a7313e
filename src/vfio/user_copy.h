// copy_from_user / copy_to_user for the emulated VFIO files' ioctls. The callers reject the user
// pointers that stand for faulting ones (EFAULT) first; any other address is trusted to be
// readable/writable for the length given.
#pragma once

#include <cstddef>
#include <cstring>

namespace uvfio::vfio {

/// A user pointer in the first page: one the kernel's copy_{from,to}_user would fault on.
inline bool bad_uptr(unsigned long p) {
  return p < 4096;
}

/// Copies the first `len` bytes of `dst` (a struct prefix) in from user memory.
template <class T>
void copy_in(T& dst, unsigned long uaddr, size_t len) {
  std::memcpy(&dst, reinterpret_cast<const void*>(uaddr), len);
}

/// Copies the first `len` bytes of `src` (by default all of it) out to user memory.
template <class T>
void copy_out(unsigned long uaddr, const T& src, size_t len = sizeof(T)) {
  std::memcpy(reinterpret_cast<void*>(uaddr), &src, len);
}

}  // namespace uvfio::vfio
