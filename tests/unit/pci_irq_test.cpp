// vfio-pci interrupt behaviour: INTx automask / unmask (also by eventfd) and INTx Disable, MSI and
// MSI-X delivery with masking and pending bits, disable paths, ERR / REQ, reset restore.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
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

// Waits until `pred` holds (for asynchronous effects of the unmask eventfd's thread).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 2000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

class Intx : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
  }
  IrqFunction fn{pcie_layout()};
  pci::IrqController& irq = *fn.irq;
  EventFd a = make_eventfd();
  EventFd b = make_eventfd();
};

TEST_F(Intx, AutomaskUntilUnmaskAndLevelRedelivery) {
  EXPECT_FALSE(irq.intx_masked());
  irq.set_intx(true);
  EXPECT_TRUE(fn.interrupt_status());
  EXPECT_EQ(a.consume(), 1U);
  EXPECT_TRUE(irq.intx_masked());
  irq.set_intx(true);  // still asserted, masked: nothing new
  EXPECT_EQ(a.consume(), 0U);
  // Unmask while the line is still high: delivered again, stays masked.
  ASSERT_RC(set_irqs(irq, kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0);
  EXPECT_EQ(a.consume(), 1U);
  EXPECT_TRUE(irq.intx_masked());
  // Deassert: the status bit follows; masking does not change.
  irq.set_intx(false);
  EXPECT_FALSE(fn.interrupt_status());
  EXPECT_TRUE(irq.intx_masked());
  EXPECT_EQ(a.consume(), 0U);
  ASSERT_RC(set_irqs(irq, kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0);
  EXPECT_FALSE(irq.intx_masked());
  EXPECT_EQ(a.consume(), 0U);
  irq.set_intx(true);
  EXPECT_EQ(a.consume(), 1U);
  EXPECT_TRUE(irq.intx_masked());
}

TEST_F(Intx, MaskBoolAndLoopbackActions) {
  ASSERT_RC(set_irqs(irq, kNoneMask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0);
  EXPECT_TRUE(irq.intx_masked());
  irq.set_intx(true);
  EXPECT_EQ(a.consume(), 0U);
  EXPECT_TRUE(fn.interrupt_status());  // the line is seen in Status even while masked
  ASSERT_RC(set_irqs(irq, kBoolUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {}, {0}), 0);
  EXPECT_EQ(a.consume(), 0U);
  ASSERT_RC(set_irqs(irq, kBoolUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {}, {1}), 0);
  EXPECT_EQ(a.consume(), 1U);
  irq.set_intx(false);
  ASSERT_RC(set_irqs(irq, kBoolUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {}, {7}), 0);
  EXPECT_FALSE(irq.intx_masked());
  ASSERT_RC(set_irqs(irq, kBoolMask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {}, {0}), 0);
  EXPECT_FALSE(irq.intx_masked());
  ASSERT_RC(set_irqs(irq, kBoolMask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {}, {1}), 0);
  EXPECT_TRUE(irq.intx_masked());
  // Loopback triggers ignore the mask.
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0);
  EXPECT_EQ(a.consume(), 1U);
  ASSERT_RC(set_irqs(irq, kBoolTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {}, {0}), 0);
  EXPECT_EQ(a.consume(), 0U);
  ASSERT_RC(set_irqs(irq, kBoolTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {}, {1}), 0);
  EXPECT_EQ(a.consume(), 1U);
}

TEST_F(Intx, CommandIntxDisableHoldsItBack) {
  fn.set_command_bits(PCI_COMMAND_INTX_DISABLE, true);
  EXPECT_TRUE(irq.intx_masked());
  irq.set_intx(true);
  EXPECT_TRUE(fn.interrupt_status());
  EXPECT_EQ(a.consume(), 0U);
  // Neither the user's unmask nor a loopback gets through INTx Disable.
  ASSERT_RC(set_irqs(irq, kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0);
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0);
  EXPECT_EQ(a.consume(), 0U);
  EXPECT_TRUE(irq.intx_masked());
  // Clearing it unmasks: the line is still high, so it is delivered and automasked.
  fn.set_command_bits(PCI_COMMAND_INTX_DISABLE, false);
  EXPECT_EQ(a.consume(), 1U);
  EXPECT_TRUE(irq.intx_masked());
  irq.set_intx(false);
  ASSERT_RC(set_irqs(irq, kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0);
  EXPECT_FALSE(irq.intx_masked());
}

TEST_F(Intx, ClearingIntxDisableUnmasksAnAutomaskedLine) {
  // Kernel quirk: INTx Disable 1 -> 0 runs the same unmask as ACTION_UNMASK.
  irq.set_intx(true);
  EXPECT_EQ(a.consume(), 1U);
  irq.set_intx(false);
  EXPECT_TRUE(irq.intx_masked());
  fn.set_command_bits(PCI_COMMAND_INTX_DISABLE, true);
  fn.set_command_bits(PCI_COMMAND_INTX_DISABLE, false);
  EXPECT_FALSE(irq.intx_masked());
  EXPECT_EQ(a.consume(), 0U);
  // Rewriting Command without touching the bit changes nothing.
  fn.set_command_bits(PCI_COMMAND_SERR, true);
  irq.set_intx(true);
  EXPECT_EQ(a.consume(), 1U);
}

TEST_F(Intx, TriggerReplacedUnassignedAndDisabled) {
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {b.fd()}), 0);
  irq.set_intx(true);
  EXPECT_EQ(a.consume(), 0U);
  EXPECT_EQ(b.consume(), 1U);
  // fd -1 drops the eventfd but INTx stays the interrupt type.
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {-1}), 0);
  irq.set_intx(false);
  ASSERT_RC(set_irqs(irq, kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0);
  irq.set_intx(true);
  EXPECT_TRUE(irq.intx_masked());  // taken and automasked into no eventfd
  EXPECT_EQ(a.consume() + b.consume(), 0U);
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {a.fd()}), EINVAL);
  // Disable: the line stays high; re-enabling with an eventfd takes it at once.
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), 0);
  EXPECT_FALSE(irq.intx_masked());
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
  EXPECT_EQ(a.consume(), 1U);
  EXPECT_TRUE(irq.intx_masked());
}

