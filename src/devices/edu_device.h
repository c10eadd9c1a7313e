// EduDevice: the DeviceModel of QEMU's edu — identity and layout, BAR0 decoding with QEMU's
// access rules, and the wiring of its units (interrupt, factorial worker, DMA engine) to the bus.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "devices/bus_gate.h"
#include "devices/edu_dma_engine.h"
#include "devices/edu_factorial_worker.h"
#include "devices/edu_interrupt.h"
#include "uvfio/devices/edu.h"
#include "uvfio/pci/device_model.h"

namespace uvfio::devices {

/// Thread-safe: MMIO from any number of threads, concurrently with its own worker and DMA
/// threads; each unit has its own lock and none is held while the bus is called. Destruction
/// shuts the bus gate first, then joins the threads.
class EduDevice final : public pci::DeviceModel {
 public:
  /// Throws std::system_error if a thread cannot be started (make_edu_device maps it to EAGAIN).
  explicit EduDevice(const EduOptions& options);
  ~EduDevice() override;
  EduDevice(const EduDevice&) = delete;
  EduDevice& operator=(const EduDevice&) = delete;

  pci::DeviceLayout layout() const override;
  void attach(pci::DeviceBus& bus) override;
  uint64_t mmio_read(unsigned bar, uint64_t offset, unsigned size) override;
  void mmio_write(unsigned bar, uint64_t offset, unsigned size, uint64_t value) override;
  void opened() override;
  void closed() override;
  void reset() override;
  /// One: the interrupt raise register with kEduDoorbellValue.
  std::vector<vfio::Doorbell> doorbells() const override;

  const EduOptions& options() const { return options_; }
  /// The DMA buffer (tests).
  EduDmaEngine::Buffer dma_buffer() const { return dma_.buffer(); }

 private:
  /// Register read/write once the access passed the size and alignment rules (`size` 4 or 8).
  uint64_t read_reg(uint64_t offset) const;
  void write_reg(uint64_t offset, uint64_t value);

  const EduOptions options_;
  BusGate gate_;
  EduInterrupt irq_{gate_};
  std::atomic<uint32_t> liveness_{0};
  // Declared after what their threads use, so they are joined first.
  EduFactorialWorker factorial_;
  EduDmaEngine dma_;
};

}  // namespace uvfio::devices
