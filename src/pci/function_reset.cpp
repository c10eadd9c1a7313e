// Function reset paths of the vfio-pci core (pci_reset_function and vfio-pci's FLR and PM
// handling, Linux 6.12); see function_reset.h for what a reset keeps.
#include "pci/function_reset.h"

#include <mutex>

#include "base/log_format.h"
#include "pci/layout_validation.h"
#include "pci/pci_core.h"

namespace uvfio::pci {

ResetMethod probe_reset_method(const DeviceLayout& layout, bool parent_bus_reset) {
  // pci_reset_fn_methods order: (device-specific, ACPI,) FLR, (AF FLR,) PM, bus.
  if (auto e = express_spec(layout); e && e->flr) return ResetMethod::kFlr;
  // pci_pm_reset: a PM capability whose D3hot -> D0 transition resets (No_Soft_Reset clear).
  if (auto pm = pm_spec(layout); pm && !pm->no_soft_reset) return ResetMethod::kPm;
  // pci_parent_bus_reset: the only function below a bridge. (No hot-plug slots: no slot reset.)
  if (parent_bus_reset) return ResetMethod::kBus;
  return ResetMethod::kNone;
}

const char* reset_method_name(ResetMethod m) {
  switch (m) {
    case ResetMethod::kFlr:
      return "flr";
    case ResetMethod::kPm:
      return "pm";
    case ResetMethod::kBus:
      return "bus";
    case ResetMethod::kNone:
      break;
  }
  return "none";
}

void PciCore::function_reset(const char* why, bool config) {
  // Accesses in flight finish first and none start until the reset is done (the kernel takes
  // memory_lock for writing and zaps the BAR mappings).
  MemoryLock::Exclusive lk(memory_lock_);
  log_debug("pci", "{}: function reset ({})", layout_.name, why);
  model_->reset();
  // pci_dev_save_and_disable / reset / pci_dev_restore: the driver's view of config space comes
  // back; what a reset clears and nothing restores (Interrupt Status, error bits) is lost.
  if (config) config_->reset();
  irq_->set_intx(false);  // a reset function stops driving INTA#
  irq_->restore_after_reset();
  resets_.fetch_add(1, std::memory_order_relaxed);
}

void PciCore::on_flr() {
  // vfio_exp_config_write: Initiate FLR on an FLR-capable function resets it whether or not the
  // device was opened with reset_works.
  function_reset("FLR", true);
}

void PciCore::on_power_state(unsigned old_state, unsigned new_state) {
  // D3hot -> D0 without No_Soft_Reset resets the function's internal state; vfio-pci restores
  // the config state it saved on the way into D3hot (needs_pm_restore) — ConfigSpace has done
  // that already — so only the device resets here.
  if (old_state == 3 && new_state == 0 && pm_ && !pm_->no_soft_reset) {
    function_reset("D3hot->D0", false);
  }
}

int PciCore::bus_reset() {
  // pci_reset_bus for one function of the bus (vfio_pci_dev_set_hot_reset puts every function
  // in D0 first, which ConfigSpace::reset does): the reset with config state saved and restored.
  std::lock_guard lk(state_mu_);
  function_reset("bus reset", true);
  needs_reset_ = false;
  return 0;
}

}  // namespace uvfio::pci