TEST(IntxEnable, NegativeFdEnablesWithoutEventfd) {
  IrqFunction fn(pcie_layout());
  ASSERT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {-1}), 0);
  ASSERT_RC(set_irqs(*fn.irq, kNoneMask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0);  // INTx is on
  EXPECT_TRUE(fn.irq->intx_masked());
  ASSERT_RC(set_irqs(*fn.irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), 0);
}

TEST(IntxEnable, StartsMaskedUnderIntxDisable) {
  IrqFunction fn(pcie_layout());
  EventFd a = make_eventfd();
  fn.set_command_bits(PCI_COMMAND_INTX_DISABLE, true);
  fn.irq->set_intx(true);
  ASSERT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
  EXPECT_TRUE(fn.irq->intx_masked());
  EXPECT_EQ(a.consume(), 0U);
  fn.set_command_bits(PCI_COMMAND_INTX_DISABLE, false);
  EXPECT_EQ(a.consume(), 1U);
}

TEST_F(Intx, UnmaskEventfd) {
  EventFd u = make_eventfd();
  ASSERT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {u.fd()}), 0);
  irq.set_intx(true);
  EXPECT_EQ(a.consume(), 1U);
  // Signalling the unmask eventfd with the line still high re-delivers (from its thread).
  ASSERT_EQ(u.signal(), 0);
  auto got = a.wait(2000ms);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 1U);
  EXPECT_TRUE(irq.intx_masked());
  // The unmask eventfd's count is consumed, as the kernel's virqfd does.
  EXPECT_TRUE(eventually([&] { return u.consume() == 0; }));
  irq.set_intx(false);
  ASSERT_EQ(u.signal(), 0);
  EXPECT_TRUE(eventually([&] { return !irq.intx_masked(); }));
  EXPECT_EQ(a.consume(), 0U);
  irq.set_intx(true);
  EXPECT_EQ(a.consume(), 1U);
  // Removing it: further signals do nothing.
  ASSERT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {-1}), 0);
  irq.set_intx(false);
  ASSERT_EQ(u.signal(), 0);
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(irq.intx_masked());
  EXPECT_EQ(u.consume(), 1U);  // nobody read it
}

TEST_F(Intx, UnmaskEventfdPendingAtRegistrationActsAtOnce) {
  irq.set_intx(true);
  EXPECT_EQ(a.consume(), 1U);
  irq.set_intx(false);
  EventFd u = make_eventfd();
  ASSERT_EQ(u.signal(), 0);
  ASSERT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {u.fd()}), 0);
  EXPECT_FALSE(irq.intx_masked());  // synchronously, before SET_IRQS returned
  EXPECT_EQ(u.consume(), 0U);
}

