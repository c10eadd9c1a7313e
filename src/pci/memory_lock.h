// MemoryLock: the vfio-pci core's memory_lock — BAR accesses share it, a function reset takes it
// exclusively. Like the kernel's rw_semaphore, a waiting writer holds back new readers: a driver
// hammering a BAR from several threads cannot starve VFIO_DEVICE_RESET (std::shared_mutex on
// glibc prefers readers).
#pragma once

#include <mutex>
#include <shared_mutex>

namespace uvfio::pci {

/// Thread-safe; not recursive (a holder must not take it again). Owned by PciCore.
class MemoryLock {
 public:
  class Shared {
   public:
    explicit Shared(MemoryLock& l) : l_(l) {
      std::lock_guard gate(l_.gate_);  // queues behind a writer that is waiting
      l_.rw_.lock_shared();
    }
    ~Shared() { l_.rw_.unlock_shared(); }
    Shared(const Shared&) = delete;
    Shared& operator=(const Shared&) = delete;

   private:
    MemoryLock& l_;
  };

  class Exclusive {
   public:
    explicit Exclusive(MemoryLock& l) : l_(l) {
      std::lock_guard gate(l_.gate_);  // no new reader gets in while the readers drain
      l_.rw_.lock();
    }
    ~Exclusive() { l_.rw_.unlock(); }
    Exclusive(const Exclusive&) = delete;
    Exclusive& operator=(const Exclusive&) = delete;

   private:
    MemoryLock& l_;
  };

 private:
  std::mutex gate_;
  std::shared_mutex rw_;
};

}  // namespace uvfio::pci
