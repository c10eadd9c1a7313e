#include "devices/edu_dma_engine.h"

#include <cerrno>
#include <cstring>

#include "base/log_format.h"
#include "uvfio/base/errno_name.h"

namespace uvfio::devices {

EduDmaEngine::EduDmaEngine(BusGate& gate, EduInterrupt& irq, uint64_t dma_mask,
                           std::chrono::microseconds delay)
    : gate_(gate),
      irq_(irq),
      dma_mask_(dma_mask),
      delay_(delay),
      thread_("edu-dma", [this](const std::stop_token&) { run(); }) {}

EduDmaEngine::~EduDmaEngine() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

uint64_t EduDmaEngine::read(Reg reg) const {
  std::lock_guard lk(mu_);
  switch (reg) {
    case Reg::kSrc:
      return src_;
    case Reg::kDst:
      return dst_;
    case Reg::kCount:
      return count_;
    case Reg::kCmd:
      return cmd_;
  }
  return ~uint64_t{0};
}

void EduDmaEngine::write(Reg reg, uint64_t value) {
  {
    std::lock_guard lk(mu_);
    // The registers are frozen from the start of a transfer until it completes.
    if ((cmd_ & kEduDmaRun) != 0) return;
    switch (reg) {
      case Reg::kSrc:
        src_ = value;
        return;
      case Reg::kDst:
        dst_ = value;
        return;
      case Reg::kCount:
        count_ = value;
        return;
      case Reg::kCmd:
        // Without the start bit the write is dropped: it can neither cancel nor change anything.
        if ((value & kEduDmaRun) == 0) return;
        cmd_ = value;
        armed_ = true;
        ++generation_;
        deadline_ = std::chrono::steady_clock::now() + delay_;
        break;
    }
  }
  cv_.notify_all();
}

void EduDmaEngine::cancel() {
  uint64_t cmd = 0;
  {
    std::lock_guard lk(mu_);
    if (!armed_) return;
    armed_ = false;
    ++generation_;
    cmd = cmd_;
    cmd_ &= ~kEduDmaRun;
  }
  cv_.notify_all();
  log_warn("edu", "device closed with a DMA pending (cmd {:#x}): cancelled, nothing copied", cmd);
}

EduDmaEngine::Buffer EduDmaEngine::buffer() const {
  std::lock_guard lk(mu_);
  return buf_;
}

void EduDmaEngine::run() {
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stopping_ || armed_; });
    if (stopping_) return;
    const uint64_t gen = generation_;
    const auto deadline = deadline_;
    if (cv_.wait_until(lk, deadline, [&] { return stopping_ || generation_ != gen; })) continue;

    // The timer fired for this very start: run the transfer with the registers frozen (bit 0
    // stays set until it is over).
    armed_ = false;
    const Transfer t{src_, dst_, count_, cmd_};
    // Taken in the same critical section that disarms (the gate's lock nests inside ours): a
    // closed() either cancelled the transfer above or waits below until bit 0 is clear.
    BusGate::Ref bus = gate_.acquire();
    lk.unlock();
    const bool done = perform(bus, t);
    lk.lock();
    cmd_ &= ~kEduDmaRun;  // only bit 0: bits 1, 2 and the rest stay readable
    const bool irq = done && (cmd_ & kEduDmaIrq) != 0;
    lk.unlock();
    // Released only now, so a close() that waited for this transfer finds the engine idle.
    bus = {};
    if (irq) irq_.raise(kEduIrqDma);
    lk.lock();
  }
}

bool EduDmaEngine::perform(BusGate::Ref& bus, const Transfer& t) {
  if (!bus) {
    log_warn("edu", "DMA (cmd {:#x}) fired while the device is closed: cancelled", t.cmd);
    return false;
  }
  const bool to_ram = (t.cmd & kEduDmaToRam) != 0;
  const uint64_t buf_addr = to_ram ? t.src : t.dst;
  const uint64_t bus_addr = to_ram ? t.dst : t.src;

  // QEMU 10.x's check (count 0 allowed, overflow-safe). QEMU 10.x only logs a violation and
  // copies anyway, overrunning its buffer; 7.2 aborts the whole VM. uvfio logs and refuses the
  // copy; the transfer still completes.
  if (buf_addr < kEduDmaBufferBase || t.count > kEduDmaBufferSize ||
      buf_addr - kEduDmaBufferBase > kEduDmaBufferSize - t.count) {
    log_warn("edu", "DMA range {:#018x}-{:#018x} out of bounds ({:#018x}-{:#018x}): refused",
             buf_addr, buf_addr + t.count - 1, kEduDmaBufferBase,
             kEduDmaBufferBase + kEduDmaBufferSize - 1);
    return true;
  }
  if (t.count == 0) return true;

  const uint64_t iova = bus_addr & dma_mask_;
  if (iova != bus_addr) {
    log_warn("edu", "clamping DMA {:#018x} to {:#018x} (dma_mask {:#x})", bus_addr, iova,
             dma_mask_);
  }
  const size_t off = buf_addr - kEduDmaBufferBase;
  const size_t len = t.count;

  if (!to_ram) {
    const int rc = bus->dma_read(iova, staging_.data(), len);
    if (rc == 0) {
      std::lock_guard lk(mu_);
      std::memcpy(buf_.data() + off, staging_.data(), len);
      return true;
    }
    // A refused read leaves zeros in the buffer, as QEMU's edu does for both: with Bus Master
    // Enable clear (-EIO) its bus-master address space is disabled, and behind an IOMMU that
    // refuses the IOVA (-EFAULT, already logged and counted by the core) the read hits
    // unassigned memory (measured on QEMU 7.2 under VT-d: the conformance scenario "DMA through
    // the IOMMU, and refused outside it").
    if (rc == -EIO) {
      log_debug("edu", "DMA read of {:#x}+{:#x} without bus mastering: zeros", iova, len);
    } else if (rc != -EFAULT) {
      log_warn("edu", "DMA read of {:#x}+{:#x} failed ({}): zeros", iova, len, errno_name(-rc));
    }
    std::lock_guard lk(mu_);
    std::memset(buf_.data() + off, 0, len);
    return true;
  }

  {
    std::lock_guard lk(mu_);
    std::memcpy(staging_.data(), buf_.data() + off, len);
  }
  const int rc = bus->dma_write(iova, staging_.data(), len);
  if (rc == -EIO) {
    // Bus Master Enable clear: QEMU drops the write without an error.
    log_debug("edu", "DMA write of {:#x}+{:#x} without bus mastering: dropped", iova, len);
  } else if (rc != 0 && rc != -EFAULT) {
    log_warn("edu", "DMA write of {:#x}+{:#x} failed ({}): nothing copied", iova, len,
             errno_name(-rc));
  }
  return true;
}

}  // namespace uvfio::devices
