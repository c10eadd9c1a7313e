#include "devices/edu_interrupt.h"

#include <optional>
#include <utility>

namespace uvfio::devices {

void EduInterrupt::raise(uint32_t value) {
  BusGate::Ref bus = gate_.acquire();
  // Sampled before taking the lock (a bus call); the driver switches MSI on and off through
  // SET_IRQS, which is no more ordered against a raise on real hardware.
  const bool msi = bus && bus->msi_enabled();
  {
    std::lock_guard lk(mu_);
    status_ |= value;
    if (status_ == 0 || !bus) return;
    if (msi) {
      ++msi_pending_;
    } else {
      intx_level_ = true;
      intx_dirty_ = true;
    }
  }
  deliver(bus);
}

void EduInterrupt::ack(uint32_t value) {
  BusGate::Ref bus = gate_.acquire();
  const bool msi = bus && bus->msi_enabled();
  {
    std::lock_guard lk(mu_);
    status_ &= ~value;
    // QEMU quirk kept: with MSI enabled the line is left alone, so an INTx asserted before MSI
    // was switched on stays asserted.
    if (status_ != 0 || msi || !bus) return;
    intx_level_ = false;
    intx_dirty_ = true;
  }
  deliver(bus);
}

uint32_t EduInterrupt::status() const {
  std::lock_guard lk(mu_);
  return status_;
}

void EduInterrupt::deliver(BusGate::Ref& bus) {
  std::unique_lock lk(mu_);
  if (delivering_) return;  // the delivering thread picks our work up before it stops
  delivering_ = true;
  for (;;) {
    const uint64_t msis = std::exchange(msi_pending_, 0);
    std::optional<bool> level;
    if (std::exchange(intx_dirty_, false)) level = intx_level_;
    if (msis == 0 && !level) break;
    lk.unlock();
    for (uint64_t i = 0; i < msis; ++i) bus->signal_msi(0);
    if (level) bus->set_intx(*level);
    lk.lock();
  }
  delivering_ = false;
}

}  // namespace uvfio::devices
