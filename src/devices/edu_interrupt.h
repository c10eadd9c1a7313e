// EduInterrupt: edu's one interrupt source — the irq_status register (0x24) with its raise (0x60)
// and acknowledge (0x64) paths — and its delivery to the DeviceBus as MSI or INTA#.
#pragma once

#include <cstdint>
#include <mutex>

#include "devices/bus_gate.h"

namespace uvfio::devices {

/// Thread-safe: raise/ack from MMIO threads, the factorial worker and the DMA thread. A raise or an
/// ack is one step — register change and bus call — serialized with the others, so INTx level
/// changes reach the bus in the order the register changed and an ack has lowered the line when
/// its MMIO write returns (a driver that acks and then unmasks must not see the old level).
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
  BusGate& gate_;
  // Serializes raise/ack including their bus calls; taken before mu_. The bus never calls back
  // into edu, so holding it across a bus call cannot deadlock.
  std::mutex step_mu_;
  mutable std::mutex mu_;  // guards status_ for status() readers, who never wait on the bus
  uint32_t status_ = 0;
};

}  // namespace uvfio::devices
