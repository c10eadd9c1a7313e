// VFIO_DEVICE_SET_IRQS and GET_IRQ_INFO: the kernel's validation matrix and errno (Linux 6.12
// vfio_set_irqs_validate_and_prepare, vfio_pci_set_irqs_ioctl and its per-index handlers,
// vfio_pci_ioctl_get_irq_info).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "pci/set_irqs_validation.h"
#include "pci_irq_fixture.h"
#include "test_util.h"

namespace uvfio::test {
namespace {

using pci::kIrqSetMinsz;
using pci::validate_set_irqs;

constexpr uint32_t kU32Max = std::numeric_limits<uint32_t>::max();

vfio_irq_set hdr(uint32_t argsz, uint32_t flags, uint32_t index, uint32_t start, uint32_t count) {
  vfio_irq_set h{};
  h.argsz = argsz;
  h.flags = flags;
  h.index = index;
  h.start = start;
  h.count = count;
  return h;
}

// --- vfio_set_irqs_validate_and_prepare on its own ---

TEST(SetIrqsValidation, HeaderChecks) {
  size_t ds = 99;
  const uint32_t n = VFIO_PCI_NUM_IRQS;
  EXPECT_EQ(kIrqSetMinsz, 20U);
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger, 0, 0, 1), 1, n, &ds), 0);
  EXPECT_EQ(ds, 0U);
  EXPECT_RC(validate_set_irqs(hdr(19, kNoneTrigger, 0, 0, 1), 1, n, &ds), EINVAL);  // argsz
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger, n, 0, 1), 1, n, &ds), EINVAL);  // index
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger | (1U << 6), 0, 0, 1), 1, n, &ds), EINVAL);
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger | (1U << 31), 0, 0, 1), 1, n, &ds), EINVAL);
  // start + count must stay below U32_MAX (the kernel's own overflow test).
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger, 0, 1, kU32Max), 8, n, &ds), EINVAL);
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger, 0, kU32Max, 0), 8, n, &ds), EINVAL);
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger, 0, 2, kU32Max - 2), 8, n, &ds), EINVAL);
}

TEST(SetIrqsValidation, RangeAgainstTheIndexCount) {
  size_t ds = 0;
  const uint32_t n = VFIO_PCI_NUM_IRQS;
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger, 1, 0, 4), 4, n, &ds), 0);
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger, 1, 3, 1), 4, n, &ds), 0);
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger, 1, 3, 2), 4, n, &ds), EINVAL);  // past end
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger, 1, 4, 0), 4, n, &ds), EINVAL);  // start
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger, 1, 0, 5), 4, n, &ds), EINVAL);
  // An index without vectors refuses everything, even count 0.
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger, 2, 0, 0), 0, n, &ds), EINVAL);
  // count 0 is a valid range at any start below the count.
  EXPECT_RC(validate_set_irqs(hdr(20, kNoneTrigger, 1, 2, 0), 4, n, &ds), 0);
}

