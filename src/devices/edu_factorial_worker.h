// EduFactorialWorker: edu's factorial unit — the factorial register (0x08), the status register
// (0x20: bit 0 computing, bit 7 interrupt on completion) and the worker thread that computes.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "devices/edu_interrupt.h"
#include "uvfio/base/thread.h"

namespace uvfio::devices {

/// Thread-safe (internal mutex, not held while raising the interrupt). Owns its worker thread;
/// destruction stops and joins it (a computation in progress is abandoned).
class EduFactorialWorker {
 public:
  /// Starts the worker; throws std::system_error if the thread cannot be created.
  EduFactorialWorker(EduInterrupt& irq, std::chrono::microseconds delay);
  ~EduFactorialWorker();
  EduFactorialWorker(const EduFactorialWorker&) = delete;
  EduFactorialWorker& operator=(const EduFactorialWorker&) = delete;

  /// 0x08: the input while computing, the result afterwards.
  uint32_t value() const;
  /// 0x08 write: ignored while computing; else stores `n`, sets status bit 0, wakes the worker.
  void write_value(uint32_t n);
  /// 0x20: bits 0 and 7 only.
  uint32_t status() const;
  /// 0x20 write: only bit 7 is writable (set or cleared); bit 0 is read-only.
  void write_status(uint32_t v);

  /// n! in uint32 arithmetic (wraps mod 2^32; 0! = 1).
  static uint32_t factorial(uint32_t n);

 private:
  void run();

  EduInterrupt& irq_;
  const std::chrono::microseconds delay_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint32_t value_ = 0;
  uint32_t status_ = 0;
  bool stopping_ = false;
  Thread thread_;  // last: started once the state above exists, joined before it goes
};

}  // namespace uvfio::devices
