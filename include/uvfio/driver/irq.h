// Interrupts of an opened device: IrqInfo (VFIO_DEVICE_GET_IRQ_INFO) and IrqVectors, an index
// enabled with one eventfd per vector (VFIO_DEVICE_SET_IRQS, DATA_EVENTFD | ACTION_TRIGGER).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "uvfio/base/eventfd.h"

namespace uvfio::driver {

namespace detail {
class DeviceCore;
}

/// VFIO_DEVICE_GET_IRQ_INFO of one index. Plain value.
struct IrqInfo {
  uint32_t index = 0;
  uint32_t flags = 0;  // VFIO_IRQ_INFO_*
  uint32_t count = 0;  // vectors; 0: the device has none of this kind

  bool eventfd() const;
  bool maskable() const;
  bool automasked() const;
  bool noresize() const;
};

/// "INTx", "MSI", "MSI-X", "ERR", "REQ" for the vfio-pci IRQ indexes; "irq N" otherwise.
std::string pci_irq_name(uint32_t index);

/// An IRQ index enabled with `count` eventfds for vectors [start, start+count). Destruction
/// disables the whole index (SET_IRQS DATA_NONE | ACTION_TRIGGER, count 0; errors are logged,
/// not thrown) and then closes the eventfds. Move-only; keeps the device open while it lives.
///
/// Thread-safety: wait()/poll()/fd() and mask/unmask/trigger may be called from any thread at
/// once (several waiters on one vector race for its count: each wake-up goes to one of them);
/// disable() and destruction must not race with other calls on the same object.
///
/// Vector numbers `v` below are relative to start() (0 .. count()-1); out of range: EINVAL.
class IrqVectors {
 public:
  IrqVectors() = default;
  IrqVectors(IrqVectors&& o) noexcept = default;
  IrqVectors& operator=(IrqVectors&& o) noexcept;
  IrqVectors(const IrqVectors&) = delete;
  IrqVectors& operator=(const IrqVectors&) = delete;
  ~IrqVectors();

  bool enabled() const { return core_ != nullptr; }
  uint32_t index() const { return index_; }
  uint32_t start() const { return start_; }
  uint32_t count() const { return static_cast<uint32_t>(fds_.size()); }
  /// The eventfd of vector `v` (for poll/epoll loops); owned by this object.
  int fd(uint32_t v) const;
  const EventFd& eventfd(uint32_t v) const;

  /// Waits until vector `v` fires or `timeout` passes. Returns the number of interrupts counted
  /// since the last wait (consumed), 0 on timeout.
  uint64_t wait(uint32_t v, std::chrono::milliseconds timeout) const;
  /// Non-blocking: the count so far (consumed), 0 if none.
  uint64_t poll(uint32_t v) const;

  /// SET_IRQS DATA_NONE with ACTION_MASK / ACTION_UNMASK / ACTION_TRIGGER on vector `v`. INTx:
  /// after each interrupt the kernel (and uvfio) masks the line until unmask(0).
  void mask(uint32_t v) const;
  void unmask(uint32_t v) const;
  void trigger(uint32_t v) const;

  /// Disables the index now (idempotent). Throws driver::Error if SET_IRQS fails.
  void disable();

 private:
  friend class Device;
  IrqVectors(std::shared_ptr<detail::DeviceCore> core, uint32_t index, uint32_t start,
             std::vector<EventFd> fds);
  void check(uint32_t v) const;

  std::shared_ptr<detail::DeviceCore> core_;
  uint32_t index_ = 0;
  uint32_t start_ = 0;
  std::vector<EventFd> fds_;
};

}  // namespace uvfio::driver
