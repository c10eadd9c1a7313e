// Device: a device opened through the driver API, whatever serves it (an emulated device in
// this process, a vfio-user server, the kernel's vfio-pci). Drivers are written against this.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "uvfio/driver/dma_space.h"
#include "uvfio/driver/error.h"
#include "uvfio/driver/irq.h"
#include "uvfio/driver/pci_config.h"
#include "uvfio/driver/region.h"
#include "uvfio/driver/target.h"

namespace uvfio::driver {

namespace detail {
class DeviceCore;
struct DeviceAccess;
}  // namespace detail

/// VFIO_DEVICE_GET_INFO. Plain value.
struct DeviceInfo {
  uint32_t flags = 0;  // VFIO_DEVICE_FLAGS_*
  uint32_t num_regions = 0;
  uint32_t num_irqs = 0;

  bool is_pci() const;
  /// VFIO_DEVICE_FLAGS_RESET: reset() is supported.
  bool can_reset() const;
};

/// An open device. A cheap handle: copies share the device, which is closed (device fd, then
/// the DMA space, group, container or iommufd) when the last handle, Region, IrqVectors,
/// RegionMapping or DmaMapping referring to it is gone.
///
/// Thread-safety: region and config access, IRQ waits and mask/unmask/trigger, and DmaSpace
/// calls may be made from several threads at once. Setup calls — enable_irq/disable_irq/
/// set_irqs and reset() — are serialised internally, but their effects on other threads' IRQ
/// waits and accesses are the caller's to order (as with the kernel).
///
/// Every failure throws driver::Error: "<op> on <target>: <ENAME> (<description>)[: detail]".
class Device {
 public:
  const std::string& target() const;
  /// The device's own name: the bus address for PCI functions ("0000:00:03.0").
  const std::string& name() const;
  /// What serves the device: "emulated" (emu:), later "vfio-user" or "kernel".
  const std::string& backend() const;
  const DeviceInfo& info() const;

  // --- regions -------------------------------------------------------------------------------
  /// VFIO_DEVICE_GET_REGION_INFO of `index` (cached at open); index >= num_regions: EINVAL.
  const RegionInfo& region_info(uint32_t index) const;
  std::vector<RegionInfo> regions() const;
  Region region(uint32_t index) const;
  /// region(VFIO_PCI_BAR0_REGION_INDEX + n); EINVAL for n > 5.
  Region bar(uint32_t n) const;
  /// Config space of a PCI device (ENOTTY for a device without VFIO_DEVICE_FLAGS_PCI).
  PciConfig config() const;

  // --- interrupts ----------------------------------------------------------------------------
  /// VFIO_DEVICE_GET_IRQ_INFO of `index` (cached at open); index >= num_irqs: EINVAL.
  const IrqInfo& irq_info(uint32_t index) const;
  std::vector<IrqInfo> irqs() const;
  /// Creates `count` eventfds and attaches them to vectors [start, start+count) of `index`
  /// (SET_IRQS DATA_EVENTFD | ACTION_TRIGGER). The device's refusal (e.g. EINVAL enabling MSI
  /// while INTx is enabled) is thrown as is.
  IrqVectors enable_irq(uint32_t index, uint32_t count, uint32_t start = 0) const;
  /// SET_IRQS DATA_NONE | ACTION_TRIGGER with count 0: disables the whole index.
  void disable_irq(uint32_t index) const;
  /// SET_IRQS DATA_NONE with ACTION_MASK / ACTION_UNMASK / ACTION_TRIGGER.
  void mask_irq(uint32_t index, uint32_t start = 0, uint32_t count = 1) const;
  void unmask_irq(uint32_t index, uint32_t start = 0, uint32_t count = 1) const;
  void trigger_irq(uint32_t index, uint32_t start = 0, uint32_t count = 1) const;
  /// SET_IRQS DATA_BOOL: `action` is VFIO_IRQ_SET_ACTION_MASK, _UNMASK or _TRIGGER; one bool per
  /// vector from `start`; a vector is acted on where its bool is true.
  void set_irqs_bool(uint32_t index, uint32_t action, uint32_t start,
                     const std::vector<bool>& values) const;
  /// The raw SET_IRQS: `flags` (DATA_* | ACTION_*), then `data` as the uAPI lays it out (count
  /// bytes for BOOL, count int32 fds for EVENTFD, nothing for NONE). For tests and tools.
  void set_irqs(uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
                std::span<const std::byte> data = {}) const;

  // --- reset and DMA -------------------------------------------------------------------------
  /// VFIO_DEVICE_RESET.
  void reset() const;
  /// The device's DMA space (one per device).
  DmaSpace dma() const;

  /// Emulation-only facts: DMA accesses the emulated IOMMU refused so far. nullopt when the
  /// transport cannot know (a kernel or remote device).
  std::optional<uint64_t> iommu_faults() const;

 private:
  friend struct detail::DeviceAccess;  // the library's transports construct devices
  explicit Device(std::shared_ptr<detail::DeviceCore> core) : core_(std::move(core)) {}
  std::shared_ptr<detail::DeviceCore> core_;
};

/// Opens the device `target` names (see target.h for the syntax). Unknown schemes: ENODEV;
/// schemes not implemented in this build: EOPNOTSUPP; an unknown emulated device or bad options:
/// EINVAL — each with a message listing what is supported.
Device open(std::string_view target);

/// How open() places a device. Plain value; the defaults give open(target)'s behaviour.
struct OpenOptions {
  /// Open the device into this DMA space (another device's dev.dma()) instead of a new one, so
  /// both devices reach the same IOVAs: on pci: targets the device's group joins that container
  /// (legacy, no-IOMMU) or the device attaches to that iommufd's IOAS. The space must come from
  /// the same kind of target (EINVAL otherwise); a device whose group is already in another DMA
  /// space of this process: EBUSY. Targets whose transport cannot share: EOPNOTSUPP.
  std::optional<DmaSpace> share_dma_with;
};

/// open(target) with `options`.
Device open(std::string_view target, const OpenOptions& options);

}  // namespace uvfio::driver
