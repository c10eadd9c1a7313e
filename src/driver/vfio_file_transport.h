// VfioFileTransport: the device calls answered by a VFIO device file on a VfioSystem — uvfio's
// emulated files today, the kernel's (KernelSystem) for pci: targets later.
#pragma once

#include <memory>
#include <string>

#include "driver/system_fd.h"
#include "driver/transport.h"

namespace uvfio::driver::detail {

/// Owns the device fd; shares the DMA transport (which owns the container/group or iommufd).
/// Thread-safe: VfioSystem calls are.
class VfioFileTransport : public DeviceTransport {
 public:
  VfioFileTransport(SystemFd device, std::shared_ptr<DmaTransport> dma, std::string backend,
                    std::string device_name);
  ~VfioFileTransport() override;

  std::string backend() const override { return backend_; }
  std::string device_name() const override { return device_name_; }
  long ioctl(unsigned long request, void* arg) override;
  ssize_t pread(void* buf, size_t count, uint64_t offset) override;
  ssize_t pwrite(const void* buf, size_t count, uint64_t offset) override;
  void* mmap(size_t length, int prot, int flags, uint64_t offset) override;
  int munmap(void* addr, size_t length) override;
  std::shared_ptr<DmaTransport> dma() const override { return dma_; }

 private:
  // Declaration order = reverse destruction order: the device fd closes before the DMA space
  // (its container, group or iommufd) is released, as a well-behaved process does.
  std::shared_ptr<DmaTransport> dma_;
  SystemFd device_;
  std::string backend_;
  std::string device_name_;
};

}  // namespace uvfio::driver::detail
