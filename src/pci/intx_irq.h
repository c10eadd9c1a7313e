// IntxIrq: a function's INTx as vfio-pci delivers it (the INTx half of vfio_pci_intrs.c). The
// line is level-triggered; delivering it masks it (automask) until the user unmasks, and an
// unmask while the line is still asserted delivers again and stays masked. Command.INTx Disable
// (the virtualized bit, the kernel's virq_disabled) masks it too and suppresses delivery.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "pci/eventfd_ref.h"
#include "pci/irq_trigger.h"
#include "pci/virqfd.h"

namespace uvfio::pci {

class ConfigSpace;

/// Thread-safety: the control methods (enable ... set_virq_disabled) are serialised by the caller
/// (IrqController's igate, as the kernel's vdev->igate). set_line(), the unmask virqfd's thread
/// and send() may run concurrently with them and with each other: the line / mask state is under
/// an internal mutex (the kernel's irqlock), the eventfd in a TriggerSlot.
class IntxIrq {
 public:
  explicit IntxIrq(ConfigSpace& config);
  ~IntxIrq();
  IntxIrq(const IntxIrq&) = delete;
  IntxIrq& operator=(const IntxIrq&) = delete;

  /// INTx is the function's interrupt type (irq_type == INTx).
  bool enabled() const;
  /// INTx is masked (automasked, masked by the user, or by INTx Disable). False when not enabled.
  bool masked() const;

  // --- control (caller holds igate) ---
  /// vfio_intx_enable: INTx becomes the interrupt type with `trigger` (may be empty), masked iff
  /// INTx Disable is set (read from config space). A line already asserted is delivered (and
  /// masks) at once.
  void enable(std::optional<EventfdRef> trigger);
  /// vfio_intx_set_signal: replaces the eventfd; the old one is released before returning.
  void set_signal(std::optional<EventfdRef> trigger);
  /// vfio_intx_disable: drops the unmask eventfd and the trigger; no longer the interrupt type.
  void disable();
  /// ACTION_MASK (and INTx Disable set): masks if not masked. No effect unless enabled.
  void mask();
  /// ACTION_UNMASK (and INTx Disable cleared): unmasks, or re-delivers if the line is asserted.
  void unmask();
  /// ACTION_UNMASK with DATA_EVENTFD: fd >= 0 installs an unmask eventfd (EBUSY if one is set,
  /// EBADF / EINVAL for a bad fd); fd < 0 removes it. 0 or -errno.
  int set_unmask_eventfd(int32_t fd);
  /// The virtual Command.INTx Disable bit moved: masks (set) or unmasks (cleared), as the
  /// kernel's config write handler does. Also called with the current value to resynchronise.
  void set_virq_disabled(bool disabled);
  bool virq_disabled() const;

  // --- any thread ---
  /// ACTION_TRIGGER loopback and the delivery path (vfio_send_intx_eventfd): signals the eventfd
  /// if INTx is enabled and INTx Disable is clear.
  void send();
  /// The device drives INTA#. Status.Interrupt Status follows it.
  void set_line(bool asserted);

 private:
  /// vfio_pci_intx_unmask_handler: true when the line is still asserted and must be re-sent.
  bool unmask_handler();

  ConfigSpace& config_;
  mutable std::mutex mu_;  // the kernel's irqlock: enabled_, masked_, line_, virq_disabled_
  bool enabled_ = false;
  bool masked_ = false;
  bool line_ = false;
  bool virq_disabled_ = false;
  TriggerSlot trigger_;
  std::unique_ptr<Virqfd> unmask_fd_;  // igate
};

}  // namespace uvfio::pci
