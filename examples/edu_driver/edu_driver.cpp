// The edu driver: each step programs the device the way a kernel driver for edu would, through
// the driver API only. A step records what it read; a failed check or a driver::Error ends the
// step (and the run, for steps later ones depend on).
#include "examples/edu_driver/edu_driver.h"

#include <fmt/format.h>
#include <linux/vfio.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <thread>
#include <utility>

#include "uvfio/base/eventfd.h"
#include "uvfio/driver/driver.h"

namespace uvfio::examples {

namespace {

using Clock = std::chrono::steady_clock;

/// A check that did not hold: ends the step with this message.
struct StepFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Thrown by a step that does not apply to this target.
struct StepSkipped : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class... Args>
void check(bool ok, fmt::format_string<Args...> f, Args&&... args) {
  if (!ok) throw StepFailure(fmt::format(f, std::forward<Args>(args)...));
}

double us_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

LatencyStats stats_of(std::vector<double> us) {
  LatencyStats s;
  if (us.empty()) return s;
  std::sort(us.begin(), us.end());
  s.samples = static_cast<unsigned>(us.size());
  s.min_us = us.front();
  s.median_us = us[us.size() / 2];
  s.p99_us = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  s.max_us = us.back();
  return s;
}

/// n! in 32-bit arithmetic, as edu computes it.
uint32_t factorial32(uint32_t n) {
  uint32_t r = 1;
  for (uint32_t i = 2; i <= n; ++i) r *= i;
  return r;
}

class EduDriver {
 public:
  EduDriver(driver::Device dev, const EduDriverOptions& o, EduReport& r)
      : dev_(std::move(dev)), o_(o), r_(r) {}

  void run() {
    if (o_.dma_count == 0 || o_.dma_count > edu::kMaxSafeDmaCount) {
      r_.fatal = fmt::format("dma_count {} is outside 1..{} (QEMU 7.2 aborts beyond)", o_.dma_count,
                             edu::kMaxSafeDmaCount);
      return;
    }
    if (!step("identify", [&](EduStep& s) { identify(s); })) return;
    step("liveness", [&](EduStep& s) { liveness(s); });
    if (!step("bus master", [&](EduStep& s) { bus_master(s); })) return;
    step("factorial (polled)", [&](EduStep& s) { factorial_polled(s); });
    const bool irqs = step("interrupt setup", [&](EduStep& s) { irq_setup(s); });
    if (irqs) {
      step("factorial (interrupt)", [&](EduStep& s) { factorial_irq(s); });
      step("interrupt latency", [&](EduStep& s) { irq_latency(s); });
    }
    if (step("DMA round trip", [&](EduStep& s) { dma_round_trip(s, irqs); })) {
      step("DMA throughput", [&](EduStep& s) { dma_throughput(s); });
    }
    step("DMA to an unmapped IOVA", [&](EduStep& s) { dma_unmapped(s); });
    step("release", [&](EduStep& s) { release(s); });
    r_.iommu_faults = dev_.iommu_faults();
    r_.spurious_interrupts = spurious_.load();
  }

 private:
  /// Runs one step; false if it failed (skipped counts as success).
  template <class F>
  bool step(const char* name, F&& body) {
    EduStep s;
    s.name = name;
    const auto t0 = Clock::now();
    try {
      body(s);
      s.passed = true;
    } catch (const StepSkipped& e) {
      s.skipped = true;
      s.passed = true;
      s.detail = e.what();
    } catch (const StepFailure& e) {
      s.detail = e.what();
    } catch (const driver::Error& e) {
      s.detail = e.what();
    } catch (const std::exception& e) {
      s.detail = fmt::format("unexpected error: {}", e.what());
    }
    s.millis = us_between(t0, Clock::now()) / 1000.0;
    const bool ok = s.passed;
    r_.steps.push_back(std::move(s));
    return ok;
  }

  uint32_t rd(uint64_t reg) const { return bar0_->read32(reg); }
  void wr(uint64_t reg, uint32_t v) const { bar0_->write32(reg, v); }
  /// The DMA registers are 64-bit, but a 4-byte write stores the value zero-extended, and a
  /// kernel older than 6.13 splits an 8-byte pwrite into two 4-byte ones (edu ignores the high
  /// one): so write 8 bytes only when the value needs them.
  void wr64(uint64_t reg, uint64_t v) const {
    if (v <= UINT32_MAX) {
      bar0_->write32(reg, static_cast<uint32_t>(v));
    } else {
      bar0_->write64(reg, v);
    }
  }