TEST_F(Intx, DisablingIntxDropsTheUnmaskEventfd) {
  EventFd u = make_eventfd();
  ASSERT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {u.fd()}), 0);
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), 0);
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
  // Not EBUSY: the old one went with the disable.
  EXPECT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {u.fd()}), 0);
}

// --- MSI ---

class Msi : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto& e : ev) e = make_eventfd();
    msi = *fn.config->find_capability(PCI_CAP_ID_MSI);
    fn.set_command_bits(PCI_COMMAND_MASTER, true);
  }
  long enable_all() {
    return set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 4,
                    {ev[0].fd(), ev[1].fd(), ev[2].fd(), ev[3].fd()});
  }
  std::array<uint64_t, 4> counts() {
    return {ev[0].consume(), ev[1].consume(), ev[2].consume(), ev[3].consume()};
  }
  using Counts = std::array<uint64_t, 4>;
  IrqFunction fn{pcie_layout()};
  pci::IrqController& irq = *fn.irq;
  std::array<EventFd, 4> ev;
  uint8_t msi = 0;
};

TEST_F(Msi, EachVectorReachesItsEventfd) {
  ASSERT_RC(enable_all(), 0);
  EXPECT_TRUE(irq.msi_enabled());
  EXPECT_FALSE(irq.msix_enabled());
  EXPECT_TRUE(fn.config->msi_enabled());
  // The driver's view of MSI Flags is vfio-pci's: Enable stays as the driver wrote it (0), and
  // Multiple Message Capable reads log2 of the vectors SET_IRQS enabled (msi_qmax).
  const auto flags = fn.cfg_read(msi + PCI_MSI_FLAGS, 2);
  EXPECT_EQ(flags & PCI_MSI_FLAGS_ENABLE, 0U);
  EXPECT_EQ((flags & PCI_MSI_FLAGS_QMASK) >> 1, 2U);
  for (unsigned v = 0; v < 4; ++v) {
    irq.signal_msi(v);
    Counts want{};
    want[v] = 1;
    EXPECT_EQ(counts(), want) << v;
  }
  irq.signal_msi(4);  // past the enabled vectors: dropped
  irq.signal_msi(1000);
  EXPECT_EQ(counts(), (Counts{}));
  // MSI-X is not what is enabled.
  irq.deliver_msix(0);
  EXPECT_EQ(counts(), (Counts{}));
}

TEST_F(Msi, NeedsBusMaster) {
  ASSERT_RC(enable_all(), 0);
  fn.set_command_bits(PCI_COMMAND_MASTER, false);
  irq.signal_msi(0);
  EXPECT_EQ(counts(), (Counts{}));
  fn.set_command_bits(PCI_COMMAND_MASTER, true);
  EXPECT_EQ(counts(), (Counts{}));  // lost, not pending
  irq.signal_msi(0);
  EXPECT_EQ(counts(), (Counts{1, 0, 0, 0}));
}

TEST_F(Msi, PerVectorMaskMakesItPendingUntilUnmasked) {
  ASSERT_RC(enable_all(), 0);
  const uint64_t mask = msi + PCI_MSI_MASK_64;
  fn.cfg_write(mask, 4, 0x4);
  EXPECT_EQ(fn.cfg_read(mask, 4), 0x4U);
  irq.signal_msi(2);
  irq.signal_msi(1);
  EXPECT_EQ(counts(), (Counts{0, 1, 0, 0}));
  EXPECT_TRUE(fn.config->msi_pending(2));
  EXPECT_EQ(fn.cfg_read(msi + PCI_MSI_PENDING_64, 4) & 0x4, 0x4U);
  irq.signal_msi(2);  // still one pending message
  fn.cfg_write(mask, 4, 0x0);
  EXPECT_EQ(counts(), (Counts{0, 0, 1, 0}));
  EXPECT_FALSE(fn.config->msi_pending(2));
  irq.signal_msi(2);
  EXPECT_EQ(counts(), (Counts{0, 0, 1, 0}));
}

TEST_F(Msi, NvecRoundsUpInMultipleMessageEnable) {
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 3,
                     {ev[0].fd(), ev[1].fd(), ev[2].fd()}),
            0);
  EXPECT_EQ((fn.cfg_read(msi + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_QMASK) >> 1, 2U);
  irq.signal_msi(3);  // allocated by the rounding on the function, but not by vfio
  EXPECT_EQ(counts(), (Counts{}));
}

