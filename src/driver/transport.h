// The transport seam: what the driver API needs from whatever serves a device. Drivers never see
// it. A transport is created by open() for a target's scheme (transport_registry.cpp):
//   emu:       EmuTransport — uvfio's emulated VFIO files in this process, driven through the
//              real uAPI sequence over a VfioSystem (vfio_file_transport.h, vfio_open.h);
//   pci:       (kernel-backend issue) the same VfioFileTransport and open sequences over
//              KernelSystem, with group / cdev paths found in sysfs;
//   vfio-user: (vfio-user issue) a client that answers the device calls below with vfio-user
//              messages (they carry the same uAPI structures) and DMA with DMA_MAP/UNMAP
//              messages that pass each buffer's fd.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "uvfio/driver/dma_space.h"
#include "uvfio/iommu/iova_range.h"

namespace uvfio::driver::detail {

/// One buffer to map: process memory and, when known, the fd (and offset) behind it — vfio-user
/// passes fds, VFIO files only need the address.
struct DmaRequest {
  void* va = nullptr;
  uint64_t length = 0;
  int fd = -1;
  uint64_t fd_offset = 0;
  bool readable = true;
  bool writable = true;
};

/// A device's DMA space as a transport provides it. Implementations are thread-safe. Errors are
/// thrown as driver::Error naming the ioctl/message and the target.
class DmaTransport {
 public:
  virtual ~DmaTransport() = default;
  virtual DmaKind kind() const = 0;
  virtual bool translates() const = 0;
  virtual std::vector<iommu::IovaRange> iova_ranges() const = 0;
  virtual uint64_t page_sizes() const = 0;
  /// Maps `req` at `iova` (already validated: aligned, inside the limit) or, if absent, where
  /// the transport likes (within `limit`, aligned to `align`); returns the IOVA / bus address.
  virtual uint64_t map(const DmaRequest& req, std::optional<uint64_t> iova, uint64_t limit,
                       uint64_t align) = 0;
  /// Unmaps exactly what map() returned.
  virtual void unmap(uint64_t iova, uint64_t length) = 0;
  virtual const std::string& target() const = 0;
};

/// The device calls a transport answers, with the VFIO device file's semantics (returns >= 0 or
/// -errno). Thread-safe. A transport whose calls are messages (vfio-user) also throws
/// driver::Error naming the message for what is not the device's answer (timeout, lost
/// connection, malformed reply) and for failed region accesses; the VFIO-file transports never
/// throw.
class DeviceTransport {
 public:
  virtual ~DeviceTransport() = default;
  /// "emulated", "kernel", "vfio-user".
  virtual std::string backend() const = 0;
  /// The device's name on its bus ("0000:00:03.0").
  virtual std::string device_name() const = 0;
  /// A device ioctl: GET_INFO, GET_REGION_INFO, GET_IRQ_INFO, SET_IRQS, RESET.
  virtual long ioctl(unsigned long request, void* arg) = 0;
  virtual ssize_t pread(void* buf, size_t count, uint64_t offset) = 0;
  virtual ssize_t pwrite(const void* buf, size_t count, uint64_t offset) = 0;
  /// A shared mapping of the device file, or a -errno cast to a pointer.
  virtual void* mmap(size_t length, int prot, int flags, uint64_t offset) = 0;
  virtual int munmap(void* addr, size_t length) = 0;
  /// The device's DMA space; the same object every call.
  virtual std::shared_ptr<DmaTransport> dma() const = 0;
  /// See Device::iommu_faults().
  virtual std::optional<uint64_t> iommu_faults() const { return std::nullopt; }
};

}  // namespace uvfio::driver::detail
