// Power Management capability (PCI_CAP_ID_PM): D0 and D3hot. vfio-pci lets the driver request a
// power state but makes the change itself (vfio_pm_config_write -> vfio_pci_set_power_state), so
// the state field is read-only in the table and follows the function.
#include <linux/pci_regs.h>

#include "pci/config_space_impl.h"

namespace uvfio::pci {

size_t ConfigSpace::Impl::pm_length() {
  return PCI_PM_SIZEOF;
}

void ConfigSpace::Impl::init_pm(size_t pos, uint8_t next, const PmSpec& spec) {
  pm_pos = static_cast<uint8_t>(pos);
  pm = spec;
  define_cap_header(pos, PCI_CAP_ID_PM, next);
  // Version 3 (PM 1.2); no D1/D2, no PME.
  phys.define(pos + PCI_PM_PMC, 2, 3);
  phys.define(pos + PCI_PM_CTRL, 2, spec.no_soft_reset ? PCI_PM_CTRL_NO_SOFT_RESET : 0,
              PCI_PM_CTRL_STATE_MASK);
  phys.define(pos + PCI_PM_PPB_EXTENSIONS, 1, 0);
  phys.define(pos + PCI_PM_DATA_REGISTER, 1, 0);

  claim_cap(pos, PCI_PM_SIZEOF, PCI_CAP_ID_PM);
  // PME cannot reach the driver: PME_Support, PME_En and PME_Status are virtualized (and zeroed
  // in vconfig); the power state is set through the write handler, not the table.
  perms.set16(pos + PCI_PM_PMC, PCI_PM_CAP_PME_MASK, 0);
  perms.set32(pos + PCI_PM_CTRL, PCI_PM_CTRL_PME_ENABLE | PCI_PM_CTRL_PME_STATUS,
              ~uint32_t{PCI_PM_CTRL_PME_ENABLE | PCI_PM_CTRL_PME_STATUS | PCI_PM_CTRL_STATE_MASK});
}

void ConfigSpace::Impl::pm_write(size_t pos, unsigned count, uint32_t val, size_t offset,
                                 Pending& ev) {
  default_write(pos, count, val);
  // Only a write that starts at PMCSR asks for a state (as in the kernel).
  if (offset == PCI_PM_CTRL) set_power_state(val & PCI_PM_CTRL_STATE_MASK, &ev);
}

unsigned ConfigSpace::Impl::power_state() const {
  return pm_pos ? phys.read(*pm_pos + PCI_PM_CTRL, 2) & PCI_PM_CTRL_STATE_MASK : 0;
}

void ConfigSpace::Impl::set_power_state(unsigned state, Pending* ev) {
  if (!pm_pos) return;
  const unsigned cur = power_state();
  // D1 and D2 are not supported: pci_set_power_state refuses them and vfio-pci ignores the error.
  if (state == 1 || state == 2 || state == cur) return;
  const size_t ctrl = *pm_pos + PCI_PM_CTRL;
  const bool needs_restore = !pm.no_soft_reset;
  // vfio_pci_set_power_state: a NoSoftRst- function loses its state in D3hot, so vfio-pci saves
  // it on the way in and restores it on the way out.
  if (needs_restore && state == 3) pm_save = phys.save();
  phys.update(ctrl, 2, PCI_PM_CTRL_STATE_MASK, state);
  if (needs_restore && cur == 3 && state == 0) {
    phys.power_on_reset();  // the function's internal reset on D3hot -> D0
    if (!pm_save.empty()) phys.restore(pm_save);
    pm_save.clear();
    phys.update(ctrl, 2, PCI_PM_CTRL_STATE_MASK, 0);
  }
  if (ev != nullptr) {
    if (!ev->power) ev->old_state = cur;
    ev->power = true;
    ev->new_state = state;
  }
}

}  // namespace uvfio::pci