TEST(SetIrqsValidation, DataTypeAndSize) {
  size_t ds = 0;
  const uint32_t n = VFIO_PCI_NUM_IRQS;
  const uint32_t none_and_bool =
      VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
  EXPECT_RC(validate_set_irqs(hdr(40, none_and_bool, 1, 0, 1), 4, n, &ds), EINVAL);
  EXPECT_RC(validate_set_irqs(hdr(40, VFIO_IRQ_SET_ACTION_TRIGGER, 1, 0, 1), 4, n, &ds), EINVAL);
  EXPECT_RC(
      validate_set_irqs(hdr(40, VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TRIGGER, 1, 0, 1),
                        4, n, &ds),
      EINVAL);
  // Several (or no) actions pass here; the dispatch answers them.
  EXPECT_RC(
      validate_set_irqs(hdr(20, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TYPE_MASK, 1, 0, 1), 4,
                        n, &ds),
      0);
  EXPECT_RC(validate_set_irqs(hdr(20, VFIO_IRQ_SET_DATA_NONE, 1, 0, 1), 4, n, &ds), 0);

  EXPECT_RC(validate_set_irqs(hdr(20 + 12, kEventfdTrigger, 1, 1, 3), 4, n, &ds), 0);
  EXPECT_EQ(ds, 12U);
  EXPECT_RC(validate_set_irqs(hdr(20 + 11, kEventfdTrigger, 1, 1, 3), 4, n, &ds), EINVAL);
  EXPECT_RC(validate_set_irqs(hdr(20 + 3, kBoolTrigger, 1, 0, 3), 4, n, &ds), 0);
  EXPECT_EQ(ds, 3U);
  EXPECT_RC(validate_set_irqs(hdr(20 + 2, kBoolTrigger, 1, 0, 3), 4, n, &ds), EINVAL);
  // Extra bytes past the data are fine; count 0 needs none.
  EXPECT_RC(validate_set_irqs(hdr(4096, kEventfdTrigger, 1, 0, 1), 4, n, &ds), 0);
  EXPECT_EQ(ds, 4U);
  EXPECT_RC(validate_set_irqs(hdr(20, kEventfdTrigger, 1, 0, 0), 4, n, &ds), 0);
  EXPECT_EQ(ds, 0U);
  // Data but nowhere to report its size: EINVAL, as the kernel's helper.
  EXPECT_RC(validate_set_irqs(hdr(24, kEventfdTrigger, 1, 0, 1), 4, n, nullptr), EINVAL);
}

// --- through the IrqController, per index ---

class SetIrqs : public ::testing::Test {
 protected:
  IrqFunction fn{pcie_layout()};
  pci::IrqController& irq = *fn.irq;
  EventFd a = make_eventfd();
  EventFd b = make_eventfd();
  EventFd c = make_eventfd();
};

TEST_F(SetIrqs, NullArgumentIsEfault) {
  EXPECT_RC(irq.set_irqs(0), EFAULT);
  EXPECT_RC(irq.get_irq_info(0), EFAULT);
}

TEST_F(SetIrqs, HeaderErrors) {
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0, {}, {}, -1), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneTrigger | (1U << 6), VFIO_PCI_INTX_IRQ_INDEX, 0, 1), EINVAL);
  EXPECT_RC(
      set_irqs(irq, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
               VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {}, {1}),
      EINVAL);
  EXPECT_RC(set_irqs(irq, VFIO_PCI_NUM_IRQS, VFIO_PCI_NUM_IRQS, 0, 1), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_NUM_IRQS, 0, 1), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneTrigger, kU32Max, 0, 1), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 1, 0), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 2), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 1, kU32Max), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSIX_IRQ_INDEX, kU32Max, 0), EINVAL);
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}, {}, -1),
            EINVAL);
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 2, {a.fd()}), EINVAL);
  EXPECT_RC(set_irqs(irq, kBoolTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 2, {}, {1}), EINVAL);
  EXPECT_FALSE(irq.msi_enabled());
}

TEST_F(SetIrqs, ActionsOtherThanOneAreEnotty) {
  const uint32_t two =
      VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK;
  EXPECT_RC(set_irqs(irq, two, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), ENOTTY);
  EXPECT_RC(set_irqs(irq, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TYPE_MASK,
                     VFIO_PCI_MSI_IRQ_INDEX, 0, 1),
            ENOTTY);
  EXPECT_RC(set_irqs(irq, VFIO_IRQ_SET_DATA_NONE, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), ENOTTY);
  EXPECT_RC(set_irqs(irq, VFIO_IRQ_SET_DATA_NONE, VFIO_PCI_REQ_IRQ_INDEX, 0, 1), ENOTTY);
}

TEST_F(SetIrqs, MaskAndUnmaskOfMsiMsixErrReqAreEnotty) {
  for (uint32_t index : {VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_PCI_ERR_IRQ_INDEX,
                         VFIO_PCI_REQ_IRQ_INDEX}) {
    SCOPED_TRACE(index);
    EXPECT_RC(set_irqs(irq, kNoneMask, index, 0, 1), ENOTTY);
    EXPECT_RC(set_irqs(irq, kNoneUnmask, index, 0, 1), ENOTTY);
    EXPECT_RC(set_irqs(irq, kEventfdUnmask, index, 0, 1, {a.fd()}), ENOTTY);
  }
  // Validation still comes first: a bad range is EINVAL even for an unsupported action.
  EXPECT_RC(set_irqs(irq, kNoneMask, VFIO_PCI_MSI_IRQ_INDEX, 0, 5), EINVAL);
}

