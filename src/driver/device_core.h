// DeviceCore: the shared state behind a Device and every handle derived from it (Region,
// IrqVectors, mappings): the transport and what was learnt about the device at open.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "driver/transport.h"
#include "uvfio/driver/device.h"

namespace uvfio::driver::detail {

/// Immutable after construction except through the transport; thread-safe. `setup_mu`
/// serialises SET_IRQS and RESET (Device's setup calls).
class DeviceCore {
 public:
  /// Queries GET_INFO, every region's and IRQ's info. Throws driver::Error.
  DeviceCore(std::string target, std::unique_ptr<DeviceTransport> transport);
  ~DeviceCore();
  DeviceCore(const DeviceCore&) = delete;
  DeviceCore& operator=(const DeviceCore&) = delete;

  const std::string& target() const { return target_; }
  const std::string& name() const { return name_; }
  const std::string& backend() const { return backend_; }
  DeviceTransport& transport() const { return *transport_; }
  const std::shared_ptr<DmaTransport>& dma() const { return dma_; }
  const DeviceInfo& info() const { return info_; }
  const std::vector<RegionInfo>& regions() const { return regions_; }
  const std::vector<IrqInfo>& irqs() const { return irqs_; }

  /// A device ioctl; returns its result or throws Error(op, target, errno, detail).
  long ioctl(const std::string& op, unsigned long request, void* arg,
             const std::string& detail = {}) const;
  /// SET_IRQS with `data` after the header (serialised under setup_mu).
  void set_irqs(uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
                std::span<const std::byte> data, const std::string& what) const;
  [[noreturn]] void fail(const std::string& op, int err, const std::string& detail = {}) const;

  mutable std::mutex setup_mu;

 private:
  std::string target_;
  std::unique_ptr<DeviceTransport> transport_;
  std::shared_ptr<DmaTransport> dma_;
  std::string name_;
  std::string backend_;
  DeviceInfo info_;
  std::vector<RegionInfo> regions_;
  std::vector<IrqInfo> irqs_;
};

/// Constructs the public handles the library hands out.
struct DeviceAccess {
  static Device make(std::shared_ptr<DeviceCore> core) { return Device(std::move(core)); }
  static const std::shared_ptr<DeviceCore>& core(const Device& d) { return d.core_; }
};

}  // namespace uvfio::driver::detail
