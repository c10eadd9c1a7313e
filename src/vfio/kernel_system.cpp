#include "vfio/kernel_system.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace uvfio::vfio {
namespace {

// The syscall's result, or -errno when it failed (returned -1).
template <typename T>
T result(T r) {
  return r < 0 ? static_cast<T>(-errno) : r;
}

}  // namespace

int KernelSystem::open(const std::string& path, int flags) {
  return result(::open(path.c_str(), flags | O_CLOEXEC));
}

int KernelSystem::close(int fd) {
  return result(::close(fd));
}

long KernelSystem::ioctl(int fd, unsigned long request, unsigned long arg) {
  return result(static_cast<long>(::ioctl(fd, request, arg)));
}

ssize_t KernelSystem::pread(int fd, void* buf, size_t count, uint64_t offset) {
  return result(::pread(fd, buf, count, static_cast<off_t>(offset)));
}

ssize_t KernelSystem::pwrite(int fd, const void* buf, size_t count, uint64_t offset) {
  return result(::pwrite(fd, buf, count, static_cast<off_t>(offset)));
}

void* KernelSystem::mmap(int fd, size_t length, int prot, int flags, uint64_t offset) {
  void* p = ::mmap(nullptr, length, prot, flags, fd, static_cast<off_t>(offset));
  if (p == MAP_FAILED) return reinterpret_cast<void*>(-static_cast<intptr_t>(errno));
  return p;
}

int KernelSystem::munmap(void* addr, size_t length) {
  return result(::munmap(addr, length));
}

}  // namespace uvfio::vfio