TEST_F(SetIrqs, IntxMaskAndUnmaskNeedIntxAndOneVector) {
  EXPECT_RC(set_irqs(irq, kNoneMask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), EINVAL);
  EXPECT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), EINVAL);
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
  EXPECT_RC(set_irqs(irq, kNoneMask, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneMask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), 0);
  EXPECT_RC(set_irqs(irq, kBoolMask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {}, {0}), 0);
  EXPECT_RC(set_irqs(irq, kBoolUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {}, {1}), 0);
  // No mask eventfd in the kernel either.
  EXPECT_RC(set_irqs(irq, kEventfdMask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {b.fd()}), ENOTTY);
}

TEST_F(SetIrqs, IntxUnmaskEventfd) {
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
  EXPECT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {b.fd()}), 0);
  // A second one while the first is set: EBUSY; fd errors are reported before that.
  EXPECT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {c.fd()}), EBUSY);
  EXPECT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {1 << 30}), EBADF);
  // Any negative fd removes it; then a new one is accepted.
  EXPECT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {-7}), 0);
  EXPECT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {c.fd()}), 0);
  EXPECT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {-1}), 0);
  EXPECT_RC(set_irqs(irq, kEventfdUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {-1}), 0);
}

TEST_F(SetIrqs, EventfdMustBeAnOpenEventfd) {
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);  // an anon-inode file that is not an eventfd
  ASSERT_GE(ep, 0);
  int closed = ::dup(a.fd());
  ::close(closed);
  for (uint32_t index : {VFIO_PCI_INTX_IRQ_INDEX, VFIO_PCI_MSI_IRQ_INDEX, VFIO_PCI_MSIX_IRQ_INDEX,
                         VFIO_PCI_ERR_IRQ_INDEX, VFIO_PCI_REQ_IRQ_INDEX}) {
    SCOPED_TRACE(index);
    EXPECT_RC(set_irqs(irq, kEventfdTrigger, index, 0, 1, {pipefd[0]}), EINVAL);
    EXPECT_RC(set_irqs(irq, kEventfdTrigger, index, 0, 1, {ep}), EINVAL);
    EXPECT_RC(set_irqs(irq, kEventfdTrigger, index, 0, 1, {closed}), EBADF);
    EXPECT_RC(set_irqs(irq, kEventfdTrigger, index, 0, 1, {1 << 30}), EBADF);
  }
  // A failed first assignment leaves the index disabled again.
  EXPECT_FALSE(irq.msi_enabled());
  EXPECT_FALSE(irq.msix_enabled());
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), EINVAL);  // INTx is off
  ::close(pipefd[0]);
  ::close(pipefd[1]);
  ::close(ep);
}

TEST_F(SetIrqs, SwitchingTypesNeedsADisableFirst) {
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {b.fd()}), EINVAL);
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, {b.fd()}), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 0), EINVAL);
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), 0);

  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {b.fd()}), 0);
  EXPECT_TRUE(irq.msi_enabled());
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), EINVAL);
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, {a.fd()}), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0), EINVAL);
  // INTx's loopback and masking need INTx.
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), EINVAL);
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 0), 0);
  EXPECT_FALSE(irq.msi_enabled());

  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, {c.fd()}), 0);
  EXPECT_TRUE(irq.msix_enabled());
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), EINVAL);
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {a.fd()}), EINVAL);
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0), 0);
  EXPECT_FALSE(irq.msix_enabled());
  // Everything off: INTx again.
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
}

