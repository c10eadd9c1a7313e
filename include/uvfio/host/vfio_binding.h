// Binding PCI functions to vfio-pci and back (`uvfio bind` / `uvfio unbind`), through the sysfs
// files an administrator would use: driver_override, the old driver's unbind, drivers_probe.
#pragma once

#include <string>
#include <vector>

#include "uvfio/host/sysfs.h"

namespace uvfio::host {

/// What happened to one function.
struct BindAction {
  std::string bdf;
  std::string before;  // driver before ("" = none)
  std::string after;   // driver after
  std::string note;    // "already bound", "restored", "bridge left on pcieport", ...
};

/// Where the previous drivers are remembered, under the Sysfs root.
inline constexpr const char* kBindStateDir = "/run/uvfio/bind";

/// Binds `bdf_text` ("0000:00:03.0" or "00:03.0") and every other function of its IOMMU group that
/// needs it to vfio-pci, so the group becomes viable: per function, records the previous driver
/// and driver_override in kBindStateDir/<bdf>, writes "vfio-pci" to driver_override, the address
/// to the old driver's unbind, then to /sys/bus/pci/drivers_probe, and checks the result.
/// Bridges in the group are left alone (they do not block viability); a bridge as `bdf` is
/// refused. Throws HostError saying what to do: EINVAL (bad address, bridge), ENODEV (no such
/// device, vfio-pci not loaded, no IOMMU group without no-IOMMU mode), EACCES/EPERM (not root),
/// EBUSY (a non-PCI group member has a driver), EIO (vfio-pci did not take a function).
std::vector<BindAction> bind_to_vfio(const Sysfs& fs, const std::string& bdf_text);

/// The reverse for `bdf_text`'s group: every function on vfio-pci (or recorded by bind_to_vfio) is
/// unbound from vfio-pci, its driver_override restored (cleared), and — when it had a driver
/// before, or nothing was recorded — re-probed, then bound explicitly to the recorded driver if
/// the probe picked another. A device still open by a VFIO user makes the kernel's unbind wait
/// for it to be closed. Throws HostError as bind_to_vfio.
std::vector<BindAction> unbind_from_vfio(const Sysfs& fs, const std::string& bdf_text);

}  // namespace uvfio::host
