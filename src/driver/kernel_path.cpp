#include "driver/kernel_path.h"

#include <cerrno>

#include "uvfio/driver/error.h"
#include "uvfio/host/inventory.h"

namespace uvfio::driver::detail {
namespace {

constexpr const char* kNoIommuParam = "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode";

[[noreturn]] void fail(const std::string& target, int err, const std::string& why) {
  throw Error("open", target, err, why);
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : "; ") + x;
  return s;
}

}  // namespace

const char* kernel_path_name(KernelPath path) {
  switch (path) {
    case KernelPath::kIommufd:
      return "iommufd";
    case KernelPath::kLegacy:
      return "legacy";
    case KernelPath::kNoIommu:
      return "noiommu";
  }
  return "?";
}

std::optional<KernelPath> parse_kernel_options(const std::map<std::string, std::string>& options,
                                               const std::string& target) {
  std::optional<KernelPath> out;
  for (const auto& [key, value] : options) {
    if (key != "iommu") {
      fail(target, EINVAL,
           "unknown option '" + key + "' for a pci: target (accepted: iommu=iommufd, " +
               "iommu=legacy (or type1), iommu=noiommu)");
    }
    if (value == "iommufd") {
      out = KernelPath::kIommufd;
    } else if (value == "legacy" || value == "type1") {
      out = KernelPath::kLegacy;
    } else if (value == "noiommu") {
      out = KernelPath::kNoIommu;
    } else {
      fail(target, EINVAL,
           "unknown iommu=" + value +
               " (accepted: iommu=iommufd, iommu=legacy (or type1), iommu=noiommu)");
    }
  }
  return out;
}

KernelPlan plan_kernel_open(const host::Sysfs& fs, const std::string& bdf,
                            std::optional<KernelPath> want, const std::string& target) {
  const auto f = host::read_function(fs, bdf);
  if (!f) fail(target, ENODEV, "no PCI device " + bdf + " on this host (`uvfio ls` lists them)");
  const std::string bind_hint = "bind it first: uvfio bind " + bdf;
  // vfio-pci's variant drivers (mlx5_vfio_pci, ...) register VFIO devices too.
  if (f->driver.find("vfio") == std::string::npos) {
    fail(target, ENODEV,
         bdf + (f->driver.empty() ? " has no driver" : " is bound to " + f->driver) +
             ", not vfio-pci: " + bind_hint);
  }
  const host::HostVfio hv = host::read_host_vfio(fs);
  if (f->iommu_group < 0) {
    fail(target, ENODEV, bdf + " has no IOMMU group; " + bind_hint);
  }
  const auto g = host::read_group(fs, f->iommu_group);
  if (!g) fail(target, ENODEV, "IOMMU group " + std::to_string(f->iommu_group) + " is gone");
  if (!g->viable) {
    fail(target, EBUSY,
         "IOMMU group " + std::to_string(g->id) + " is not viable (" + join(g->blockers) +
             "): every device of the group must be bound to vfio-pci or have no driver; " +
             "uvfio bind " + bdf + " binds the whole group");
  }
  KernelPlan plan;
  plan.bdf = bdf;
  plan.group = g->id;
  plan.group_file = g->noiommu ? "/dev/vfio/noiommu-" + std::to_string(g->id)
                               : "/dev/vfio/" + std::to_string(g->id);
  if (!f->vfio_cdev.empty()) plan.cdev_file = "/dev/vfio/devices/" + f->vfio_cdev;
  const bool group_file = fs.exists(plan.group_file);
  const bool cdev_file = !plan.cdev_file.empty() && fs.exists(plan.cdev_file);
  const std::string gname = "IOMMU group " + std::to_string(g->id);

  if (!want) {
    if (g->noiommu) {
      want = KernelPath::kNoIommu;
    } else if (hv.iommufd && cdev_file) {
      want = KernelPath::kIommufd;
    } else if (hv.container && group_file) {
      want = KernelPath::kLegacy;
    } else {
      fail(target, EOPNOTSUPP,
           "the host offers no VFIO path for " + bdf + ": " +
               (hv.iommufd
                    ? "no device cdev (" +
                          (plan.cdev_file.empty() ? "vfio-dev/ in sysfs" : plan.cdev_file) + ")"
                    : std::string("no /dev/iommu")) +
               " and " +
               (hv.container ? "no " + plan.group_file
                             : std::string("no container /dev/vfio/vfio")) +
               "; the kernel needs CONFIG_IOMMUFD + CONFIG_VFIO_DEVICE_CDEV or "
               "CONFIG_VFIO_CONTAINER (is devtmpfs mounted on /dev?)");
    }
  }
  plan.path = *want;
  switch (*want) {
    case KernelPath::kIommufd:
      if (g->noiommu) {
        fail(target, EINVAL,
             gname + " is a no-IOMMU group (vfio-noiommu): only iommu=noiommu opens it");
      }
      if (!hv.iommufd) {
        fail(target, EOPNOTSUPP,
             "the host has no /dev/iommu: the kernel lacks CONFIG_IOMMUFD (or the iommufd module "
             "is not loaded: modprobe iommufd); use iommu=legacy");
      }
      if (plan.cdev_file.empty()) {
        fail(target, EOPNOTSUPP,
             bdf +
                 " has no vfio-dev/ in sysfs: the kernel lacks CONFIG_VFIO_DEVICE_CDEV; use "
                 "iommu=legacy");
      }
      if (!cdev_file) {
        fail(target, ENOENT,
             plan.cdev_file +
                 " does not exist although sysfs lists it (is devtmpfs mounted on "
                 "/dev?)");
      }
      break;
    case KernelPath::kLegacy:
    case KernelPath::kNoIommu:
      if (*want == KernelPath::kLegacy && g->noiommu) {
        fail(target, EINVAL,
             gname + " is a no-IOMMU group (vfio-noiommu): only iommu=noiommu opens it");
      }
      if (*want == KernelPath::kNoIommu && !g->noiommu) {
        fail(target, EINVAL,
             gname + " is translated by an IOMMU: iommu=noiommu serves only no-IOMMU groups " +
                 "(use iommu=iommufd or iommu=legacy); no-IOMMU mode (" + kNoIommuParam +
                 ") applies to devices without an IOMMU");
      }
      if (!hv.container) {
        fail(target, EOPNOTSUPP,
             "the host has no container /dev/vfio/vfio: the kernel lacks CONFIG_VFIO_CONTAINER "
             "(or CONFIG_IOMMUFD_VFIO_CONTAINER)" +
                 std::string(*want == KernelPath::kLegacy ? "; use iommu=iommufd" : ""));
      }
      if (!group_file) {
        fail(target, ENOENT,
             plan.group_file +
                 " does not exist (CONFIG_VFIO_GROUP off, or devtmpfs not mounted "
                 "on /dev)");
      }
      break;
  }
  return plan;
}

}  // namespace uvfio::driver::detail
