// Function reset methods of an emulated function, as the PCI core probes them
// (pci_init_reset_methods / __pci_reset_function_locked, in the kernel's order): PCIe FLR, PM
// reset (D3hot -> D0 without No_Soft_Reset), then a reset of the parent bus when the function is
// alone below its bridge. vfio-pci's reset_works is "some method exists" (vfio_pci_core_enable).
//
// Every method resets the device and, as pci_reset_function does, saves the function's config
// state before and restores it after: what the driver reads in config space is unchanged, and
// vfio-pci's interrupt setup (eventfds, MSI/MSI-X enables) stays in place. The PM path in
// vfio-pci likewise restores the state saved on entry to D3hot (vfio_pci_set_power_state). So a
// reset in uvfio calls DeviceModel::reset() and drops the INTx line, and leaves ConfigSpace and
// the IrqController alone; ConfigSpace::reset() runs at open and close (vfio_config_init).
#pragma once

#include <optional>

#include "uvfio/pci/device_model.h"

namespace uvfio::pci {

enum class ResetMethod { kNone, kFlr, kPm, kBus };

/// The first method that works for `layout` (validated), given whether the host says a reset of
/// the parent bus would reach this function alone.
ResetMethod probe_reset_method(const DeviceLayout& layout, bool parent_bus_reset);

/// "flr", "pm", "bus" or "none" (the names of /sys/bus/pci/devices/*/reset_method).
const char* reset_method_name(ResetMethod m);

}  // namespace uvfio::pci
