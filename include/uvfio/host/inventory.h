// Host discovery: PCI functions, IOMMU groups and the VFIO paths the running kernel offers, read
// from sysfs and /dev (under a Sysfs root, so tests use fake trees). Plain values, read once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "uvfio/host/sysfs.h"

namespace uvfio::host {

/// One PCI function, from /sys/bus/pci/devices/<bdf>/.
struct PciFunction {
  std::string bdf;  // "0000:00:03.0"
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint32_t class_code = 0;      // 24 bits: base class, sub-class, prog-if
  std::string driver;           // the bound driver ("vfio-pci"), "" when none
  std::string driver_override;  // "" when none ("(null)" in sysfs)
  int iommu_group = -1;         // -1: no IOMMU group
  std::string vfio_cdev;        // "vfio0" from vfio-dev/ (a vfio-bound device with the cdev)

  /// A PCI-to-PCI or CardBus bridge (class 06 04 / 06 07 / 06 09): vfio-pci never takes these.
  bool is_bridge() const;
};

/// Why `f` keeps its group from being viable, or nullopt when it does not. Linux 6.12 judges
/// viability by DMA ownership (group.c GET_STATUS: iommu_group_dma_owner_claimed): a device is
/// fine when driverless or bound to a driver that manages DMA itself (driver_managed_dma: vfio-pci
/// and its variant drivers, pci-stub, the PCIe port driver that serves bridges).
std::optional<std::string> viability_blocker(const PciFunction& f);

/// One IOMMU group, from /sys/kernel/iommu_groups/<id>/.
struct IommuGroup {
  int id = -1;
  std::string name;  // "vfio-noiommu" for a no-IOMMU group, else usually ""
  std::string type;  // default domain type: "DMA", "DMA-FQ", "identity", "unknown", ...
  bool noiommu = false;
  std::vector<std::string> members;  // every device name in devices/, PCI or not
  std::vector<PciFunction> devices;  // the PCI members
  bool viable = false;
  std::vector<std::string> blockers;  // "0000:00:1f.3 is bound to snd_hda_intel"
  std::string vfio_file;              // "/dev/vfio/5" or "/dev/vfio/noiommu-5" if it exists
};

/// Which kernel VFIO paths this host offers.
struct HostVfio {
  bool vfio_loaded = false;        // /sys/module/vfio
  bool vfio_pci_loaded = false;    // /sys/bus/pci/drivers/vfio-pci
  bool container = false;          // /dev/vfio/vfio: legacy container + groups
  bool iommufd = false;            // /dev/iommu
  bool noiommu_enabled = false;    // /sys/module/vfio/parameters/enable_unsafe_noiommu_mode is Y
  bool noiommu_supported = false;  // that parameter exists (CONFIG_VFIO_NOIOMMU)
  bool any() const { return vfio_loaded || container || iommufd; }
};

/// Everything `uvfio ls` shows.
struct HostInventory {
  HostVfio vfio;
  std::vector<IommuGroup> groups;      // by id
  std::vector<PciFunction> ungrouped;  // PCI functions without an IOMMU group
};

HostVfio read_host_vfio(const Sysfs& fs);
/// /sys/bus/pci/devices/<bdf> (bdf already normalized); nullopt if there is no such device.
std::optional<PciFunction> read_function(const Sysfs& fs, const std::string& bdf);
/// /sys/kernel/iommu_groups/<id> with its devices and viability; nullopt if absent.
std::optional<IommuGroup> read_group(const Sysfs& fs, int id);
HostInventory discover(const Sysfs& fs);

}  // namespace uvfio::host