TEST_F(Msi, LoopbackSignalsAssignedVectors) {
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 4,
                     {ev[0].fd(), -1, ev[2].fd(), ev[3].fd()}),
            0);
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 1, 2), 0);
  EXPECT_EQ(counts(), (Counts{0, 0, 1, 0}));
  ASSERT_RC(set_irqs(irq, kBoolTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 4, {}, {1, 1, 0, 1}), 0);
  EXPECT_EQ(counts(), (Counts{1, 0, 0, 1}));
  // Loopback ignores the per-vector mask.
  fn.cfg_write(msi + PCI_MSI_MASK_64, 4, 0xf);
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1), 0);
  EXPECT_EQ(counts(), (Counts{1, 0, 0, 0}));
}

TEST_F(Msi, UnassignAndDisable) {
  ASSERT_RC(enable_all(), 0);
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 1, 1, {-1}), 0);
  irq.signal_msi(1);
  irq.signal_msi(0);
  EXPECT_EQ(counts(), (Counts{1, 0, 0, 0}));
  // Reassign a vector to another eventfd: only the new one hears it.
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {ev[3].fd()}), 0);
  irq.signal_msi(0);
  EXPECT_EQ(counts(), (Counts{0, 0, 0, 1}));
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 0), 0);
  EXPECT_FALSE(irq.msi_enabled());
  EXPECT_FALSE(fn.config->msi_enabled());
  for (unsigned v = 0; v < 4; ++v) irq.signal_msi(v);
  EXPECT_EQ(counts(), (Counts{}));
}

TEST_F(Msi, EventfdIsDuplicatedNotBorrowed) {
  // The user's fd number may be closed and reused at once: uvfio keeps its own reference.
  EventFd user = make_eventfd();
  const int number = user.fd();
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {number}), 0);
  int keep = ::dup(number);  // the same eventfd, to observe it after the number is gone
  ASSERT_GE(keep, 0);
  user = EventFd();  // closes `number`
  auto reuse = EventFd::create();
  ASSERT_TRUE(reuse.ok());
  irq.signal_msi(0);
  EXPECT_EQ(reuse->consume(), 0U);  // whatever now sits at the old number is never written
  uint64_t v = 0;
  ASSERT_EQ(::read(keep, &v, sizeof v), static_cast<ssize_t>(sizeof v));
  EXPECT_EQ(v, 1U);
  ::close(keep);
}

TEST(MsiWithoutMasking, EduStyleSingleVector) {
  IrqFunction fn(edu_layout());
  EventFd e = make_eventfd();
  ASSERT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {e.fd()}), 0);
  fn.set_command_bits(PCI_COMMAND_MASTER, true);
  fn.irq->signal_msi(0);
  fn.irq->signal_msi(0);
  EXPECT_EQ(e.consume(), 2U);
  fn.irq->msi_mask_changed();  // nothing can be pending without per-vector masking
  fn.irq->signal_msi(1);
  EXPECT_EQ(e.consume(), 0U);
}

// --- MSI-X ---

class Msix : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto& e : ev) e = make_eventfd();
    msix_cap = *fn.config->find_capability(PCI_CAP_ID_MSIX);
    fn.set_command_bits(PCI_COMMAND_MASTER, true);
    ASSERT_RC(
        set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, {ev[0].fd(), ev[1].fd()}), 0);
  }
  std::array<uint64_t, 4> counts() {
    return {ev[0].consume(), ev[1].consume(), ev[2].consume(), ev[3].consume()};
  }
  using Counts = std::array<uint64_t, 4>;
  void vector_ctrl(unsigned v, uint32_t ctrl) const { fn.msix->table_write(v * 16 + 12, 4, ctrl); }
  IrqFunction fn{pcie_layout()};
  pci::IrqController& irq = *fn.irq;
  std::array<EventFd, 4> ev;
  uint8_t msix_cap = 0;
};

