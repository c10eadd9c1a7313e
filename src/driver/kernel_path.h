// Which kernel VFIO path opens a pci: target: what the host offers (sysfs, /dev) decides, unless
// iommu= forces one; an unavailable path is an Error that says what the host lacks.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "uvfio/host/sysfs.h"

namespace uvfio::driver::detail {

enum class KernelPath {
  kIommufd,  // /dev/iommu + /dev/vfio/devices/vfioX
  kLegacy,   // /dev/vfio/vfio + /dev/vfio/N, type1 (v2, else v1)
  kNoIommu,  // /dev/vfio/vfio + /dev/vfio/noiommu-N, VFIO_NOIOMMU_IOMMU
};

/// "iommufd", "legacy", "noiommu".
const char* kernel_path_name(KernelPath path);

/// The options of a pci: target: iommu=iommufd|legacy|type1|noiommu (type1 is legacy's alias, as
/// emu: targets call it); nullopt when absent. Any other option, or value: Error EINVAL.
std::optional<KernelPath> parse_kernel_options(const std::map<std::string, std::string>& options,
                                               const std::string& target);

/// Where to open one function. Plain value.
struct KernelPlan {
  KernelPath path = KernelPath::kIommufd;
  std::string bdf;         // "0000:00:03.0"
  int group = -1;          // IOMMU group id
  std::string group_file;  // "/dev/vfio/5" or "/dev/vfio/noiommu-5" (legacy, no-IOMMU)
  std::string cdev_file;   // "/dev/vfio/devices/vfio0" (iommufd)
};

/// Plans opening `bdf` (normalized) on the host `fs` shows: the device must be bound to vfio-pci
/// (or a vfio-pci variant driver) in a viable group. With `want` empty: iommufd + cdev when
/// /dev/iommu and the cdev exist, else the legacy container, for a no-IOMMU group the no-IOMMU
/// path. With `want` set, that path or an Error (EOPNOTSUPP: the kernel lacks it; EINVAL: the
/// group's kind rules it out; ENOENT: its file is missing). Other errors: ENODEV (no such
/// device, not bound to vfio), EBUSY (group not viable). Details say what to do.
KernelPlan plan_kernel_open(const host::Sysfs& fs, const std::string& bdf,
                            std::optional<KernelPath> want, const std::string& target);

}  // namespace uvfio::driver::detail
