// Function resets of the vfio-pci core: the reset method probe (FLR, PM, parent bus), what
// VFIO_DEVICE_RESET reports and does, FLR through the PCIe capability, the PM D3hot -> D0 soft
// reset, and the resets at open and release. A reset resets the device and keeps the driver's
// view of config space and its interrupt setup, as pci_try_reset_function's save/restore does.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pci/function_reset.h"
#include "pci_test_model.h"
#include "test_util.h"

using namespace uvfio;
using namespace uvfio::pci;
using uvfio::test::CoreUnderTest;
using uvfio::test::simple_layout;

namespace {

DeviceLayout with(std::vector<Capability> caps) {
  DeviceLayout l = simple_layout();
  l.capabilities = std::move(caps);
  return l;
}

uint32_t info_flags(PciCore& core) {
  vfio_device_info info{};
  info.argsz = sizeof info;
  EXPECT_EQ(core.ioctl(VFIO_DEVICE_GET_INFO, reinterpret_cast<unsigned long>(&info)), 0);
  return info.flags;
}

TEST(ResetProbe, KernelOrder) {
  EXPECT_EQ(probe_reset_method(with({}), false), ResetMethod::kNone);
  EXPECT_EQ(probe_reset_method(with({}), true), ResetMethod::kBus);
  EXPECT_EQ(probe_reset_method(with({PmSpec{false}}), true), ResetMethod::kPm);
  EXPECT_EQ(probe_reset_method(with({PmSpec{true}}), false), ResetMethod::kNone);
  EXPECT_EQ(probe_reset_method(with({PmSpec{true}}), true), ResetMethod::kBus);
  EXPECT_EQ(probe_reset_method(with({PmSpec{false}, ExpressSpec{0, true}}), true),
            ResetMethod::kFlr);
  EXPECT_EQ(probe_reset_method(with({ExpressSpec{0, false}}), false), ResetMethod::kNone);
  EXPECT_STREQ(reset_method_name(ResetMethod::kFlr), "flr");
  EXPECT_STREQ(reset_method_name(ResetMethod::kNone), "none");
}

TEST(Reset, WithoutAMethodIsEinval) {
  CoreUnderTest t(simple_layout());
  ASSERT_EQ(t.open(), 0);
  EXPECT_EQ(t.core->reset_method(), ResetMethod::kNone);
  EXPECT_EQ(info_flags(*t.core) & VFIO_DEVICE_FLAGS_RESET, 0u);
  EXPECT_RC(t.core->ioctl(VFIO_DEVICE_RESET, 0), EINVAL);
  EXPECT_EQ(t.model->resets, 0);
}

struct FlrReset : ::testing::Test {
  FlrReset() : t(with({MsiSpec{}, ExpressSpec{0, true}})) {
    EXPECT_EQ(t.open(), 0);
    msi = *t.core->config().find_capability(PCI_CAP_ID_MSI);
    exp = *t.core->config().find_capability(PCI_CAP_ID_EXP);
    efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  }
  ~FlrReset() override { ::close(efd); }
  // Programs the function as a driver would: Bus Master, a BAR address, an MSI vector with an
  // eventfd behind it.
  void program() {
    t.command_set(PCI_COMMAND_MASTER);
    t.cfg_write(PCI_BASE_ADDRESS_0, 4, 0xfeb00000);
    t.cfg_write(PCI_INTERRUPT_LINE, 1, 11);
    t.cfg_write(msi + PCI_MSI_ADDRESS_LO, 4, 0xfee00000);
    ASSERT_EQ(t.set_irq_eventfds(VFIO_PCI_MSI_IRQ_INDEX, {efd}), 0);
    msi_flags = t.cfg_read(msi + PCI_MSI_FLAGS, 2);
  }
  // What program() set survived.
  void expect_programmed() {
    const uint64_t cmd = t.cfg_read(PCI_COMMAND, 2);
    EXPECT_TRUE(cmd & PCI_COMMAND_MASTER);
    EXPECT_TRUE(cmd & PCI_COMMAND_MEMORY);
    EXPECT_EQ(t.cfg_read(PCI_BASE_ADDRESS_0, 4), 0xfeb00000u);
    EXPECT_EQ(t.cfg_read(PCI_INTERRUPT_LINE, 1), 11u);
    EXPECT_EQ(t.cfg_read(msi + PCI_MSI_ADDRESS_LO, 4), 0xfee00000u);
    EXPECT_EQ(t.cfg_read(msi + PCI_MSI_FLAGS, 2), msi_flags);
    EXPECT_TRUE(t.core->msi_enabled());
    // The interrupt path still works: the device's MSI reaches the eventfd.
    uint64_t n = 0;
    (void)::read(efd, &n, sizeof n);
    t.core->signal_msi(0);
    EXPECT_EQ(::read(efd, &n, sizeof n), 8);
  }
  CoreUnderTest t;
  uint8_t msi = 0, exp = 0;
  uint64_t msi_flags = 0;
  int efd = -1;
};

TEST_F(FlrReset, DeviceResetResetsTheDeviceAndKeepsTheDriversView) {
  EXPECT_EQ(t.core->reset_method(), ResetMethod::kFlr);
  EXPECT_EQ(info_flags(*t.core), uint32_t{VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET});
  EXPECT_EQ(t.model->resets, 1);  // vfio_pci_core_enable resets the function at open
  program();
  t.model->bus()->set_intx(true);  // the device drives INTx...
  EXPECT_TRUE(t.cfg_read(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
  const uint64_t before = t.core->resets();
  ASSERT_EQ(t.core->ioctl(VFIO_DEVICE_RESET, 0), 0);
  EXPECT_EQ(t.model->resets, 2);
  EXPECT_EQ(t.core->resets(), before + 1);
  EXPECT_FALSE(t.cfg_read(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);  // ...and stops on reset
  expect_programmed();
}

TEST_F(FlrReset, FlrThroughDeviceControl) {
  program();
  const uint64_t devctl = t.cfg_read(exp + PCI_EXP_DEVCTL, 2);
  t.cfg_write(exp + PCI_EXP_DEVCTL, 2, devctl | PCI_EXP_DEVCTL_BCR_FLR);
  EXPECT_EQ(t.model->resets, 2);
  EXPECT_FALSE(t.cfg_read(exp + PCI_EXP_DEVCTL, 2) & PCI_EXP_DEVCTL_BCR_FLR);  // reads as 0
  expect_programmed();
  // Writing the other Device Control bits does not reset.
  t.cfg_write(exp + PCI_EXP_DEVCTL, 2, devctl);
  EXPECT_EQ(t.model->resets, 2);
}

TEST_F(FlrReset, ReleaseResetsTheDevice) {
  program();
  t.core->close_device();
  EXPECT_EQ(t.model->resets, 2);
  EXPECT_FALSE(t.core->needs_reset());
  EXPECT_FALSE(t.core->msi_enabled());
}

TEST(Reset, FlrOnAFunctionWithoutFlrDoesNothing) {
  CoreUnderTest t(with({ExpressSpec{0, false}}));
  ASSERT_EQ(t.open(), 0);
  const uint8_t exp = *t.core->config().find_capability(PCI_CAP_ID_EXP);
  t.cfg_write(exp + PCI_EXP_DEVCTL, 2,
              t.cfg_read(exp + PCI_EXP_DEVCTL, 2) | PCI_EXP_DEVCTL_BCR_FLR);
  EXPECT_EQ(t.model->resets, 0);
}

TEST(Reset, PmSoftResetOnD3hotToD0) {
  CoreUnderTest t(with({PmSpec{false}}));
  ASSERT_EQ(t.open(), 0);
  EXPECT_EQ(t.core->reset_method(), ResetMethod::kPm);
  EXPECT_TRUE(info_flags(*t.core) & VFIO_DEVICE_FLAGS_RESET);
  const int at_open = t.model->resets;
  const uint8_t pm = *t.core->config().find_capability(PCI_CAP_ID_PM);
  t.command_set(PCI_COMMAND_MASTER);
  t.cfg_write(pm + PCI_PM_CTRL, 2, 3);  // D3hot: nothing resets yet
  EXPECT_EQ(t.model->resets, at_open);
  t.cfg_write(pm + PCI_PM_CTRL, 2, 0);  // D0: the function soft-resets, config comes back
  EXPECT_EQ(t.model->resets, at_open + 1);
  EXPECT_EQ(t.core->config().power_state(), 0u);
  EXPECT_TRUE(t.cfg_read(PCI_COMMAND, 2) & PCI_COMMAND_MASTER);
  // VFIO_DEVICE_RESET from D3hot: back in D0 and reset.
  t.cfg_write(pm + PCI_PM_CTRL, 2, 3);
  ASSERT_EQ(t.core->ioctl(VFIO_DEVICE_RESET, 0), 0);
  EXPECT_EQ(t.core->config().power_state(), 0u);
  EXPECT_GE(t.model->resets, at_open + 2);
  uint32_t v = 0;
  EXPECT_EQ(t.core->read(&v, 4, uvfio::test::region(0)), 4);  // BARs answer again
}

TEST(Reset, NoSoftResetKeepsTheDevice) {
  CoreUnderTest t(with({PmSpec{true}}));
  ASSERT_EQ(t.open(), 0);
  EXPECT_EQ(t.core->reset_method(), ResetMethod::kNone);
  const uint8_t pm = *t.core->config().find_capability(PCI_CAP_ID_PM);
  t.cfg_write(pm + PCI_PM_CTRL, 2, 3);
  t.cfg_write(pm + PCI_PM_CTRL, 2, 0);
  EXPECT_EQ(t.model->resets, 0);
  EXPECT_RC(t.core->ioctl(VFIO_DEVICE_RESET, 0), EINVAL);
}

TEST(Reset, ParentBusResetIsAMethod) {
  CoreUnderTest t(simple_layout());
  t.core->set_parent_bus_reset(true);  // the host: alone on a bus below a bridge
  ASSERT_EQ(t.open(), 0);
  EXPECT_EQ(t.core->reset_method(), ResetMethod::kBus);
  EXPECT_TRUE(info_flags(*t.core) & VFIO_DEVICE_FLAGS_RESET);
  ASSERT_EQ(t.core->ioctl(VFIO_DEVICE_RESET, 0), 0);
  EXPECT_EQ(t.model->resets, 2);  // open + ioctl
  t.core->close_device();
  EXPECT_EQ(t.model->resets, 3);  // release
  // The method is probed at every open.
  t.core->set_parent_bus_reset(false);
  ASSERT_EQ(t.open(), 0);
  EXPECT_EQ(t.core->reset_method(), ResetMethod::kNone);
}

TEST(Reset, BusResetCleansADirtyDevice) {
  CoreUnderTest t(simple_layout());
  ASSERT_EQ(t.open(), 0);
  t.core->close_device();
  EXPECT_TRUE(t.core->needs_reset());
  EXPECT_EQ(t.model->resets, 0);
  EXPECT_EQ(t.core->bus_reset(), 0);
  EXPECT_EQ(t.model->resets, 1);
  EXPECT_FALSE(t.core->needs_reset());
  EXPECT_TRUE(t.core->bus_reset_supported());
}

}  // namespace
