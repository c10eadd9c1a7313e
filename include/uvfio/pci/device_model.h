// The device-model API: what a device author writes to put an emulated PCI function behind the
// vfio-pci core. The model describes its function (identity, BARs, capabilities) once, answers
// MMIO on its BARs, and uses the DeviceBus the core hands it for DMA and interrupts. It never
// learns which transport (in-process VFIO files, vfio-user) serves it.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "uvfio/base/result.h"
#include "uvfio/vfio/device_ops.h"

namespace uvfio::pci {

/// What kind of BAR a slot holds. A 64-bit memory BAR also uses the next slot, which stays
/// kNone in the layout.
enum class BarType : uint8_t { kNone, kMem32, kMem64, kIo };

/// One base address register.
struct BarSpec {
  BarType type = BarType::kNone;
  /// Bytes; a power of two, at least 16 for memory and 4 for I/O (the PCI minimums).
  uint64_t size = 0;
  bool prefetchable = false;
  /// Backed by shared memory (a memfd the driver may mmap) instead of MMIO callbacks: reads and
  /// writes through the region go to that memory and DeviceBus::bar_memory() exposes it to the
  /// model. MSI-X table and PBA pages inside such a BAR are still emulated and left out of mmap.
  bool memory_backed = false;
};

/// MSI capability (PCI_CAP_ID_MSI).
struct MsiSpec {
  unsigned vectors = 1;  // 1, 2, 4, 8, 16 or 32: Multiple Message Capable
  bool address64 = true;
  bool per_vector_mask = false;
};

/// MSI-X capability (PCI_CAP_ID_MSIX); the table and PBA live in BARs and are emulated by the core.
struct MsixSpec {
  unsigned vectors = 1;  // 1..2048
  unsigned table_bar = 0;
  uint32_t table_offset = 0;  // 8-byte aligned
  unsigned pba_bar = 0;
  uint32_t pba_offset = 0;  // 8-byte aligned
};

/// Power management capability (PCI_CAP_ID_PM): D0 and D3hot.
struct PmSpec {
  bool no_soft_reset = false;  // PMCSR No_Soft_Reset: D3hot->D0 keeps device state
};

/// PCI Express capability (PCI_CAP_ID_EXP, version 2). Makes the function a PCIe function: 4 KiB
/// of config space with an (empty) extended capability list.
struct ExpressSpec {
  uint8_t port_type = 0;  // PCI_EXP_TYPE_ENDPOINT (0) or PCI_EXP_TYPE_RC_END (9)
  bool flr = true;        // Function Level Reset capable (DevCap bit 28)
};

/// A standard capability; placed in the capability list in the order given, from offset 0x40.
using Capability = std::variant<MsiSpec, MsixSpec, PmSpec, ExpressSpec>;

/// Everything the core needs to build the function's configuration space and regions.
struct DeviceLayout {
  uint16_t vendor_id = 0;
  uint16_t device_id = 0;
  uint16_t subsystem_vendor_id = 0x1af4;  // QEMU's defaults
  uint16_t subsystem_id = 0x1100;
  uint8_t revision = 0;
  uint32_t class_code = 0;    // 24 bits: base class, sub-class, prog-if
  uint8_t interrupt_pin = 1;  // 0: no INTx; 1: INTA#
  std::array<BarSpec, 6> bars{};
  uint32_t rom_size = 0;  // expansion ROM bytes (power of two >= 2 KiB) or 0; reads as 0xff
  std::vector<Capability> capabilities;
  /// A name for logs ("edu").
  std::string name = "pci";
};

/// What the core gives a model: DMA through the device's IOMMU view, interrupts, and the state of
/// the function the model has to honour. Valid from DeviceModel::attach() until the core is
/// destroyed. Thread-safe: call from any thread, including the model's workers, but never while
/// holding a lock the model's MMIO callbacks take (the core may call into the model).
class DeviceBus {
 public:
  virtual ~DeviceBus() = default;

