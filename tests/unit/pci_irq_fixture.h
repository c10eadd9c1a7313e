// Test fixture for the vfio-pci interrupt tests: one emulated function's ConfigSpace, MsixTable and
// IrqController wired together as PciCore wires them, plus SET_IRQS / GET_IRQ_INFO helpers.
#pragma once

#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "pci/config_space.h"
#include "pci/irq_controller.h"
#include "pci/msix_table.h"
#include "uvfio/base/eventfd.h"
#include "uvfio/pci/device_model.h"

namespace uvfio::test {

/// A PCIe function with INTA#, 4 MSI vectors with per-vector masking, 8 MSI-X vectors in BAR0.
inline pci::DeviceLayout pcie_layout() {
  pci::DeviceLayout l;
  l.vendor_id = 0x1234;
  l.device_id = 0x5678;
  l.interrupt_pin = 1;
  l.bars[0] = {.type = pci::BarType::kMem32, .size = 0x4000};
  l.capabilities = {
      pci::PmSpec{}, pci::MsiSpec{.vectors = 4, .address64 = true, .per_vector_mask = true},
      pci::MsixSpec{
          .vectors = 8, .table_bar = 0, .table_offset = 0x2000, .pba_bar = 0, .pba_offset = 0x3000},
      pci::ExpressSpec{}};
  return l;
}

/// QEMU's edu: conventional PCI, INTA#, one MSI vector, no MSI-X.
inline pci::DeviceLayout edu_layout() {
  pci::DeviceLayout l;
  l.vendor_id = 0x1234;
  l.device_id = 0x11e8;
  l.class_code = 0x00ff00;
  l.interrupt_pin = 1;
  l.bars[0] = {.type = pci::BarType::kMem32, .size = 1 << 20};
  l.capabilities = {pci::MsiSpec{.vectors = 1, .address64 = true, .per_vector_mask = false}};
  return l;
}

/// A function without an interrupt pin.
inline pci::DeviceLayout no_pin_layout() {
  pci::DeviceLayout l = edu_layout();
  l.interrupt_pin = 0;
  return l;
}

/// One function's interrupt side, wired like PciCore: config events reach the controller, the
/// MSI-X table delivers through it.
struct IrqFunction {
  explicit IrqFunction(const pci::DeviceLayout& layout) {
    auto cfg = pci::ConfigSpace::create(layout);
    EXPECT_TRUE(cfg.ok());
    config = std::move(*cfg);
    for (const auto& c : layout.capabilities) {
      if (const auto* m = std::get_if<pci::MsixSpec>(&c)) {
        msix = std::make_unique<pci::MsixTable>(
            m->vectors, [this](unsigned v) { irq->deliver_msix(v); },
            [this] { return config->msix_function_masked(); });
      }
    }
    irq = std::make_unique<pci::IrqController>(layout, *config, msix.get());
    pci::ConfigEvents ev;
    ev.command_changed = [this](uint16_t o, uint16_t n) { irq->command_changed(o, n); };
    ev.msi_mask_changed = [this] { irq->msi_mask_changed(); };
    ev.msix_function_mask_changed = [this] {
      if (msix) msix->unmask_check();
    };
    config->set_events(std::move(ev));
  }
  ~IrqFunction() { config->set_events({}); }
  IrqFunction(const IrqFunction&) = delete;
  IrqFunction& operator=(const IrqFunction&) = delete;

  // --- config space through the CONFIG region, as a driver writes it ---
  uint32_t cfg_read(uint64_t pos, size_t size) const {
    uint32_t v = 0;
    EXPECT_EQ(config->read(&v, size, pos), static_cast<ssize_t>(size));
    return v;
  }
  void cfg_write(uint64_t pos, size_t size, uint32_t v) {
    EXPECT_EQ(config->write(&v, size, pos), static_cast<ssize_t>(size));
  }
  void set_command_bits(uint16_t bits, bool on) {
    auto cmd = static_cast<uint16_t>(cfg_read(PCI_COMMAND, 2));
    cfg_write(PCI_COMMAND, 2, on ? (cmd | bits) : (cmd & ~bits));
  }
  bool interrupt_status() const { return (cfg_read(PCI_STATUS, 2) & PCI_STATUS_INTERRUPT) != 0; }

  std::unique_ptr<pci::ConfigSpace> config;
  std::unique_ptr<pci::MsixTable> msix;
  std::unique_ptr<pci::IrqController> irq;
};

/// VFIO_DEVICE_SET_IRQS with `fds` (DATA_EVENTFD) or `bools` (DATA_BOOL) as the payload; argsz
/// is exact plus `argsz_delta`.
inline long set_irqs(pci::IrqController& irq, uint32_t flags, uint32_t index, uint32_t start,
                     uint32_t count, const std::vector<int32_t>& fds = {},
                     const std::vector<uint8_t>& bools = {}, int32_t argsz_delta = 0) {
  std::vector<uint8_t> buf(sizeof(vfio_irq_set) + fds.size() * sizeof(int32_t) + bools.size());
  vfio_irq_set hdr{};
  hdr.argsz = static_cast<uint32_t>(static_cast<int64_t>(buf.size()) + argsz_delta);
  hdr.flags = flags;
  hdr.index = index;
  hdr.start = start;
  hdr.count = count;
  std::memcpy(buf.data(), &hdr, sizeof hdr);
  if (!fds.empty()) std::memcpy(buf.data() + sizeof hdr, fds.data(), fds.size() * sizeof(int32_t));
  if (!bools.empty()) std::memcpy(buf.data() + sizeof hdr, bools.data(), bools.size());
  return irq.set_irqs(reinterpret_cast<unsigned long>(buf.data()));
}

inline constexpr uint32_t kEventfdTrigger = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
inline constexpr uint32_t kNoneTrigger = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
inline constexpr uint32_t kBoolTrigger = VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
inline constexpr uint32_t kNoneMask = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK;
inline constexpr uint32_t kBoolMask = VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK;
inline constexpr uint32_t kEventfdMask = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_MASK;
inline constexpr uint32_t kNoneUnmask = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK;
inline constexpr uint32_t kBoolUnmask = VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_UNMASK;
inline constexpr uint32_t kEventfdUnmask = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK;

/// A fresh eventfd (non-blocking).
inline EventFd make_eventfd() {
  auto e = EventFd::create();
  EXPECT_TRUE(e.ok());
  return std::move(*e);
}

}  // namespace uvfio::test