TEST_F(Msix, EnabledVectorsAreUnmaskedAndDeliver) {
  EXPECT_TRUE(irq.msix_enabled());
  EXPECT_TRUE(fn.config->msix_enabled());
  EXPECT_FALSE(fn.config->msix_function_masked());
  EXPECT_FALSE(fn.msix->masked(0));
  EXPECT_FALSE(fn.msix->masked(1));
  EXPECT_TRUE(fn.msix->masked(2));  // no eventfd: masked, as the host leaves unused vectors
  irq.signal_msi(0);
  irq.signal_msi(1);
  irq.signal_msi(1);
  EXPECT_EQ(counts(), (Counts{1, 2, 0, 0}));
  irq.signal_msi(8);  // past the table
  EXPECT_EQ(counts(), (Counts{}));
}

TEST_F(Msix, UnassignedVectorPendsAndIsSentWhenAssigned) {
  irq.signal_msi(3);
  EXPECT_TRUE(fn.msix->pending(3));
  EXPECT_EQ(counts(), (Counts{}));
  // Dynamic MSI-X: vector 3 gets an eventfd while enabled; its pending message goes out.
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 3, 1, {ev[3].fd()}), 0);
  EXPECT_EQ(counts(), (Counts{0, 0, 0, 1}));
  EXPECT_FALSE(fn.msix->pending(3));
  // Unassigning masks it again.
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 3, 1, {-1}), 0);
  EXPECT_TRUE(fn.msix->masked(3));
  irq.signal_msi(3);
  EXPECT_EQ(counts(), (Counts{}));
}

TEST_F(Msix, VectorControlMaskFromTheTable) {
  vector_ctrl(0, 1);
  irq.signal_msi(0);
  EXPECT_EQ(counts(), (Counts{}));
  EXPECT_TRUE(fn.msix->pending(0));
  vector_ctrl(0, 0);  // unmasking sends the pending message
  EXPECT_EQ(counts(), (Counts{1, 0, 0, 0}));
  EXPECT_FALSE(fn.msix->pending(0));
}

TEST_F(Msix, FunctionMaskHoldsEveryVector) {
  const uint64_t ctrl = msix_cap + PCI_MSIX_FLAGS;
  auto flags = static_cast<uint16_t>(fn.cfg_read(ctrl, 2));
  fn.cfg_write(ctrl, 2, flags | PCI_MSIX_FLAGS_MASKALL);
  ASSERT_TRUE(fn.config->msix_function_masked());
  irq.signal_msi(1);
  EXPECT_EQ(counts(), (Counts{}));
  fn.cfg_write(ctrl, 2, flags & ~PCI_MSIX_FLAGS_MASKALL);
  EXPECT_EQ(counts(), (Counts{0, 1, 0, 0}));
}

TEST_F(Msix, LoopbackAndDisable) {
  vector_ctrl(1, 1);
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 8), 0);
  EXPECT_EQ(counts(), (Counts{1, 1, 0, 0}));  // loopback bypasses the mask
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0), 0);
  EXPECT_FALSE(irq.msix_enabled());
  EXPECT_FALSE(fn.config->msix_enabled());
  EXPECT_TRUE(fn.msix->masked(0));
  irq.signal_msi(0);
  irq.deliver_msix(0);
  EXPECT_EQ(counts(), (Counts{}));
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1), EINVAL);
}

// --- ERR / REQ, disable_all, reset ---

TEST(ErrReq, RequestAndErrorSignalTheirEventfds) {
  IrqFunction fn(pcie_layout());
  auto& irq = *fn.irq;
  EventFd err = make_eventfd();
  EventFd req = make_eventfd();
  EXPECT_FALSE(irq.request());
  irq.error();  // nothing set: nothing happens
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_REQ_IRQ_INDEX, 0, 1, {req.fd()}), 0);
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_ERR_IRQ_INDEX, 0, 1, {err.fd()}), 0);
  EXPECT_TRUE(irq.request());
  EXPECT_TRUE(irq.request());
  irq.error();
  EXPECT_EQ(req.consume(), 2U);
  EXPECT_EQ(err.consume(), 1U);
  // They do not depend on the interrupt type.
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {err.fd()}), 0);
  EXPECT_TRUE(irq.request());
  EXPECT_EQ(req.consume(), 1U);
}

