// EduDmaEngine: edu's DMA unit — the source, destination, count and command registers
// (0x80..0x98), the 4 KiB device buffer at device address 0x40000, and the timer thread that runs
// a transfer a configurable delay after it was started.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include "devices/bus_gate.h"
#include "devices/edu_interrupt.h"
#include "uvfio/base/thread.h"
#include "uvfio/devices/edu.h"

namespace uvfio::devices {

/// Thread-safe (internal mutex, never held across a bus call or an interrupt raise). Owns its
/// timer thread; destruction stops and joins it, abandoning a transfer that has not started.
class EduDmaEngine {
 public:
  enum class Reg : uint8_t { kSrc, kDst, kCount, kCmd };

  /// Starts the timer thread; throws std::system_error if the thread cannot be created.
  EduDmaEngine(BusGate& gate, EduInterrupt& irq, uint64_t dma_mask,
               std::chrono::microseconds delay);
  ~EduDmaEngine();
  EduDmaEngine(const EduDmaEngine&) = delete;
  EduDmaEngine& operator=(const EduDmaEngine&) = delete;

  /// Reads are always allowed and return the full 64-bit register.
  uint64_t read(Reg reg) const;
  /// Ignored while a transfer is pending or running (command bit 0 set). A command write without
  /// bit 0 is ignored entirely; with it, the command is stored and the transfer is scheduled.
  void write(Reg reg, uint64_t value);
  /// Cancels a transfer that has not started yet (the device was closed): nothing is copied, bit 0
  /// clears, no interrupt. A transfer already running finishes normally.
  void cancel();

  using Buffer = std::array<std::byte, kEduDmaBufferSize>;
  /// A copy of the device buffer (tests; the buffer is not visible through BAR0).
  Buffer buffer() const;

 private:
  struct Transfer {
    uint64_t src, dst, count, cmd;
  };
  void run();
  /// Performs `t` through `bus` (called without mu_). False when the bus is shut (the device was
  /// closed): the transfer is then cancelled. Refused or failed copies are logged and still count
  /// as done.
  bool perform(BusGate::Ref& bus, const Transfer& t);

  BusGate& gate_;
  EduInterrupt& irq_;
  const uint64_t dma_mask_;
  const std::chrono::microseconds delay_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t src_ = 0, dst_ = 0, count_ = 0, cmd_ = 0;
  bool armed_ = false;       // started, waiting for deadline_
  uint64_t generation_ = 0;  // bumped by every start and cancel, so the timer never fires early
  std::chrono::steady_clock::time_point deadline_;
  bool stopping_ = false;
  Buffer buf_{};      // guarded by mu_; QEMU's buffer also starts zeroed
  Buffer staging_{};  // the timer thread's own: bus data on its way in or out, used without mu_

  Thread thread_;  // last: started once the state above exists, joined before it goes
};

}  // namespace uvfio::devices
