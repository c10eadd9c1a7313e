// Layout validation: the checks make_vfio_pci_device() applies to a DeviceModel's DeviceLayout
// before building anything, so the rest of the core can trust the layout.
#pragma once

#include <cstdint>
#include <optional>

#include "uvfio/base/result.h"
#include "uvfio/pci/device_model.h"

namespace uvfio::pci {

/// EINVAL for a layout no PCI function could have:
/// - identity: vendor ID 0xffff (no device), a class code wider than 24 bits, an interrupt pin
///   other than 0 (none) or 1..4 (INTA#..INTD#);
/// - BARs: a size that is not a power of two or below the PCI minimum (16 bytes for memory, 4 for
///   I/O), a size with kNone or kNone with a size, a 32-bit memory BAR over 2 GiB, an I/O BAR over
///   64 KiB, any BAR over 1 TiB (vfio-pci's region window, VFIO_PCI_OFFSET_SHIFT), a 64-bit BAR
///   in slot 5 or whose upper slot is not kNone, a prefetchable or memory-backed I/O BAR;
/// - ROM: not 0 and not a power of two in [2 KiB, 2 GiB];
/// - capabilities: the same capability twice; MSI vectors not 1, 2, 4, 8, 16 or 32; MSI-X
///   vectors not in 1..2048, a table or PBA BAR that is not a memory BAR, an offset that is not
///   8-byte aligned, a table or PBA past the end of its BAR, a table overlapping the PBA; a PCI
///   Express port type other than endpoint (0) or root-complex integrated endpoint (9).
/// Whether the capabilities fit in config space is ConfigSpace::create's check.
Result<void> validate_layout(const DeviceLayout& layout);

/// The MSI-X capability of a layout, if any.
std::optional<MsixSpec> msix_spec(const DeviceLayout& layout);
/// The PM capability of a layout, if any.
std::optional<PmSpec> pm_spec(const DeviceLayout& layout);
/// The PCI Express capability of a layout, if any.
std::optional<ExpressSpec> express_spec(const DeviceLayout& layout);

}  // namespace uvfio::pci
