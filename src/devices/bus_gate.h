// BusGate: a device model's guarded use of its DeviceBus. Every bus call goes through a Ref taken
// from the gate; close() shuts the gate and waits for the Refs still out, so after closed() (or
// the model's destruction) no thread of the model touches the bus again.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <utility>

#include "uvfio/pci/device_model.h"

namespace uvfio::devices {

/// Thread-safe (internal mutex, never held while the bus is used). Owned by one device model.
class BusGate {
 public:
  /// Permission to use the bus until destroyed; empty when the gate is shut. Move-only.
  class Ref {
   public:
    Ref() = default;
    Ref(Ref&& o) noexcept
        : gate_(std::exchange(o.gate_, nullptr)), bus_(std::exchange(o.bus_, nullptr)) {}
    Ref& operator=(Ref&& o) noexcept;
    Ref(const Ref&) = delete;
    Ref& operator=(const Ref&) = delete;
    ~Ref() { release(); }

    explicit operator bool() const { return bus_ != nullptr; }
    pci::DeviceBus* operator->() const { return bus_; }
    pci::DeviceBus& operator*() const { return *bus_; }

   private:
    friend class BusGate;
    Ref(BusGate* gate, pci::DeviceBus* bus) : gate_(gate), bus_(bus) {}
    void release();

    BusGate* gate_ = nullptr;
    pci::DeviceBus* bus_ = nullptr;
  };

  BusGate() = default;
  BusGate(const BusGate&) = delete;
  BusGate& operator=(const BusGate&) = delete;
  /// Shuts the gate (waits for outstanding Refs).
  ~BusGate() { close(); }

  /// Adopts `bus` and opens the gate (DeviceModel::attach).
  void attach(pci::DeviceBus& bus);
  /// Opens the gate again after close(), if a bus is attached (DeviceModel::opened).
  void open();
  /// Shuts the gate and waits until every Ref is released. Must not be called by a thread that
  /// holds a Ref (it would wait for itself).
  void close();
  /// A Ref on the bus, or an empty one while the gate is shut or before attach().
  Ref acquire();

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  pci::DeviceBus* bus_ = nullptr;
  bool open_ = false;
  size_t users_ = 0;
};

}  // namespace uvfio::devices