  /// Polls `done` until it holds or the timeout passes: spins briefly (the emulated device
  /// answers in microseconds), then backs off to sleeping.
  template <class F>
  bool poll_until(F&& done) const {
    const auto deadline = Clock::now() + o_.timeout;
    for (unsigned i = 0;; ++i) {
      if (done()) return true;
      if (Clock::now() > deadline) return done();
      if (i < 200) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(std::min(1000u, i)));
      }
    }
  }

  void identify(EduStep& s) {
    cfg_ = dev_.config();
    const uint16_t vendor = cfg_->vendor_id();
    const uint16_t device = cfg_->device_id();
    s.values.push_back(fmt::format("config {:04x}:{:04x} rev {:02x} class {:06x}", vendor, device,
                                   cfg_->revision(), cfg_->class_code()));
    check(vendor == edu::kVendorId && device == edu::kDeviceId,
          "config IDs are {:04x}:{:04x}, not edu's 1234:11e8", vendor, device);
    bar0_ = dev_.bar(0);
    s.values.push_back(fmt::format("BAR0 region {} KiB", bar0_->size() / 1024));
    check(bar0_->size() == edu::kBar0Size, "BAR0 is {} bytes, edu's is 1 MiB", bar0_->size());
    // pci_enable_device(): memory decoding on before touching the BAR.
    cfg_->enable_memory(true);
    const uint32_t id = rd(edu::kRegId);
    s.values.push_back(fmt::format("BAR0+0x00 identification = {:#010x}", id));
    check(id == edu::kIdentification, "identification register reads {:#010x}, expected {:#010x}",
          id, edu::kIdentification);
    s.detail = fmt::format("edu {}.{} ({})", id >> 24, (id >> 16) & 0xff, dev_.name());
  }

  void liveness(EduStep& s) {
    for (const uint32_t v : {0x12345678u, 0xdeadbeefu, 0x0u, 0xffffffffu}) {
      wr(edu::kRegLiveness, v);
      const uint32_t got = rd(edu::kRegLiveness);
      s.values.push_back(fmt::format("wrote {:#010x}, read {:#010x}", v, got));
      check(got == static_cast<uint32_t>(~v), "liveness read {:#010x} after writing {:#010x}", got,
            v);
    }
    s.detail = "the device inverts what it is given";
  }

  void bus_master(EduStep& s) {
    cfg_->enable_bus_master(true);
    const uint16_t cmd = cfg_->command();
    s.values.push_back(fmt::format("Command = {:#06x}", cmd));
    check(cfg_->bus_master(), "Bus Master Enable did not stick (Command {:#06x})", cmd);
    s.detail = "Command.Memory and Command.Bus Master set through config space";
  }

  void factorial_polled(EduStep& s) {
    wr(edu::kRegStatus, 0);  // no interrupt on completion
    for (const uint32_t n : {5u, 12u, 13u}) {
      wr(edu::kRegFactorial, n);
      const bool done =
          poll_until([&] { return (rd(edu::kRegStatus) & edu::kStatusComputing) == 0; });
      check(done, "factorial of {} still computing after {} ms", n, o_.timeout.count());
      const uint32_t got = rd(edu::kRegFactorial);
      s.values.push_back(fmt::format("{}! = {}", n, got));
      check(got == factorial32(n), "{}! read {}, expected {}", n, got, factorial32(n));
    }
    s.detail = "status bit 0 polled until clear; 13! wraps at 32 bits as on QEMU";
  }

  void irq_setup(EduStep& s) {
    const auto& msi = dev_.irq_info(VFIO_PCI_MSI_IRQ_INDEX);
    const auto& intx = dev_.irq_info(VFIO_PCI_INTX_IRQ_INDEX);
    s.values.push_back(fmt::format("IRQ info: INTx count {} flags {:#x}, MSI count {} flags {:#x}",
                                   intx.count, intx.flags, msi.count, msi.flags));
    if (!o_.force_intx && msi.count > 0) {
      try {
        irq_ = dev_.enable_irq(VFIO_PCI_MSI_IRQ_INDEX, 1);
        intx_ = false;
        r_.irq_mode = "MSI";
        s.detail = "MSI vector 0 -> eventfd";
        return;
      } catch (const driver::Error& e) {
        s.values.push_back(fmt::format("MSI refused ({}): falling back to INTx", e.what()));
      }
    }
    check(intx.count > 0, "the device offers neither MSI nor INTx");
    // INTx is level-triggered: edu keeps the line up until the ack, and VFIO masks it on
    // delivery until we unmask.
    cfg_->disable_intx(false);
    irq_ = dev_.enable_irq(VFIO_PCI_INTX_IRQ_INDEX, 1);
    intx_ = true;
    r_.irq_mode = "INTx";
    s.detail = o_.force_intx ? "INTx -> eventfd (forced)" : "INTx -> eventfd (automasked)";
  }

