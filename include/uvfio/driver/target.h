// Target: the string that names a device for driver::open().
//
//   emu:NAME[,key=value...]      an emulated device in this process (NAME from the registry of
//                                emulated devices, include/uvfio/devices/registry.h)
//   vfio-user:PATH[,key=value...] a device served over a vfio-user socket (not implemented yet)
//   pci:[DDDD:]BB:DD.F[,iommu=...] a PCI function bound to the kernel's vfio-pci (uvfio bind);
//                                iommu= as below, plus iommu=legacy (type1's other name); no
//                                iommu=: the best path the host offers (docs/kernel-backend.md)
//
// Options common to the VFIO-file transports (emu:, pci:):
//   iommu=iommufd  (default) /dev/iommu + the device cdev: BIND_IOMMUFD, IOAS_ALLOC, ATTACH_PT
//   iommu=type1    container + group, VFIO_SET_IOMMU(VFIO_TYPE1v2_IOMMU), GET_DEVICE_FD
//   iommu=noiommu  no-IOMMU group and container (unsafe: DMA is untranslated)
// Every other option of an emu: target is passed to the emulated device (e.g. dma_mask=...).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace uvfio::driver {

/// A parsed target. Plain value.
struct Target {
  std::string text;    // as given
  std::string scheme;  // "emu", "vfio-user", "pci"
  std::string name;    // what follows "scheme:" up to the first ',' (device name, path, BDF)
  std::map<std::string, std::string> options;  // key=value pairs after the name

  /// Parses `text`. Throws driver::Error (op "parse target", EINVAL) when there is no
  /// "scheme:", the name is empty, an option lacks '=' or its key, or a key repeats. Does not
  /// check that the scheme or the options are known: open() does.
  static Target parse(std::string_view text);
};

/// One supported target scheme, for help texts.
struct TargetScheme {
  std::string scheme;        // "emu"
  std::string syntax;        // "emu:NAME[,key=value...]"
  std::string description;   // one line
  bool implemented = false;  // false: open() fails with EOPNOTSUPP for now
};

/// Every scheme open() knows, implemented or not, in a stable order.
std::vector<TargetScheme> target_schemes();

/// The options of the VFIO-file transports (iommu=...), as "key=value: help" lines.
std::vector<std::string> transport_option_help();

}  // namespace uvfio::driver