TEST_F(SetIrqs, CountZeroCases) {
  // Disabling an index that is not enabled: EINVAL (INTx, MSI, MSI-X).
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 0), EINVAL);
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0), EINVAL);
  // BOOL with count 0 is no disable.
  EXPECT_RC(set_irqs(irq, kBoolTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), EINVAL);
  // EVENTFD with count 0 enables start + count vectors: 0 vectors is pci_alloc_irq_vectors' ERANGE.
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 0), ERANGE);
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0), ERANGE);
  EXPECT_FALSE(irq.msi_enabled());
  // ... and with start 2 enables two MSI vectors with no eventfd.
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 2, 0), 0);
  EXPECT_TRUE(irq.msi_enabled());
  EXPECT_TRUE(fn.config->msi_enabled());
  // Enabled: count 0 eventfds is a no-op, BOOL count 0 a loopback of nothing.
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 1, 0), 0);
  EXPECT_RC(set_irqs(irq, kBoolTrigger, VFIO_PCI_MSI_IRQ_INDEX, 1, 0), 0);
  EXPECT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 0), 0);
  EXPECT_FALSE(irq.msi_enabled());
  EXPECT_FALSE(fn.config->msi_enabled());
  // INTx enable needs count 1.
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), EINVAL);
}

TEST_F(SetIrqs, ErrAndReqCountZeroAndDataQuirks) {
  for (uint32_t index : {VFIO_PCI_ERR_IRQ_INDEX, VFIO_PCI_REQ_IRQ_INDEX}) {
    SCOPED_TRACE(index);
    // DATA_NONE without a trigger: EINVAL at any count (the kernel falls through).
    EXPECT_RC(set_irqs(irq, kNoneTrigger, index, 0, 0), EINVAL);
    EXPECT_RC(set_irqs(irq, kNoneTrigger, index, 0, 1), EINVAL);
    EXPECT_RC(set_irqs(irq, kBoolTrigger, index, 0, 0), EINVAL);
    EXPECT_RC(set_irqs(irq, kEventfdTrigger, index, 0, 0), EINVAL);
    EXPECT_RC(set_irqs(irq, kBoolTrigger, index, 0, 1, {}, {1}), 0);  // nothing to signal
    EXPECT_RC(set_irqs(irq, kEventfdTrigger, index, 0, 1, {a.fd()}), 0);
    EXPECT_RC(set_irqs(irq, kNoneTrigger, index, 0, 1), 0);
    EXPECT_EQ(a.consume(), 1U);
    // fd < -1 is accepted and keeps the trigger.
    EXPECT_RC(set_irqs(irq, kEventfdTrigger, index, 0, 1, {-2}), 0);
    EXPECT_RC(set_irqs(irq, kBoolTrigger, index, 0, 1, {}, {1}), 0);
    EXPECT_EQ(a.consume(), 1U);
    // DATA_NONE count 0 releases it.
    EXPECT_RC(set_irqs(irq, kNoneTrigger, index, 0, 0), 0);
    EXPECT_RC(set_irqs(irq, kNoneTrigger, index, 0, 1), EINVAL);
    // fd -1 releases too.
    EXPECT_RC(set_irqs(irq, kEventfdTrigger, index, 0, 1, {b.fd()}), 0);
    EXPECT_RC(set_irqs(irq, kEventfdTrigger, index, 0, 1, {-1}), 0);
    EXPECT_RC(set_irqs(irq, kNoneTrigger, index, 0, 1), EINVAL);
    EXPECT_EQ(b.consume(), 0U);
  }
}

TEST_F(SetIrqs, MsiRangesAgainstTheEnabledVectors) {
  // MSI: 4 vectors capable; enabling with start 0 count 2 allocates 2.
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 2, {a.fd(), b.fd()}), 0);
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 5, {}), EINVAL);
  // Vectors 2 and 3 exist on the function but were not allocated: MSI cannot grow.
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 3, 1, {c.fd()}), EINVAL);
  // Unassigning an unallocated vector is a no-op.
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 3, 1, {-1}), 0);
  ASSERT_RC(set_irqs(irq, kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 0), 0);

  // MSI-X: 8 table entries; count beyond the table is EINVAL; dynamic allocation lets an
  // enabled MSI-X index take eventfds for entries it did not start with.
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 9, {}), EINVAL);
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 8, 1, {a.fd()}), EINVAL);
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 7, 1, {b.fd()}), 0);
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 7, 2, {b.fd(), c.fd()}),
            EINVAL);
}

