// vfio-pci interrupts under concurrency: device threads raise INTx / MSI / MSI-X while the user
// reassigns eventfds, switches interrupt types, masks and unmasks. Besides "no race, no crash"
// (TSan runs this label), an eventfd that SET_IRQS unassigned or replaced is never signalled
// after that SET_IRQS returned.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "pci_irq_fixture.h"
#include "test_util.h"

namespace uvfio::test {
namespace {

using namespace std::chrono_literals;

// Device threads: each loops raising vectors (and toggling INTA#) until stopped.
class Device {
 public:
  Device(pci::IrqController& irq, unsigned threads, unsigned vectors) {
    for (unsigned t = 0; t < threads; ++t) {
      threads_.emplace_back([this, &irq, t, vectors] {
        unsigned v = t;
        while (!stop_.load(std::memory_order_relaxed)) {
          irq.signal_msi(v % vectors);
          irq.set_intx((v & 1) != 0);
          ++v;
          raised_.fetch_add(1, std::memory_order_relaxed);
        }
      });
    }
  }
  ~Device() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  uint64_t raised() const { return raised_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> raised_{0};
  std::vector<std::thread> threads_;
};

// After SET_IRQS took an eventfd away, it must stay silent (checked once more a little later).
void expect_silent_after(EventFd& e) {
  (void)e.consume();  // what arrived before the call returned is fine
  std::this_thread::sleep_for(100us);
  EXPECT_EQ(e.consume(), 0U) << "an unassigned eventfd was signalled";
}

TEST(IrqConcurrency, MsixReassignWhileDeviceSignals) {
  IrqFunction fn(pcie_layout());
  auto& irq = *fn.irq;
  fn.set_command_bits(PCI_COMMAND_MASTER, true);
  EventFd keep = make_eventfd();
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, {keep.fd()}), 0);
  Device dev(irq, 3, 8);
  uint64_t delivered = 0;
  for (int i = 0; i < 300; ++i) {
    const uint32_t v = 1 + i % 7;
    EventFd e = make_eventfd();
    ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, v, 1, {e.fd()}), 0);
    std::this_thread::sleep_for(50us);
    if (i % 3 == 0) fn.msix->table_write(v * 16 + 12, 4, 1);  // the driver masks it too
    if (i % 3 == 1) fn.msix->table_write(v * 16 + 12, 4, 0);
    ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, v, 1, {-1}), 0);
    delivered += e.consume();
    expect_silent_after(e);
  }
  EXPECT_GT(delivered, 0U);
  EXPECT_GT(keep.consume(), 0U);
  EXPECT_GT(dev.raised(), 0U);
}

TEST(IrqConcurrency, MsiMaskingWhileDeviceSignals) {
  IrqFunction fn(pcie_layout());
  auto& irq = *fn.irq;
  fn.set_command_bits(PCI_COMMAND_MASTER, true);
  const uint64_t mask = *fn.config->find_capability(PCI_CAP_ID_MSI) + PCI_MSI_MASK_64;
  std::vector<EventFd> ev;
  ev.reserve(4);
  for (int i = 0; i < 4; ++i) ev.push_back(make_eventfd());
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 4,
                     {ev[0].fd(), ev[1].fd(), ev[2].fd(), ev[3].fd()}),
            0);
  {
    Device dev(irq, 3, 4);
    const auto end = std::chrono::steady_clock::now() + 150ms;
    for (uint32_t i = 0; std::chrono::steady_clock::now() < end; ++i)
      fn.cfg_write(mask, 4, i & 0xf);
    fn.cfg_write(mask, 4, 0xf);
    EXPECT_GT(dev.raised(), 0U);
  }
  // Every vector was raised while masked at some point; unmasking releases what is pending and a
  // pending message is never lost: one more delivery per pending vector, none for the others.
  std::vector<bool> pending;
  for (unsigned v = 0; v < 4; ++v) {
    (void)ev[v].consume();
    pending.push_back(fn.config->msi_pending(v));
  }
  fn.cfg_write(mask, 4, 0);
  for (unsigned v = 0; v < 4; ++v) {
    EXPECT_EQ(ev[v].consume(), pending[v] ? 1U : 0U) << v;
    EXPECT_FALSE(fn.config->msi_pending(v));
  }
}

TEST(IrqConcurrency, SwitchTypesWhileDeviceSignals) {
  IrqFunction fn(pcie_layout());
  auto& irq = *fn.irq;
  fn.set_command_bits(PCI_COMMAND_MASTER, true);
  Device dev(irq, 3, 4);
  for (int i = 0; i < 150; ++i) {
    EventFd e = make_eventfd();
    EventFd f = make_eventfd();
    switch (i % 3) {
      case 0:
        ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {e.fd()}), 0);
        ASSERT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {f.fd()}), 0);
        for (int k = 0; k < 20; ++k) {
          (void)f.signal();
          ASSERT_RC(set_irqs(irq, kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0);
          fn.set_command_bits(PCI_COMMAND_INTX_DISABLE, (k & 1) != 0);
        }
        fn.set_command_bits(PCI_COMMAND_INTX_DISABLE, false);
        ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), 0);
        break;
      case 1:
        ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 4,
                           {e.fd(), f.fd(), e.fd(), f.fd()}),
                  0);
        std::this_thread::sleep_for(100us);
        ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 0), 0);
        break;
      default:
        ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, {e.fd(), f.fd()}),
                  0);
        std::this_thread::sleep_for(100us);
        irq.disable_all(true);
        break;
    }
    expect_silent_after(e);
    expect_silent_after(f);
  }
}

TEST(IrqConcurrency, IntxTriggerReplacedWhileLineToggles) {
  IrqFunction fn(pcie_layout());
  auto& irq = *fn.irq;
  EventFd first = make_eventfd();
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {first.fd()}), 0);
  EventFd u = make_eventfd();
  ASSERT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {u.fd()}), 0);
  std::atomic<bool> stop{false};
  std::thread unmasker([&] {
    while (!stop) {
      (void)u.signal();
      std::this_thread::yield();
    }
  });
  uint64_t delivered = first.consume();
  {
    Device dev(irq, 2, 1);
    EventFd prev = std::move(first);
    for (int i = 0; i < 300; ++i) {
      EventFd next = make_eventfd();
      ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {next.fd()}), 0);
      delivered += prev.consume();
      expect_silent_after(prev);
      prev = std::move(next);
      std::this_thread::sleep_for(20us);
    }
    delivered += prev.consume();
  }
  stop = true;
  unmasker.join();
  EXPECT_GT(delivered, 0U);
  // Quiesced: line low and unmasked leaves INTx unmasked.
  irq.set_intx(false);
  ASSERT_RC(set_irqs(irq, kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0);
  EXPECT_FALSE(irq.intx_masked());
}

}  // namespace
}  // namespace uvfio::test
