#include "driver/vfio_file_transport.h"

namespace uvfio::driver::detail {

VfioFileTransport::VfioFileTransport(SystemFd device, std::shared_ptr<DmaTransport> dma,
                                     std::string backend, std::string device_name)
    : dma_(std::move(dma)),
      device_(std::move(device)),
      backend_(std::move(backend)),
      device_name_(std::move(device_name)) {}

VfioFileTransport::~VfioFileTransport() {
  device_.reset();
}

long VfioFileTransport::ioctl(unsigned long request, void* arg) {
  return device_.sys().ioctl(device_.get(), request, arg);
}

ssize_t VfioFileTransport::pread(void* buf, size_t count, uint64_t offset) {
  return device_.sys().pread(device_.get(), buf, count, offset);
}

ssize_t VfioFileTransport::pwrite(const void* buf, size_t count, uint64_t offset) {
  return device_.sys().pwrite(device_.get(), buf, count, offset);
}

void* VfioFileTransport::mmap(size_t length, int prot, int flags, uint64_t offset) {
  return device_.sys().mmap(device_.get(), length, prot, flags, offset);
}

int VfioFileTransport::munmap(void* addr, size_t length) {
  return device_.sys().munmap(addr, length);
}

}  // namespace uvfio::driver::detail