TEST(DisableAll, ResetKeepsErrReqCloseDropsEverything) {
  IrqFunction fn(pcie_layout());
  auto& irq = *fn.irq;
  EventFd a = make_eventfd();
  EventFd u = make_eventfd();
  EventFd req = make_eventfd();
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
  ASSERT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {u.fd()}), 0);
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_REQ_IRQ_INDEX, 0, 1, {req.fd()}), 0);

  irq.disable_all(/*keep_err_req=*/true);
  irq.set_intx(true);
  EXPECT_EQ(a.consume(), 0U);
  EXPECT_RC(set_irqs(irq, kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), EINVAL);  // INTx is off
  EXPECT_TRUE(irq.request());
  EXPECT_EQ(req.consume(), 1U);

  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
  irq.disable_all(/*keep_err_req=*/false);
  EXPECT_FALSE(irq.msix_enabled());
  EXPECT_FALSE(fn.config->msix_enabled());
  EXPECT_FALSE(irq.request());
  EXPECT_EQ(req.consume(), 0U);
  // A fresh start: INTx can be enabled again.
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
  EXPECT_EQ(a.consume(), 1U);  // the line is still asserted
}

TEST(DisableAll, IntxDisableDoesNotOutliveTheOpen) {
  // PciCore's close then open: disable_all, a function reset, config back to the open state;
  // the next open rebuilds config space with INTx Disable clear, without a Command event.
  IrqFunction fn(pcie_layout());
  auto& irq = *fn.irq;
  EventFd a = make_eventfd();
  fn.config->enable();
  fn.set_command_bits(PCI_COMMAND_INTX_DISABLE, true);
  irq.disable_all(false);
  fn.config->reset();
  irq.restore_after_reset();
  fn.config->disable();
  fn.config->enable();
  ASSERT_FALSE(fn.config->intx_disabled());
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
  EXPECT_FALSE(irq.intx_masked());
  irq.set_intx(true);
  EXPECT_EQ(a.consume(), 1U);
}

TEST(RestoreAfterReset, IntxDisableSurvivesAReset) {
  // A reset keeps the driver's view of config space (vconfig), INTx Disable included.
  IrqFunction fn(pcie_layout());
  auto& irq = *fn.irq;
  EventFd a = make_eventfd();
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
  fn.set_command_bits(PCI_COMMAND_INTX_DISABLE, true);
  fn.config->reset();
  irq.restore_after_reset();
  irq.set_intx(true);
  EXPECT_EQ(a.consume(), 0U);
  EXPECT_TRUE(irq.intx_masked());
  fn.set_command_bits(PCI_COMMAND_INTX_DISABLE, false);
  EXPECT_EQ(a.consume(), 1U);
}

TEST(RestoreAfterReset, MsiAndMsixStateComesBack) {
  IrqFunction fn(pcie_layout());
  auto& irq = *fn.irq;
  EventFd a = make_eventfd();
  EventFd b = make_eventfd();
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 2, {a.fd(), b.fd()}), 0);
  fn.config->reset();  // pci_try_reset_function already restores MSI on the function
  irq.restore_after_reset();
  EXPECT_TRUE(fn.config->msi_enabled());
  fn.set_command_bits(PCI_COMMAND_MASTER, true);
  irq.signal_msi(1);
  EXPECT_EQ(b.consume(), 1U);
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 0), 0);

  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, {a.fd(), b.fd()}), 0);
  fn.config->reset();
  fn.msix->reset();
  EXPECT_TRUE(fn.msix->masked(1));
  irq.restore_after_reset();
  EXPECT_TRUE(fn.config->msix_enabled());
  EXPECT_FALSE(fn.msix->masked(1));
  EXPECT_TRUE(fn.msix->masked(2));
  fn.set_command_bits(PCI_COMMAND_MASTER, true);
  irq.signal_msi(1);
  EXPECT_EQ(b.consume(), 1U);
}

TEST(Eventfd, BlockingAndSaturatedNeverStallsTheSignaller) {
  IrqFunction fn(pcie_layout());
  int blocking = ::eventfd(0, EFD_CLOEXEC);  // no O_NONBLOCK
  ASSERT_GE(blocking, 0);
  uint64_t near_max = 0xfffffffffffffffeULL;
  ASSERT_EQ(::write(blocking, &near_max, sizeof near_max), static_cast<ssize_t>(sizeof near_max));
  ASSERT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_REQ_IRQ_INDEX, 0, 1, {blocking}), 0);
  std::atomic<bool> done{false};
  std::thread t([&] {
    fn.irq->request();
    done = true;
  });
  EXPECT_TRUE(eventually([&] { return done.load(); }));
  if (!done) {
    uint64_t v = 0;
    (void)::read(blocking, &v, sizeof v);  // unblock it so the test can end
  }
  t.join();
  ::close(blocking);
}

}  // namespace
}  // namespace uvfio::test
