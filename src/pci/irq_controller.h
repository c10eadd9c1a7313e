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
///
/// Locking, outermost first: the control mutex (the kernel's igate: SET_IRQS, command_changed,
/// disable_all, restore_after_reset); the INTx state mutex (the kernel's irqlock) and the MSI
/// mask mutex; ConfigSpace's and MsixTable's own locks (called into); and one leaf mutex per
/// eventfd, held across its write, so that once SET_IRQS or disable_all returns an unassigned
/// eventfd is never signalled again. The device-side calls never take the control mutex, so
/// ConfigSpace and MsixTable may call them (deliver_msix, msi_mask_changed) from under their own
/// call paths, as long as they hold no lock of theirs while doing so. The only thread owned here
/// watches an INTx unmask eventfd (ACTION_UNMASK with DATA_EVENTFD); it is joined before SET_IRQS /
/// disable_all return after removing it.
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
  /// INTx is enabled and currently masked (automasked, ACTION_MASK, or INTx Disable).
  bool intx_masked() const;

  // --- core events ---
  /// Command register changed: INTx Disable may hide or reveal a pending INTx. Setting it masks
  /// INTx; clearing it unmasks (kernel quirk: even an automasked INTx the user never unmasked),
  /// re-delivering a still-asserted line.
  void command_changed(uint16_t old_cmd, uint16_t new_cmd);
  /// MSI per-vector Mask Bits changed (ConfigEvents::msi_mask_changed): sends the vectors whose
  /// pending bit is set and that are now unmasked.
  void msi_mask_changed();
  /// The host asks for the device back (VfioDeviceOps::request): signal the REQ eventfd.
  /// Returns false when no REQ trigger is set (the core logs it).
  bool request();
  /// An uncorrectable error: signal the ERR eventfd if set.
  void error();
  /// Last close or reset: disable every index and drop every eventfd, as vfio_pci_core_close
  /// does (ERR/REQ triggers survive a reset but not a close). With keep_err_req false (close)
  /// the INTx Disable state is forgotten, as the kernel's vfio_pci_core_disable does; with true
  /// it is re-read from config space, so reset config space first.
  void disable_all(bool keep_err_req);
  /// After a function reset that keeps the interrupt setup (the kernel's VFIO_DEVICE_RESET: its
  /// pci_try_reset_function saves and restores MSI / MSI-X state around the reset, and vfio-pci
  /// leaves SET_IRQS state alone): re-applies MSI / MSI-X enable to the freshly reset config space
  /// and the MSI-X Vector Control of the assigned vectors, and re-reads INTx Disable. Call after
  /// ConfigSpace::reset() and MsixTable::reset().
  void restore_after_reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace uvfio::pci
