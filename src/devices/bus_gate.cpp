#include "devices/bus_gate.h"

#include <utility>

namespace uvfio::devices {

BusGate::Ref& BusGate::Ref::operator=(Ref&& o) noexcept {
  if (this != &o) {
    release();
    gate_ = std::exchange(o.gate_, nullptr);
    bus_ = std::exchange(o.bus_, nullptr);
  }
  return *this;
}

void BusGate::Ref::release() {
  if (gate_ == nullptr) return;
  BusGate* g = std::exchange(gate_, nullptr);
  bus_ = nullptr;
  std::lock_guard lk(g->mu_);
  // Notify under the lock: close() may destroy the gate as soon as it sees no users.
  if (--g->users_ == 0) g->idle_.notify_all();
}

void BusGate::attach(pci::DeviceBus& bus) {
  std::lock_guard lk(mu_);
  bus_ = &bus;
  open_ = true;
}

void BusGate::open() {
  std::lock_guard lk(mu_);
  open_ = bus_ != nullptr;
}

void BusGate::close() {
  std::unique_lock lk(mu_);
  open_ = false;
  idle_.wait(lk, [&] { return users_ == 0; });
}

BusGate::Ref BusGate::acquire() {
  std::lock_guard lk(mu_);
  if (!open_) return {};
  ++users_;
  return {this, bus_};
}

}  // namespace uvfio::devices
