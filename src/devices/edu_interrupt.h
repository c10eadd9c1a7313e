// EduInterrupt: edu's one interrupt source — the irq_status register (0x24) with its raise (0x60)
// and acknowledge (0x64) paths — and its delivery to the DeviceBus as MSI or INTA#.
#pragma once

#include <cstdint>
#include <mutex>

#include "devices/bus_gate.h"

namespace uvfio::devices {

/// Thread-safe: raise/ack from MMIO threads, the factorial worker and the DMA thread. Bus calls are
/// made without the lock, by one thread at a time (whoever finds delivery idle drains the work the
/// others queued), so INTx level changes reach the bus in the order the register changed.
class EduInterrupt {
 public:
  explicit EduInterrupt(BusGate& gate) : gate_(gate) {}

  /// irq_status |= value; then, if irq_status != 0: one MSI message when MSI is enabled (every
  /// raise sends, even of 0 or of bits already pending), else INTA# asserted.
  void raise(uint32_t value);
  /// irq_status &= ~value; INTA# deasserted when nothing is left and MSI is not enabled (with
  /// MSI nothing is sent, as in QEMU).
  void ack(uint32_t value);
  uint32_t status() const;

 private:
  void deliver(BusGate::Ref& bus);

  BusGate& gate_;
  mutable std::mutex mu_;
  uint32_t status_ = 0;
  // Work for the bus, drained by deliver().
  uint64_t msi_pending_ = 0;  // MSI messages still to send
  bool intx_dirty_ = false;   // intx_level_ changed since it was last sent
  bool intx_level_ = false;
  bool delivering_ = false;  // a thread is in deliver()'s bus loop
};

}  // namespace uvfio::devices
