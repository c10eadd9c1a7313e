// PciCore: the vfio-pci core device of an emulated PCI function (the kernel's
// vfio_pci_core_device, vfio_pci_core.c + vfio_pci_rdwr.c, Linux 6.12). To the VFIO core it is
// the device's VfioDeviceOps (open/close, the device ioctls, region read/write/mmap); to the
// DeviceModel it is the DeviceBus (DMA through the device's IOAS access, interrupts, BAR memory).
// It composes ConfigSpace (the CONFIG region), MsixTable, IrqController and one BarRegion per BAR.
//
// Regions: index << 40 in the device fd; BAR0-5, ROM (0xff-filled, read-only), CONFIG, and VGA
// (never present: EINVAL, as for a function that is not a VGA device).
// Deliberate differences from the kernel (docs/vfio-pci.md):
// - MMIO BARs cannot be mmapped (a mapping could not trap accesses); memory-backed BARs can,
//   except the pages of the MSI-X table and PBA, which are emulated and driver-visible (see
//   bar_region.h) and listed out through a sparse-mmap capability.
// - mmaps of memory-backed BARs stay usable while Memory decode is off (the kernel zaps them).
// - With Memory decode off, the emulated MSI-X table and PBA answer -EIO like the rest of the BAR.
// - The ROM region reports its BAR size and reads as 0xff; the kernel would report size 0 for a
//   ROM without a valid image (no 0xaa55 signature).
// - VFIO_DEVICE_IOEVENTFD and the device features (VFIO_DEVICE_FEATURE) are not implemented:
//   ENOTTY.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "pci/bar_region.h"
#include "pci/config_space.h"
#include "pci/function_reset.h"
#include "pci/irq_controller.h"
#include "pci/memory_lock.h"
#include "pci/msix_table.h"
#include "pci/region_info.h"
#include "uvfio/base/result.h"
#include "uvfio/pci/device_model.h"
#include "uvfio/vfio/device_ops.h"

namespace uvfio::pci {

/// Shared by the VFIO core (as its ops) and the model (as its bus); thread-safe: open/close and
/// resets are serialized by a state mutex, BAR accesses run concurrently under a shared lock that
/// resets take exclusively, DMA reads its context under its own small lock. Never holds a lock of
/// its own that the model's bus calls need while it calls into the model.
class PciCore final : public vfio::VfioDeviceOps, public DeviceBus {
 public:
  /// Validates the model's layout (EINVAL), builds the function and calls model->attach().
  static Result<std::shared_ptr<PciCore>> create(std::shared_ptr<DeviceModel> model);
  /// Closes the device if still open and drops the model (whose threads must then stop: a model
  /// kept alive elsewhere must not use the bus after this).
  ~PciCore() override;
  PciCore(const PciCore&) = delete;
  PciCore& operator=(const PciCore&) = delete;

  // --- VfioDeviceOps ---
  /// vfio_pci_core_enable: ConfigSpace::enable() (decode on, fresh driver's view), a fresh MSI-X
  /// table, a function reset of the model when one works, then model->opened().
  int open_device(const vfio::DmaContext& dma) override;
  /// vfio_pci_core_disable + close_device: DMA stopped, every interrupt index disabled and the
  /// ERR/REQ triggers dropped, model->closed(), a function reset when one works (else the device
  /// asks for a bus reset: needs_reset()), ConfigSpace::disable(), DMA context gone.
  void close_device() override;
  /// GET_INFO, GET_REGION_INFO, GET_IRQ_INFO, SET_IRQS, RESET; the hot-reset pair is answered by
  /// the VFIO core (it needs fds), and reaches here only without one: ENODEV. Others ENOTTY.
  long ioctl(unsigned long request, unsigned long arg) override;
  ssize_t read(void* buf, size_t count, uint64_t offset) override;
  ssize_t write(const void* buf, size_t count, uint64_t offset) override;
  void* mmap(size_t length, int prot, int flags, uint64_t offset) override;
  /// The REQ interrupt (vfio_pci_core_request).
  void request(unsigned count) override;
  void dma_unmap(uint64_t iova, uint64_t length) override;
  bool bus_reset_supported() const override { return true; }
  int bus_reset() override;
  void set_parent_bus_reset(bool available) override;
  bool needs_reset() const override;
  /// A memory-backed BAR's memfd (offset 0); nothing for other regions.
  vfio::RegionFile region_file(uint32_t index) const override;
  /// The model's doorbells that lie inside one of its MMIO BARs.
  std::vector<vfio::Doorbell> doorbells() const override;

