#include "devices/edu_interrupt.h"

namespace uvfio::devices {

void EduInterrupt::raise(uint32_t value) {
  BusGate::Ref bus = gate_.acquire();
  std::lock_guard step(step_mu_);
  // The driver switches MSI on and off through SET_IRQS, which is no more ordered against a
  // raise on real hardware.
  const bool msi = bus && bus->msi_enabled();
  {
    std::lock_guard lk(mu_);
    status_ |= value;
    if (status_ == 0 || !bus) return;
  }
  if (msi) {
    bus->signal_msi(0);  // every raise sends, even of bits already pending
  } else {
    bus->set_intx(true);
  }
}

void EduInterrupt::ack(uint32_t value) {
  BusGate::Ref bus = gate_.acquire();
  std::lock_guard step(step_mu_);
  const bool msi = bus && bus->msi_enabled();
  {
    std::lock_guard lk(mu_);
    status_ &= ~value;
    // QEMU quirk kept: with MSI enabled the line is left alone, so an INTx asserted before MSI
    // was switched on stays asserted.
    if (status_ != 0 || msi || !bus) return;
  }
  bus->set_intx(false);
}

uint32_t EduInterrupt::status() const {
  std::lock_guard lk(mu_);
  return status_;
}

}  // namespace uvfio::devices
