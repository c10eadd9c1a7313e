// A small DeviceModel for the vfio-pci core's tests: a register file per MMIO BAR that logs every
// access, and counters for the lifecycle calls.
#pragma once

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "pci/pci_core.h"
#include "pci/region_info.h"
#include "uvfio/pci/device_model.h"

namespace uvfio::test {

/// Thread-safe (one mutex); shared by the test and the core.
class TestModel : public pci::DeviceModel {
 public:
  struct Access {
    unsigned bar;
    uint64_t offset;
    unsigned size;
    uint64_t value;
    bool write;
    bool operator==(const Access&) const = default;
  };

  explicit TestModel(pci::DeviceLayout layout) : layout_(std::move(layout)) {
    for (auto& r : regs_) r.resize(4096);
    // A recognisable pattern: byte i of every register file is i ^ 0x5a.
    for (auto& r : regs_) {
      for (size_t i = 0; i < r.size(); ++i) r[i] = static_cast<uint8_t>(i ^ 0x5a);
    }
  }

  pci::DeviceLayout layout() const override { return layout_; }
  void attach(pci::DeviceBus& bus) override { bus_ = &bus; }

  uint64_t mmio_read(unsigned bar, uint64_t offset, unsigned size) override {
    std::lock_guard lk(mu_);
    uint64_t v = 0;
    if (offset + size <= regs_[bar].size()) std::memcpy(&v, regs_[bar].data() + offset, size);
    log_.push_back({bar, offset, size, v, false});
    return v;
  }
  void mmio_write(unsigned bar, uint64_t offset, unsigned size, uint64_t value) override {
    std::lock_guard lk(mu_);
    if (offset + size <= regs_[bar].size()) std::memcpy(regs_[bar].data() + offset, &value, size);
    log_.push_back({bar, offset, size, value, true});
  }
  void opened() override { ++opens; }
  void closed() override { ++closes; }
  void reset() override {
    ++resets;
    if (bus_ != nullptr && reset_drops_intx) bus_->set_intx(false);
  }
  void dma_unmap(uint64_t iova, uint64_t length) override {
    std::lock_guard lk(mu_);
    unmaps.emplace_back(iova, length);
  }

  std::vector<Access> take_log() {
    std::lock_guard lk(mu_);
    return std::exchange(log_, {});
  }
  pci::DeviceBus* bus() const { return bus_; }

  std::atomic<int> opens{0}, closes{0}, resets{0};
  bool reset_drops_intx = false;
  std::vector<std::pair<uint64_t, uint64_t>> unmaps;

 private:
  const pci::DeviceLayout layout_;
  pci::DeviceBus* bus_ = nullptr;
  std::mutex mu_;
  std::array<std::vector<uint8_t>, 6> regs_;
  std::vector<Access> log_;
};

/// A conventional function: BAR0 MMIO 4 KiB, BAR1 memory-backed 8 KiB, MSI.
inline pci::DeviceLayout simple_layout() {
  pci::DeviceLayout l;
  l.vendor_id = 0x1af4;
  l.device_id = 0x10f0;
  l.class_code = 0x00ff00;
  l.bars[0] = {pci::BarType::kMem32, 4096, false, false};
  l.bars[1] = {pci::BarType::kMem32, 8192, false, true};
  l.capabilities = {pci::MsiSpec{}};
  l.name = "test";
  return l;
}

inline constexpr uint64_t region(unsigned index) {
  return pci::region_offset(index);
}

/// A model behind a PciCore, with helpers for config and region access.
struct CoreUnderTest {
  explicit CoreUnderTest(pci::DeviceLayout layout)
      : model(std::make_shared<TestModel>(std::move(layout))),
        core(std::move(*pci::PciCore::create(model))) {}

  uint64_t cfg_read(uint64_t off, unsigned size) {
    uint64_t v = 0;
    EXPECT_EQ(core->read(&v, size, region(VFIO_PCI_CONFIG_REGION_INDEX) + off), size);
    return v;
  }
  void cfg_write(uint64_t off, unsigned size, uint64_t v) {
    EXPECT_EQ(core->write(&v, size, region(VFIO_PCI_CONFIG_REGION_INDEX) + off), size);
  }
  void command_set(uint16_t bits) { cfg_write(PCI_COMMAND, 2, cfg_read(PCI_COMMAND, 2) | bits); }
  void command_clear(uint16_t bits) {
    cfg_write(PCI_COMMAND, 2, cfg_read(PCI_COMMAND, 2) & ~uint64_t{bits});
  }
  int open(std::shared_ptr<iommu::Access> access = nullptr, bool translated = true) {
    return core->open_device({std::move(access), translated});
  }
  std::vector<uint8_t> region_info_raw(uint32_t index, uint32_t argsz, long* rc) {
    std::vector<uint8_t> buf(std::max<uint32_t>(argsz, sizeof(vfio_region_info)) + 64, 0xcc);
    vfio_region_info ri{};
    ri.argsz = argsz;
    ri.index = index;
    std::memcpy(buf.data(), &ri, sizeof ri);
    *rc = core->ioctl(VFIO_DEVICE_GET_REGION_INFO, reinterpret_cast<unsigned long>(buf.data()));
    return buf;
  }
  /// VFIO_DEVICE_SET_IRQS of DATA_EVENTFD | ACTION_TRIGGER for `index` with `fds`.
  long set_irq_eventfds(unsigned index, const std::vector<int32_t>& fds) {
    std::vector<uint8_t> buf(sizeof(vfio_irq_set) + 4 * fds.size());
    vfio_irq_set hdr{};
    hdr.argsz = static_cast<uint32_t>(buf.size());
    hdr.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    hdr.index = index;
    hdr.count = static_cast<uint32_t>(fds.size());
    std::memcpy(buf.data(), &hdr, sizeof hdr);
    if (!fds.empty()) std::memcpy(buf.data() + sizeof hdr, fds.data(), 4 * fds.size());
    return core->ioctl(VFIO_DEVICE_SET_IRQS, reinterpret_cast<unsigned long>(buf.data()));
  }
  vfio_region_info region_info(uint32_t index, long* rc) {
    auto buf = region_info_raw(index, sizeof(vfio_region_info), rc);
    vfio_region_info ri{};
    std::memcpy(&ri, buf.data(), sizeof ri);
    return ri;
  }

  std::shared_ptr<TestModel> model;
  std::shared_ptr<pci::PciCore> core;
};

}  // namespace uvfio::test