  /// After an interrupt: acknowledge `bits` at the device, then (INTx) unmask the line.
  void ack(uint32_t bits) const {
    wr(edu::kRegIrqAck, bits);
    if (intx_) irq_.unmask(0);
  }

  /// Waits for an interrupt that has `bits` pending in edu's irq status, as an interrupt
  /// handler would: a wake-up that finds none of them is not ours (INTx lines are shared, and a
  /// level line still high at unmask is re-sent), so it is counted, the line unmasked, and the
  /// wait goes on. Returns the irq status, or 0 on timeout.
  uint32_t wait_irq(uint32_t bits) {
    const auto deadline = Clock::now() + o_.timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || irq_.wait(0, left) == 0) return 0;
      const uint32_t st = rd(edu::kRegIrqStatus);
      if (st & bits) return st;
      spurious_.fetch_add(1, std::memory_order_relaxed);
      if (intx_) irq_.unmask(0);
    }
  }

  void factorial_irq(EduStep& s) {
    (void)irq_.poll(0);  // nothing stale
    wr(edu::kRegStatus, edu::kStatusIrqOnFactorial);
    const uint32_t n = 10;
    const auto t0 = Clock::now();
    wr(edu::kRegFactorial, n);
    const uint32_t status = wait_irq(edu::kIrqFactorial);
    const auto t1 = Clock::now();
    check(status != 0, "no interrupt within {} ms", o_.timeout.count());
    const uint32_t got = rd(edu::kRegFactorial);
    s.values.push_back(fmt::format("{} interrupt after {:.1f} us, irq status = {:#x}", r_.irq_mode,
                                   us_between(t0, t1), status));
    s.values.push_back(fmt::format("{}! = {}", n, got));
    check(status == edu::kIrqFactorial, "irq status {:#x}, expected {:#x}", status,
          edu::kIrqFactorial);
    check(got == factorial32(n), "{}! read {}, expected {}", n, got, factorial32(n));
    ack(edu::kIrqFactorial);
    const uint32_t after = rd(edu::kRegIrqStatus);
    s.values.push_back(fmt::format("after ack (0x64): irq status = {:#x}", after));
    check(after == 0, "irq status {:#x} after the ack", after);
    wr(edu::kRegStatus, 0);
    s.detail = fmt::format("status bit 7 set, {} delivered, acked via 0x64{}", r_.irq_mode,
                           intx_ ? ", line unmasked" : "");
  }

  /// One measured hand-off: the main thread stamps t0 and `fire`s; a waiter blocked on the
  /// interrupt's eventfd stamps t1 when it wakes, acks, and pongs back over a raw eventfd.
  template <class Fire, class Wait, class Ack>
  std::vector<double> ping_pong(Fire&& fire, Wait&& wait, Ack&& ack_fn) {
    auto pong = EventFd::create();
    check(pong.ok(), "eventfd: errno {}", pong.error());
    const unsigned n = o_.latency_samples;
    // Written by this thread before each fire, read by the waiter after its wake-up.
    std::vector<std::atomic<Clock::rep>> t0(n);
    std::vector<double> lat(n);
    std::atomic<bool> failed{false};
    std::exception_ptr waiter_error;
    {
      std::jthread waiter([&] {
        try {
          for (unsigned i = 0; i < n && !failed; ++i) {
            if (!wait()) {
              failed = true;
              break;
            }
            const Clock::time_point woke = Clock::now();
            lat[i] = us_between(
                Clock::time_point(Clock::duration(t0[i].load(std::memory_order_acquire))), woke);
            ack_fn();
            (void)pong->signal();
          }
        } catch (...) {
          waiter_error = std::current_exception();
          failed = true;
        }
        (void)pong->signal();  // never leave the main thread waiting for a failed waiter
      });
      for (unsigned i = 0; i < n && !failed; ++i) {
        t0[i].store(Clock::now().time_since_epoch().count(), std::memory_order_release);
        fire();
        auto r = pong->wait(o_.timeout);
        if (!r.ok()) failed = true;
      }
    }
    if (waiter_error) std::rethrow_exception(waiter_error);
    check(!failed, "a hand-off was lost (no wake-up within {} ms)", o_.timeout.count());
    return lat;
  }

  void irq_latency(EduStep& s) {
    check(o_.latency_samples > 0, "latency_samples is 0");
    constexpr uint32_t kBit = 0x10000;  // a raise value edu itself never uses
    (void)irq_.poll(0);
    auto irq = ping_pong([&] { wr(edu::kRegIrqRaise, kBit); }, [&] { return wait_irq(kBit) != 0; },
                         [&] { ack(kBit); });
    auto go = EventFd::create();
    check(go.ok(), "eventfd: errno {}", go.error());
    auto floor =
        ping_pong([&] { (void)go->signal(); }, [&] { return go->wait(o_.timeout).ok(); }, [] {});
    r_.irq_latency = stats_of(std::move(irq));
    r_.eventfd_floor = stats_of(std::move(floor));
    r_.latency_ratio = r_.eventfd_floor->median_us > 0
                           ? r_.irq_latency->median_us / r_.eventfd_floor->median_us
                           : 0;
    s.values.push_back(fmt::format(
        "{} samples: MMIO raise -> eventfd wake-up median {:.1f} us (min {:.1f}, p99 {:.1f})",
        r_.irq_latency->samples, r_.irq_latency->median_us, r_.irq_latency->min_us,
        r_.irq_latency->p99_us));
    s.values.push_back(fmt::format("raw eventfd ping-pong floor median {:.1f} us; ratio {:.2f}",
                                   r_.eventfd_floor->median_us, r_.latency_ratio));
    const unsigned spurious = spurious_.load();
    if (spurious > 0) {
      s.values.push_back(
          fmt::format("wake-ups with no edu interrupt pending so far: {}", spurious));
    }
    const uint32_t left = rd(edu::kRegIrqStatus);
    check(left == 0, "irq status {:#x} left after the latency run", left);
    s.detail = fmt::format("write 0x{:x} to 0x60, wait on the {} eventfd in another thread, ack",
                           kBit, r_.irq_mode);
  }

  /// Programs one transfer and waits for it: by interrupt (0x100) if `use_irq`, else by polling
  /// cmd bit 0. Returns the time from the command write to the completion seen.
  double transfer(uint64_t src, uint64_t dst, uint64_t cmd, bool use_irq) {
    wr64(edu::kRegDmaSrc, src);
    wr64(edu::kRegDmaDst, dst);
    wr64(edu::kRegDmaCount, o_.dma_count);
    if (use_irq) (void)irq_.poll(0);
    const auto t0 = Clock::now();
    wr64(edu::kRegDmaCmd, cmd | edu::kDmaStart | (use_irq ? edu::kDmaIrq : 0));
    if (use_irq) {
      check(wait_irq(edu::kIrqDma) != 0, "no DMA interrupt within {} ms", o_.timeout.count());
    } else {
      check(poll_until([&] { return (rd(edu::kRegDmaCmd) & edu::kDmaStart) == 0; }),
            "DMA still busy after {} ms", o_.timeout.count());
    }
    const double us = us_between(t0, Clock::now());
    // The completion was seen through the device (a register read or an eventfd): on every
    // transport that orders the device's DMA writes before our reads of the buffer.
    if (use_irq) {
      const uint32_t st = rd(edu::kRegIrqStatus);
      check(st == edu::kIrqDma, "irq status {:#x} after the DMA, expected {:#x}", st, edu::kIrqDma);
      check((rd(edu::kRegDmaCmd) & edu::kDmaStart) == 0, "DMA interrupt before cmd bit 0 cleared");
      ack(edu::kIrqDma);
    }
    return us;
  }

  static void fill_pattern(std::byte* p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; ++i)
      p[i] = static_cast<std::byte>((i * 131 + size_t{seed} * 7 + 1) & 0xff);
  }

  void dma_round_trip(EduStep& s, bool irqs) {
    auto dma = dev_.dma();
    r_.dma_kind = driver::dma_kind_name(dma.kind());
    r_.translates = dma.translates();
    // Without an IOMMU the device sees bus addresses, so a buffer of more than one page must be
    // physically contiguous: a huge page is. Without huge pages reserved, ordinary pages still
    // do where bus addresses are process addresses (emulated no-IOMMU); a kernel no-IOMMU space
    // then refuses the map with an error saying why.
    driver::DmaBufferOptions bo;
    bo.hugepages = !r_.translates;
    try {
      buf_ = driver::DmaBuffer::allocate(size_t{2} * 4096, bo);
    } catch (const driver::Error&) {
      if (!bo.hugepages) throw;
      buf_ = driver::DmaBuffer::allocate(size_t{2} * 4096);
    }
    driver::DmaMapOptions mo;
    mo.iova_limit = o_.dma_mask;  // dma_set_mask(28 bits)
    map_ = dma.map(buf_, mo);
    src_ = map_.iova();
    dst_ = map_.iova() + 4096;
    s.values.push_back(fmt::format("{} DMA space ({}), 8 KiB buffer at IOVA {:#x} (mask {:#x})",
                                   r_.dma_kind, r_.translates ? "translating" : "NOT translating",
                                   src_, o_.dma_mask));
    std::byte* src = buf_.bytes();
    std::byte* dst = buf_.bytes() + 4096;
    fill_pattern(src, o_.dma_count, 1);
    std::memset(dst, 0, 4096);
    const double in_us = transfer(src_, edu::kDmaBuffer, 0, irqs);
    s.values.push_back(
        fmt::format("RAM {:#x} -> device {:#x}: {} bytes, completion {} after {:.1f} us", src_,
                    edu::kDmaBuffer, o_.dma_count, irqs ? "interrupt 0x100" : "polled", in_us));
    const double out_us = transfer(edu::kDmaBuffer, dst_, edu::kDmaToRam, false);
    s.values.push_back(
        fmt::format("device {:#x} -> RAM {:#x}: {} bytes, cmd bit 0 polled, {:.1f} us",
                    edu::kDmaBuffer, dst_, o_.dma_count, out_us));
    const bool same = std::memcmp(src, dst, o_.dma_count) == 0;
    size_t first_bad = 0;
    while (same == false && first_bad < o_.dma_count && src[first_bad] == dst[first_bad]) {
      ++first_bad;
    }
    check(same, "data differs at byte {} (sent {:#04x}, got {:#04x})", first_bad,
          static_cast<unsigned>(src[first_bad]), static_cast<unsigned>(dst[first_bad]));
    check(dst[o_.dma_count] == std::byte{0}, "the device wrote past the {} bytes asked",
          o_.dma_count);
    s.values.push_back(fmt::format("{} bytes verified", o_.dma_count));
    s.detail = "RAM -> device -> RAM through the IOMMU, data verified";
  }

  void dma_throughput(EduStep& s) {
    double total_us = 0;
    const unsigned rounds = std::max(1u, o_.dma_rounds);
    for (unsigned i = 0; i < rounds; ++i) {
      fill_pattern(buf_.bytes(), o_.dma_count, i + 2);
      total_us += transfer(src_, edu::kDmaBuffer, 0, false);
      total_us += transfer(edu::kDmaBuffer, dst_, edu::kDmaToRam, false);
      check(std::memcmp(buf_.bytes(), buf_.bytes() + 4096, o_.dma_count) == 0,
            "round {}: data differs", i);
    }
    const double bytes = 2.0 * rounds * o_.dma_count;
    r_.dma_bytes = o_.dma_count;
    r_.dma_mb_per_s = total_us > 0 ? bytes / total_us : 0;  // bytes/us == MB/s
    // The floor: memcpy of the same size, here, now.
    const unsigned reps = 20000;
    const auto t0 = Clock::now();
    for (unsigned i = 0; i < reps; ++i) {
      std::memcpy(buf_.bytes() + 4096, buf_.bytes(), o_.dma_count);
      // Keep the compiler from merging or dropping the copies.
      asm volatile("" : : "r"(buf_.bytes()) : "memory");
    }
    const double mc_us = us_between(t0, Clock::now());
    r_.memcpy_mb_per_s = mc_us > 0 ? double{reps} * o_.dma_count / mc_us : 0;
    s.values.push_back(fmt::format("{} transfers of {} bytes: {:.1f} MB/s ({:.1f} us each)",
                                   2 * rounds, o_.dma_count, r_.dma_mb_per_s,
                                   total_us / (2 * rounds)));
    s.values.push_back(fmt::format(
        "memcpy of {} bytes: {:.0f} MB/s; ratio {:.4f}", o_.dma_count, r_.memcpy_mb_per_s,
        r_.memcpy_mb_per_s > 0 ? r_.dma_mb_per_s / r_.memcpy_mb_per_s : 0));
    s.detail = "each transfer timed from the command write to cmd bit 0 clearing";
  }

  void dma_unmapped(EduStep& s) {
    auto dma = dev_.dma();
    if (!dma.translates()) {
      throw StepSkipped(
          "no IOMMU: nothing would stop a stray DMA, so none is attempted (the device sees bus "
          "addresses)");
    }
    // An IOVA we know is unmapped: one we mapped and unmapped again. Its memory stays ours, so
    // we can check nothing reached it.
    auto scratch = driver::DmaBuffer::allocate(4096);
    driver::DmaMapOptions mo;
    mo.iova_limit = o_.dma_mask;
    auto m = dma.map(scratch, mo);
    const uint64_t iova = m.iova();
    m.unmap();
    std::memset(scratch.bytes(), 0x5a, scratch.size());
    const auto faults_before = dev_.iommu_faults();
    // Something recognisable in the device buffer to (not) land there.
    if (buf_.valid()) {
      fill_pattern(buf_.bytes(), o_.dma_count, 99);
      (void)transfer(src_, edu::kDmaBuffer, 0, false);
    }
    (void)transfer(edu::kDmaBuffer, iova, edu::kDmaToRam, false);
    const auto faults_after = dev_.iommu_faults();
    bool untouched = true;
    for (size_t i = 0; i < scratch.size(); ++i) untouched &= scratch.bytes()[i] == std::byte{0x5a};
    s.values.push_back(
        fmt::format("device -> unmapped IOVA {:#x}: {} bytes; memory that was there "
                    "{}",
                    iova, o_.dma_count, untouched ? "untouched" : "CHANGED"));
    check(untouched, "the DMA reached memory no longer mapped at IOVA {:#x}", iova);
    if (faults_before && faults_after) {
      s.values.push_back(fmt::format("IOMMU faults: {} -> {}", *faults_before, *faults_after));
      check(*faults_after > *faults_before, "the IOMMU fault count did not rise");
      s.detail = "refused by the IOMMU and counted as a fault; the device still completed";
    } else {
      s.values.emplace_back("IOMMU fault count: not available on this transport");
      s.detail = "the destination stayed untouched";
    }
    // The device still works after the fault.
    if (buf_.valid()) {
      std::memset(buf_.bytes() + 4096, 0, 4096);
      (void)transfer(edu::kDmaBuffer, dst_, edu::kDmaToRam, false);
      check(std::memcmp(buf_.bytes(), buf_.bytes() + 4096, o_.dma_count) == 0,
            "the device's DMA failed after the fault");
      s.values.emplace_back("a DMA to the mapped buffer afterwards still works");
    }
  }

  void release(EduStep& s) {
    if (irq_.enabled()) irq_.disable();
    map_ = {};
    cfg_->enable_bus_master(false);
    s.values.push_back(fmt::format("Command = {:#06x}", cfg_->command()));
    check(!cfg_->bus_master(), "Bus Master Enable still set");
    s.detail = "interrupts disabled, DMA unmapped, bus mastering off";
  }

  driver::Device dev_;
  const EduDriverOptions& o_;
  EduReport& r_;
  std::optional<driver::PciConfig> cfg_;  // set by identify()
  std::optional<driver::Region> bar0_;
  driver::IrqVectors irq_;
  bool intx_ = false;
  std::atomic<unsigned> spurious_{0};  // wake-ups that found no edu interrupt pending
  driver::DmaBuffer buf_;
  driver::DmaMapping map_;
  uint64_t src_ = 0;
  uint64_t dst_ = 0;
};

}  // namespace

bool EduReport::passed() const {
  if (!fatal.empty() || steps.empty()) return false;
  return std::all_of(steps.begin(), steps.end(), [](const EduStep& s) { return s.passed; });
}

EduReport run_edu_driver(const driver::Device& device, const EduDriverOptions& options) {
  EduReport r;
  r.target = device.target();
  r.backend = device.backend();
  try {
    auto dma = device.dma();
    r.dma_kind = driver::dma_kind_name(dma.kind());
    r.translates = dma.translates();
    EduDriver(device, options, r).run();
  } catch (const std::exception& e) {
    r.fatal = e.what();
  }
  return r;
}

EduReport run_edu_driver(const std::string& target, const EduDriverOptions& options) {
  try {
    const driver::Device dev = driver::open(target);
    return run_edu_driver(dev, options);
  } catch (const std::exception& e) {
    EduReport r;
    r.target = target;
    r.fatal = e.what();
    return r;
  }
}

}  // namespace uvfio::examples
