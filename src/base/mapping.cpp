#include "uvfio/base/mapping.h"

#include <sys/mman.h>

#include <cerrno>

namespace uvfio {

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    reset();
    addr_ = std::exchange(o.addr_, nullptr);
    length_ = std::exchange(o.length_, 0);
  }
  return *this;
}

Result<Mapping> Mapping::map(size_t length, int prot, int flags, int fd, uint64_t offset) {
  void* p = ::mmap(nullptr, length, prot, flags, fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED) return Errno{errno};
  return Mapping(p, length);
}

Result<Mapping> Mapping::anonymous(size_t length) {
  return map(length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

void Mapping::reset() {
  if (addr_ != nullptr) ::munmap(addr_, length_);
  addr_ = nullptr;
  length_ = 0;
}

}  // namespace uvfio
