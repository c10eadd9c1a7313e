// PCI bus resets in the VFIO core: which devices share a bus (and so a secondary bus reset),
// VFIO_DEVICE_GET_PCI_HOT_RESET_INFO and VFIO_DEVICE_PCI_HOT_RESET for both the group and the
// cdev path, and the bus reset after a last close — the dev_set code of Linux 6.12's
// vfio_pci_core.c. The emulated topology: a device named "DDDD:BB:DD.F" sits on bus BB of domain
// DDDD; HostOptions::root_buses have no bridge above them (no bus reset), every other bus has one
// whose secondary bus reset works. There are no hot-plug slots, so no slot resets.
//
// The kernel's dev_set of a bus is its vfio-pci devices; a hot reset needs every device on the
// bus in it (bound to vfio and answering VfioDeviceOps::bus_reset_supported()).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace uvfio::vfio {

class FdTable;
class Host;
class IommufdContext;
class VfioDevice;
struct HostOptions;

/// A PCI function's address: segment (domain), bus, device/function.
struct PciAddress {
  uint16_t domain = 0;
  uint8_t bus = 0;
  uint8_t devfn = 0;  // device << 3 | function
  bool same_bus(const PciAddress& o) const { return domain == o.domain && bus == o.bus; }
};

/// Parses "DDDD:BB:DD.F" (hex; device < 0x20, function < 8); nullopt for anything else.
std::optional<PciAddress> parse_pci_address(std::string_view name);

/// A bus reset reaches devices on `addr`'s bus (it is not a root bus).
bool bus_reset_possible(const HostOptions& options, const PciAddress& addr);

/// Tells every device whether a reset of its parent bus would reset it alone (it is the only
/// device on a bus that is not a root bus). The host calls this with its registry lock held
/// whenever a device is added or unplugged.
void refresh_parent_bus_reset(const HostOptions& options,
                              const std::map<std::string, std::shared_ptr<VfioDevice>>& devices);

/// True for the two hot-reset ioctls, which the device files answer here for devices whose ops
/// support bus resets.
bool is_hot_reset_ioctl(unsigned long request);

/// VFIO_DEVICE_GET_PCI_HOT_RESET_INFO for `device`. `cdev_ictx` is the iommufd the device was
/// bound to through its cdev, or null when it was opened through its group.
long get_pci_hot_reset_info(Host& host, VfioDevice& device,
                            const std::shared_ptr<IommufdContext>& cdev_ictx, unsigned long arg);

/// VFIO_DEVICE_PCI_HOT_RESET for `device`: group fds are looked up in `fds` (group path); the
/// cdev path passes a zero-length array and needs every affected device owned by `cdev_ictx`.
long pci_hot_reset(Host& host, VfioDevice& device, FdTable& fds,
                   const std::shared_ptr<IommufdContext>& cdev_ictx, unsigned long arg);

/// vfio_pci_dev_set_try_reset, after `device`'s last close: if every device on its bus is a
/// vfio-pci device, none is open and one of them needs a reset, the bus is reset.
void try_bus_reset(Host& host, VfioDevice& device);

}  // namespace uvfio::vfio