TEST_F(SetIrqs, MsiBlockFailureUnassignsFromStartToTheFailedVector) {
  EventFd d = make_eventfd();
  EventFd e = make_eventfd();
  ASSERT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 4,
                     {a.fd(), b.fd(), c.fd(), d.fd()}),
            0);
  fn.set_command_bits(PCI_COMMAND_MASTER, true);
  // Reassign vectors 1..3 as {e, -5 (unassign), bad fd}: the failure at vector 3 unwinds 1..3, so
  // vector 1 loses even the eventfd it just got; vector 0 is outside the call and keeps `a`.
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 1, 3, {e.fd(), -5, 1 << 30}),
            EBADF);
  for (unsigned v = 0; v < 4; ++v) irq.signal_msi(v);
  EXPECT_EQ(a.consume(), 1U);
  EXPECT_EQ(b.consume() + c.consume() + d.consume() + e.consume(), 0U);
  EXPECT_TRUE(irq.msix_enabled());  // an index that was already enabled stays enabled
}

TEST_F(SetIrqs, FreshEnableFailureDisablesTheIndex) {
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 2, {a.fd(), 1 << 30}), EBADF);
  EXPECT_FALSE(irq.msi_enabled());
  EXPECT_FALSE(fn.config->msi_enabled());
  EXPECT_RC(set_irqs(irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {a.fd()}), 0);
}

TEST(SetIrqsLayouts, ConventionalFunctionHasNoErrAndEduHasNoMsix) {
  IrqFunction fn(edu_layout());
  EventFd e = make_eventfd();
  EXPECT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_ERR_IRQ_INDEX, 0, 1, {e.fd()}), EINVAL);
  EXPECT_RC(set_irqs(*fn.irq, kNoneTrigger, VFIO_PCI_ERR_IRQ_INDEX, 0, 0), EINVAL);
  EXPECT_RC(set_irqs(*fn.irq, kNoneTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0), EINVAL);
  EXPECT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 2, {e.fd(), e.fd()}),
            EINVAL);
  EXPECT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {e.fd()}), 0);
  EXPECT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_REQ_IRQ_INDEX, 0, 1, {e.fd()}), 0);
}

TEST(SetIrqsLayouts, NoPinMeansNoIntx) {
  IrqFunction fn(no_pin_layout());
  EventFd e = make_eventfd();
  EXPECT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {e.fd()}), EINVAL);
  EXPECT_RC(set_irqs(*fn.irq, kNoneUnmask, VFIO_PCI_INTX_IRQ_INDEX, 0, 1), EINVAL);
  fn.irq->set_intx(true);
  EXPECT_FALSE(fn.interrupt_status());  // no pin to drive
}

TEST(SetIrqsLayouts, MsiNeedsD0) {
  IrqFunction fn(pcie_layout());
  auto pm = fn.config->find_capability(PCI_CAP_ID_PM);
  ASSERT_TRUE(pm.has_value());
  fn.cfg_write(*pm + PCI_PM_CTRL, 2, 3);  // D3hot
  ASSERT_EQ(fn.config->power_state(), 3U);
  EventFd e = make_eventfd();
  EXPECT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {e.fd()}), EINVAL);
  EXPECT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, {e.fd()}), EINVAL);
  // The MSI-X range check comes before the power state, MSI's after it.
  EXPECT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0), ERANGE);
  EXPECT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 0), EINVAL);
  // INTx has no such check.
  EXPECT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, {e.fd()}), 0);
  fn.cfg_write(*pm + PCI_PM_CTRL, 2, 0);
  EXPECT_RC(set_irqs(*fn.irq, kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 0), 0);
  EXPECT_RC(set_irqs(*fn.irq, kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, {e.fd()}), 0);
}

// --- GET_IRQ_INFO ---

struct IrqInfo {
  long rc;
  vfio_irq_info info;
};

IrqInfo irq_info(pci::IrqController& irq, uint32_t index, uint32_t argsz = sizeof(vfio_irq_info)) {
  IrqInfo r{};
  r.info.argsz = argsz;
  r.info.index = index;
  r.info.flags = 0xdead;
  r.info.count = 0xbeef;
  r.rc = irq.get_irq_info(reinterpret_cast<unsigned long>(&r.info));
  return r;
}