  // --- DeviceBus ---
  int dma_read(uint64_t iova, void* dst, size_t len) override;
  int dma_write(uint64_t iova, const void* src, size_t len) override;
  uint64_t dma_faults() const override;
  bool bus_master() const override;
  bool msi_enabled() const override;
  bool msix_enabled() const override;
  void signal_msi(unsigned vector) override;
  void set_intx(bool asserted) override;
  std::byte* bar_memory(unsigned bar) override;

  // --- inspection (tests, tools) ---
  const DeviceLayout& layout() const { return layout_; }
  ConfigSpace& config() { return *config_; }
  MsixTable* msix() { return msix_.get(); }
  bool is_open() const;
  /// The reset method probed at the last open (vfio-pci's reset_works is != kNone).
  ResetMethod reset_method() const;
  /// Function resets done so far (VFIO_DEVICE_RESET, FLR, PM, bus, open/close).
  uint64_t resets() const { return resets_.load(std::memory_order_relaxed); }

 private:
  PciCore(std::shared_ptr<DeviceModel> model, DeviceLayout layout);
  Result<void> init();

  long get_info(unsigned long arg) const;
  Result<RegionDescription> describe_region(uint32_t index) const;
  long reset_ioctl();
  ssize_t rw(void* buf, size_t count, uint64_t offset, bool write);
  ssize_t bar_rw(unsigned bar, void* buf, size_t count, uint64_t pos, bool write);
  ssize_t rom_read(void* buf, size_t count, uint64_t pos) const;
  /// Memory decode on and the function in D0-D2 (__vfio_pci_memory_enabled).
  bool memory_enabled() const;
  int dma(bool write, uint64_t iova, void* buf, size_t len);
  int dma_untranslated(bool write, uint64_t addr, void* buf, size_t len);
  int dma_fault(bool write, uint64_t iova, size_t len, const char* why);

  // Resets (function_reset.cpp).
  /// The function resets: with `config` its config space goes through ConfigSpace::reset() (the
  /// driver's view saved and restored around the reset, D0 included); the model resets and stops
  /// driving INTx; the interrupt setup is re-applied (IrqController::restore_after_reset). The
  /// MSI-X table keeps its entries, as pci_restore_state rewrites them.
  void function_reset(const char* why, bool config);
  void on_flr();
  void on_power_state(unsigned old_state, unsigned new_state);

  std::shared_ptr<DeviceModel> model_;
  const DeviceLayout layout_;
  const std::optional<PmSpec> pm_;
  std::unique_ptr<ConfigSpace> config_;
  std::unique_ptr<MsixTable> msix_;
  std::unique_ptr<IrqController> irq_;
  std::array<std::unique_ptr<BarRegion>, 6> bars_;

  mutable std::mutex state_mu_;                    // open/close/reset sequencing
  bool open_ = false;                              // under state_mu_
  ResetMethod reset_method_ = ResetMethod::kNone;  // under state_mu_
  std::atomic<bool> parent_bus_reset_{false};
  std::atomic<bool> needs_reset_{false};

  MemoryLock memory_lock_;  // BAR access (shared) vs function reset (exclusive)

  mutable std::mutex dma_mu_;  // guards the two below
  bool dma_open_ = false;
  vfio::DmaContext dma_;
  std::atomic<uint64_t> dma_faults_{0};
  std::atomic<uint64_t> resets_{0};
};

}  // namespace uvfio::pci
