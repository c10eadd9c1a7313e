#include "uvfio/driver/device.h"

#include <linux/vfio.h>

#include <fmt/format.h>

#include "driver/device_core.h"

namespace uvfio::driver {

bool DeviceInfo::is_pci() const {
  return (flags & VFIO_DEVICE_FLAGS_PCI) != 0;
}
bool DeviceInfo::can_reset() const {
  return (flags & VFIO_DEVICE_FLAGS_RESET) != 0;
}

const std::string& Device::target() const {
  return core_->target();
}
const std::string& Device::name() const {
  return core_->name();
}
const std::string& Device::backend() const {
  return core_->backend();
}
const DeviceInfo& Device::info() const {
  return core_->info();
}

const RegionInfo& Device::region_info(uint32_t index) const {
  if (index >= core_->regions().size()) {
    core_->fail("region info", EINVAL,
                fmt::format("region {} does not exist (the device has {})", index,
                            core_->regions().size()));
  }
  return core_->regions()[index];
}

std::vector<RegionInfo> Device::regions() const {
  return core_->regions();
}

Region Device::region(uint32_t index) const {
  return {core_, region_info(index)};
}

Region Device::bar(uint32_t n) const {
  if (n > VFIO_PCI_BAR5_REGION_INDEX) {
    core_->fail("region info", EINVAL, fmt::format("BAR{} does not exist (BAR0..BAR5)", n));
  }
  return region(VFIO_PCI_BAR0_REGION_INDEX + n);
}

PciConfig Device::config() const {
  if (!info().is_pci() || core_->regions().size() <= VFIO_PCI_CONFIG_REGION_INDEX) {
    core_->fail("config space", ENOTTY, "not a PCI device (VFIO_DEVICE_FLAGS_PCI clear)");
  }
  return PciConfig(region(VFIO_PCI_CONFIG_REGION_INDEX));
}

const IrqInfo& Device::irq_info(uint32_t index) const {
  if (index >= core_->irqs().size()) {
    core_->fail("IRQ info", EINVAL,
                fmt::format("IRQ index {} does not exist (the device has {})", index,
                            core_->irqs().size()));
  }
  return core_->irqs()[index];
}

std::vector<IrqInfo> Device::irqs() const {
  return core_->irqs();
}

IrqVectors Device::enable_irq(uint32_t index, uint32_t count, uint32_t start) const {
  const IrqInfo& ii = irq_info(index);
  const std::string what = fmt::format("enable {} vectors {}..{}", pci_irq_name(index), start,
                                       static_cast<uint64_t>(start) + count - 1);
  if (count == 0) core_->fail("VFIO_DEVICE_SET_IRQS", EINVAL, what + ": count 0 (disable_irq?)");
  // The device checks this too; checking first keeps a huge count from creating that many fds.
  if (static_cast<uint64_t>(start) + count > ii.count) {
    core_->fail("VFIO_DEVICE_SET_IRQS", EINVAL,
                fmt::format("{}: {} has {} vector(s)", what, pci_irq_name(index), ii.count));
  }
  std::vector<EventFd> fds;
  std::vector<int32_t> raw;
  for (uint32_t i = 0; i < count; ++i) {
    auto efd = EventFd::create();
    if (!efd) core_->fail("eventfd", efd.error(), what);
    raw.push_back(efd->fd());
    fds.push_back(std::move(*efd));
  }
  core_->set_irqs(VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, index, start, count,
                  std::as_bytes(std::span(raw)), what);
  return {core_, index, start, std::move(fds)};
}

void Device::disable_irq(uint32_t index) const {
  core_->set_irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, index, 0, 0, {},
                  "disable " + pci_irq_name(index));
}

void Device::mask_irq(uint32_t index, uint32_t start, uint32_t count) const {
  core_->set_irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK, index, start, count, {},
                  fmt::format("mask {} from {} count {}", pci_irq_name(index), start, count));
}

void Device::unmask_irq(uint32_t index, uint32_t start, uint32_t count) const {
  core_->set_irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, index, start, count, {},
                  fmt::format("unmask {} from {} count {}", pci_irq_name(index), start, count));
}

void Device::trigger_irq(uint32_t index, uint32_t start, uint32_t count) const {
  core_->set_irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, index, start, count, {},
                  fmt::format("trigger {} from {} count {}", pci_irq_name(index), start, count));
}

void Device::set_irqs_bool(uint32_t index, uint32_t action, uint32_t start,
                           const std::vector<bool>& values) const {
  std::vector<uint8_t> data(values.begin(), values.end());
  core_->set_irqs(
      VFIO_IRQ_SET_DATA_BOOL | action, index, start, static_cast<uint32_t>(data.size()),
      std::as_bytes(std::span(data)),
      fmt::format("{} from {} count {} (DATA_BOOL)", pci_irq_name(index), start, data.size()));
}

void Device::set_irqs(uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
                      std::span<const std::byte> data) const {
  core_->set_irqs(
      flags, index, start, count, data,
      fmt::format("{} flags {:#x} start {} count {}", pci_irq_name(index), flags, start, count));
}

void Device::reset() const {
  std::lock_guard lock(core_->setup_mu);
  core_->ioctl("VFIO_DEVICE_RESET", VFIO_DEVICE_RESET, nullptr);
}

DmaSpace Device::dma() const {
  return DmaSpace(core_->dma());
}

std::optional<uint64_t> Device::iommu_faults() const {
  return core_->transport().iommu_faults();
}

}  // namespace uvfio::driver
