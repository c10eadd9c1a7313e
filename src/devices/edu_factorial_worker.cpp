#include "devices/edu_factorial_worker.h"

#include "uvfio/devices/edu.h"

namespace uvfio::devices {

EduFactorialWorker::EduFactorialWorker(EduInterrupt& irq, std::chrono::microseconds delay)
    : irq_(irq), delay_(delay), thread_("edu-fact", [this](const std::stop_token&) { run(); }) {}

EduFactorialWorker::~EduFactorialWorker() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint32_t EduFactorialWorker::value() const {
  std::lock_guard lk(mu_);
  return value_;
}

void EduFactorialWorker::write_value(uint32_t n) {
  {
    std::lock_guard lk(mu_);
    if ((status_ & kEduStatusComputing) != 0) return;
    value_ = n;
    status_ |= kEduStatusComputing;
  }
  cv_.notify_one();
}

uint32_t EduFactorialWorker::status() const {
  std::lock_guard lk(mu_);
  return status_;
}

void EduFactorialWorker::write_status(uint32_t v) {
  std::lock_guard lk(mu_);
  if ((v & kEduStatusIrqFact) != 0) {
    status_ |= kEduStatusIrqFact;
  } else {
    status_ &= ~kEduStatusIrqFact;
  }
}

uint32_t EduFactorialWorker::factorial(uint32_t n) {
  uint32_t r = 1;
  // Once the product is 0 mod 2^32 it stays 0 (from 34! on), so stop there: the same result as
  // QEMU's full loop, without spending seconds on large inputs.
  for (; n > 1 && r != 0; --n) r *= n;
  return r;
}

void EduFactorialWorker::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stopping_ || (status_ & kEduStatusComputing) != 0; });
    if (stopping_) return;
    const uint32_t n = value_;
    lk.unlock();
    const uint32_t result = factorial(n);
    lk.lock();
    // QEMU does not sleep here; the optional delay lets tests see the busy window.
    if (delay_.count() > 0 && cv_.wait_for(lk, delay_, [&] { return stopping_; })) return;
    value_ = result;
    // Clear "computing" before sampling bit 7 (one critical section: a driver that set bit 7
    // before writing 0x08 always gets its interrupt).
    status_ &= ~kEduStatusComputing;
    const bool irq = (status_ & kEduStatusIrqFact) != 0;
    if (!irq) continue;
    lk.unlock();
    irq_.raise(kEduIrqFactorial);
    lk.lock();
  }
}

}  // namespace uvfio::devices
