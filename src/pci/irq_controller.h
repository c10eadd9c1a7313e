// IrqController: vfio-pci's interrupt side for an emulated function (vfio_pci_intrs.c): the five
// IRQ indexes (INTx, MSI, MSI-X, ERR, REQ), GET_IRQ_INFO, SET_IRQS with the kernel's validation
// and switching rules, eventfd triggers, INTx automasking, and the device's raise paths.
#pragma once

#include <cstdint>
#include <memory>

namespace uvfio::pci {

class ConfigSpace;
class MsixTable;
struct DeviceLayout;

/// Thread-safe (internal mutex; eventfds are signalled without it held). Owned by PciCore.
class IrqController {
 public:
  /// `msix` is null when the function has no MSI-X capability.
  IrqController(const DeviceLayout& layout, ConfigSpace& config, MsixTable* msix);
  ~IrqController();

  // --- uAPI (arg points at the user's struct, as for the kernel's ioctl) ---
  /// VFIO_DEVICE_GET_IRQ_INFO. Returns 0 or -errno.
  long get_irq_info(unsigned long arg);
  /// VFIO_DEVICE_SET_IRQS (header + data). Returns 0 or -errno.
  long set_irqs(unsigned long arg);

  // --- device side (DeviceBus) ---
  void set_intx(bool asserted);
  void signal_msi(unsigned vector);
  bool msi_enabled() const;
  bool msix_enabled() const;
  /// MSI-X table delivery of an unmasked vector (MsixTable's deliver callback).
  void deliver_msix(unsigned vector);

  // --- core events ---
  /// Command register changed: INTx Disable may hide or reveal a pending INTx.
  void command_changed(uint16_t old_cmd, uint16_t new_cmd);
  /// The host asks for the device back (VfioDeviceOps::request): signal the REQ eventfd.
  /// Returns false when no REQ trigger is set (the core logs it).
  bool request();
  /// An uncorrectable error: signal the ERR eventfd if set.
  void error();
  /// Last close or reset: disable every index and drop every eventfd, as vfio_pci_core_close
  /// does (ERR/REQ triggers survive a reset but not a close).
  void disable_all(bool keep_err_req);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace uvfio::pci