  /// DMA from bus address `iova` into `dst`. 0 or -errno, nothing partial:
  /// -EFAULT: some byte is not mapped for reading (the fault is logged and counted, memory
  ///          outside the mappings is never touched);
  /// -EIO:    Bus Master Enable is clear, or the device is not open (no DMA context);
  /// -EINVAL: len 0 or the range wraps.
  /// Under no-IOMMU the address is used untranslated.
  virtual int dma_read(uint64_t iova, void* dst, size_t len) = 0;
  /// DMA of `src` to bus address `iova`; needs a writable mapping. Errors as dma_read.
  virtual int dma_write(uint64_t iova, const void* src, size_t len) = 0;
  /// DMA faults refused so far (outside a mapping or without permission).
  virtual uint64_t dma_faults() const = 0;

  /// Command.Bus Master Enable as the device sees it.
  virtual bool bus_master() const = 0;
  /// MSI (not MSI-X) is enabled on the function: the driver set it up with SET_IRQS.
  virtual bool msi_enabled() const = 0;
  /// MSI-X is enabled on the function.
  virtual bool msix_enabled() const = 0;
  /// Sends MSI / MSI-X message `vector`. A masked vector becomes pending and is sent on unmask;
  /// a vector with nothing attached is dropped. No effect unless MSI or MSI-X is enabled.
  virtual void signal_msi(unsigned vector) = 0;
  /// Drives INTA# (level). Status.Interrupt Status follows it; Command.INTx Disable keeps it from
  /// reaching the driver; the core automasks on delivery until the driver unmasks.
  virtual void set_intx(bool asserted) = 0;
  /// The bytes of a memory-backed BAR (see BarSpec::memory_backed), or nullptr.
  virtual std::byte* bar_memory(unsigned bar) = 0;
};

/// A PCI function's behaviour. MMIO callbacks may run concurrently from several driver threads;
/// the model does its own locking.
class DeviceModel {
 public:
  virtual ~DeviceModel() = default;
  /// The function's shape; called once, before attach().
  virtual DeviceLayout layout() const = 0;
  /// The core adopted the model; `bus` outlives every later call into the model.
  virtual void attach(DeviceBus& /*bus*/) {}
  /// MMIO read of `size` (1, 2, 4 or 8) bytes at `offset` in BAR `bar` (not memory-backed, or a
  /// part of it the core does not emulate). The value is zero-extended.
  virtual uint64_t mmio_read(unsigned /*bar*/, uint64_t /*offset*/, unsigned size) {
    return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (size * 8)) - 1;
  }
  virtual void mmio_write(unsigned /*bar*/, uint64_t /*offset*/, unsigned /*size*/,
                          uint64_t /*value*/) {}
  /// A driver opened the device (first open).
  virtual void opened() {}
  /// The last driver closed it: stop DMA and interrupts, drop pins.
  virtual void closed() {}
  /// Function reset (VFIO_DEVICE_RESET, FLR, bus reset): back to the power-on state, or keep
  /// whatever real hardware keeps. The core restores config space itself.
  virtual void reset() {}
  /// An unmap covers [iova, iova+length): drop every pin inside it before returning.
  virtual void dma_unmap(uint64_t /*iova*/, uint64_t /*length*/) {}
  /// Doorbell registers a transport may deliver through ioeventfds (vfio::Doorbell; `region` is
  /// the BAR index). Each must lie inside a BAR that is not memory-backed.
  virtual std::vector<vfio::Doorbell> doorbells() const { return {}; }
};

/// The vfio-pci core serving `model`: the VfioDeviceOps to register with the VFIO core (a Host).
/// The layout is checked: EINVAL for an impossible one (BAR size not a power of two, 64-bit BAR
/// in slot 5, MSI-X table outside its BAR, capabilities that do not fit).
Result<std::shared_ptr<vfio::VfioDeviceOps>> make_vfio_pci_device(
    std::shared_ptr<DeviceModel> model);

}  // namespace uvfio::pci