TEST(GetIrqInfo, PcieFunction) {
  IrqFunction fn(pcie_layout());
  auto& irq = *fn.irq;
  const uint32_t ev = VFIO_IRQ_INFO_EVENTFD;
  auto intx = irq_info(irq, VFIO_PCI_INTX_IRQ_INDEX);
  EXPECT_RC(intx.rc, 0);
  EXPECT_EQ(intx.info.count, 1U);
  EXPECT_EQ(intx.info.flags, ev | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED);
  auto msi = irq_info(irq, VFIO_PCI_MSI_IRQ_INDEX);
  EXPECT_EQ(msi.info.count, 4U);
  EXPECT_EQ(msi.info.flags, ev | VFIO_IRQ_INFO_NORESIZE);
  auto msix = irq_info(irq, VFIO_PCI_MSIX_IRQ_INDEX);
  EXPECT_EQ(msix.info.count, 8U);
  EXPECT_EQ(msix.info.flags, ev);  // dynamic MSI-X: no NORESIZE
  auto err = irq_info(irq, VFIO_PCI_ERR_IRQ_INDEX);
  EXPECT_RC(err.rc, 0);
  EXPECT_EQ(err.info.count, 1U);
  EXPECT_EQ(err.info.flags, ev | VFIO_IRQ_INFO_NORESIZE);
  auto req = irq_info(irq, VFIO_PCI_REQ_IRQ_INDEX);
  EXPECT_EQ(req.info.count, 1U);
  EXPECT_EQ(req.info.flags, ev | VFIO_IRQ_INFO_NORESIZE);
  EXPECT_EQ(req.info.index, VFIO_PCI_REQ_IRQ_INDEX);
  EXPECT_EQ(req.info.argsz, sizeof(vfio_irq_info));
}

TEST(GetIrqInfo, EduFunction) {
  IrqFunction fn(edu_layout());
  auto& irq = *fn.irq;
  auto intx = irq_info(irq, VFIO_PCI_INTX_IRQ_INDEX);
  EXPECT_EQ(intx.info.count, 1U);
  auto msi = irq_info(irq, VFIO_PCI_MSI_IRQ_INDEX);
  EXPECT_EQ(msi.info.count, 1U);
  EXPECT_EQ(msi.info.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);
  // No MSI-X capability: count 0 and, without dynamic MSI-X, NORESIZE.
  auto msix = irq_info(irq, VFIO_PCI_MSIX_IRQ_INDEX);
  EXPECT_RC(msix.rc, 0);
  EXPECT_EQ(msix.info.count, 0U);
  EXPECT_EQ(msix.info.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);
  // ERR exists on PCIe functions only.
  auto err = irq_info(irq, VFIO_PCI_ERR_IRQ_INDEX);
  EXPECT_RC(err.rc, EINVAL);
  EXPECT_EQ(err.info.count, 0xbeefU);  // nothing written back
  EXPECT_EQ(irq_info(irq, VFIO_PCI_REQ_IRQ_INDEX).info.count, 1U);
}

TEST(GetIrqInfo, Errors) {
  IrqFunction fn(no_pin_layout());
  auto& irq = *fn.irq;
  EXPECT_RC(irq_info(irq, VFIO_PCI_NUM_IRQS).rc, EINVAL);
  EXPECT_RC(irq_info(irq, kU32Max).rc, EINVAL);
  EXPECT_RC(irq_info(irq, VFIO_PCI_INTX_IRQ_INDEX, 15).rc, EINVAL);
  EXPECT_RC(irq_info(irq, VFIO_PCI_INTX_IRQ_INDEX, 0).rc, EINVAL);
  // argsz at minsz or larger is fine; no pin: INTx count 0 but still MASKABLE | AUTOMASKED.
  auto intx = irq_info(irq, VFIO_PCI_INTX_IRQ_INDEX, 16);
  EXPECT_RC(intx.rc, 0);
  EXPECT_EQ(intx.info.count, 0U);
  EXPECT_EQ(intx.info.flags,
            VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED);
  EXPECT_RC(irq_info(irq, VFIO_PCI_MSI_IRQ_INDEX, 4096).rc, 0);
}

}  // namespace
}  // namespace uvfio::test
