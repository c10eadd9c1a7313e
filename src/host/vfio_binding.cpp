#include "uvfio/host/vfio_binding.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bind_state.h"
#include "uvfio/base/errno_name.h"
#include "uvfio/host/inventory.h"
#include "uvfio/host/pci_address.h"

namespace uvfio::host {
namespace {

constexpr const char* kVfioPci = "vfio-pci";

std::string show(const std::string& driver) {
  return driver.empty() ? "(none)" : driver;
}

/// Writes one sysfs attribute; a refusal becomes a HostError that says what to do.
void write_attr(const Sysfs& fs, const std::string& path, const std::string& value,
                const std::string& bdf) {
  const int err = fs.write(path, value);
  if (err == 0) return;
  std::string msg = "writing '" + value + "' to " + path + " for " + bdf + ": " + errno_name(err) +
                    " (" + std::strerror(err) + ")";
  if (err == EACCES || err == EPERM || err == EROFS) {
    msg += ": binding drivers needs root (run it with sudo)";
  } else if (err == ENOENT) {
    msg += ": this kernel lacks the file (PCI driver_override needs Linux 3.16+)";
  }
  throw HostError(err, msg);
}

std::string resolve(const std::string& text) {
  auto bdf = normalize_bdf(text);
  if (!bdf) {
    throw HostError(EINVAL, "'" + text +
                                "' is not a PCI function address (expected DDDD:BB:DD.F or "
                                "BB:DD.F, e.g. 0000:00:03.0)");
  }
  return *bdf;
}

PciFunction must_read(const Sysfs& fs, const std::string& bdf) {
  auto f = read_function(fs, bdf);
  if (!f) {
    throw HostError(ENODEV, "no PCI device " + bdf + " on this host (`uvfio ls` lists them)");
  }
  return *f;
}

std::string current_driver(const Sysfs& fs, const std::string& bdf) {
  return fs.link_name("/sys/bus/pci/devices/" + bdf + "/driver").value_or("");
}

/// The functions of `f`'s group, `f` included (just `f` when it has no group).
std::vector<PciFunction> group_functions(const Sysfs& fs, const PciFunction& f,
                                         std::vector<std::string>* foreign) {
  if (f.iommu_group < 0) return {f};
  auto g = read_group(fs, f.iommu_group);
  if (!g) return {f};
  if (foreign != nullptr) {
    for (const auto& m : g->members) {
      const bool pci = std::any_of(g->devices.begin(), g->devices.end(),
                                   [&](const PciFunction& d) { return d.bdf == m; });
      if (pci) continue;
      const auto drv = fs.link_name("/sys/kernel/iommu_groups/" + std::to_string(g->id) +
                                    "/devices/" + m + "/driver");
      if (drv) foreign->push_back(m + " (bound to " + *drv + ")");
    }
  }
  return g->devices;
}

BindAction bind_one(const Sysfs& fs, const PciFunction& f) {
  const std::string dir = "/sys/bus/pci/devices/" + f.bdf;
  if (f.driver == kVfioPci) return {f.bdf, f.driver, f.driver, "already bound"};
  // Record first: whatever fails later, `uvfio unbind` can put the old driver back.
  if (!load_bind_state(fs, f.bdf)) save_bind_state(fs, f.bdf, {f.driver, f.driver_override});
  // driver_override makes the next probe pick vfio-pci whatever its ID table says.
  write_attr(fs, dir + "/driver_override", kVfioPci, f.bdf);
  if (!f.driver.empty()) {
    write_attr(fs, "/sys/bus/pci/drivers/" + f.driver + "/unbind", f.bdf, f.bdf);
  }
  write_attr(fs, "/sys/bus/pci/drivers_probe", f.bdf, f.bdf);
  const std::string now = current_driver(fs, f.bdf);
  if (now != kVfioPci) {
    throw HostError(EIO, "vfio-pci did not take " + f.bdf + " (its driver is now " + show(now) +
                             "; the kernel log, dmesg, says why); `uvfio unbind " + f.bdf +
                             "` restores " + show(f.driver));
  }
  return {f.bdf, f.driver, now, ""};
}

BindAction unbind_one(const Sysfs& fs, const PciFunction& f) {
  const std::string dir = "/sys/bus/pci/devices/" + f.bdf;
  const auto state = load_bind_state(fs, f.bdf);
  if (f.driver == kVfioPci) {
    // Blocks in the kernel until a VFIO user closes the device (vfio sends it REQ meanwhile).
    write_attr(fs, "/sys/bus/pci/drivers/vfio-pci/unbind", f.bdf, f.bdf);
  }
  // A lone newline clears driver_override (the kernel strips it and stores nothing).
  const std::string override_value = state ? state->driver_override : "";
  write_attr(fs, dir + "/driver_override", override_value.empty() ? "\n" : override_value, f.bdf);
  BindAction a{f.bdf, f.driver, "", ""};
  if (state && state->driver.empty()) {
    a.note = "left without a driver, as before";
  } else {
    // Let the kernel match a driver as at boot; then insist on the recorded one if it differs
    // (it may have been bound by hand, through new_id or bind).
    write_attr(fs, "/sys/bus/pci/drivers_probe", f.bdf, f.bdf);
    if (state && current_driver(fs, f.bdf) != state->driver) {
      const std::string bind = "/sys/bus/pci/drivers/" + state->driver + "/bind";
      if (current_driver(fs, f.bdf).empty() && fs.exists(bind)) {
        write_attr(fs, bind, f.bdf, f.bdf);
      }
    }
    const std::string now = current_driver(fs, f.bdf);
    if (state) {
      a.note = now == state->driver
                   ? "restored"
                   : "could not restore " + show(state->driver) + " (is its module loaded?)";
    } else {
      a.note = "no previous driver recorded; the kernel picked " + show(now);
    }
  }
  a.after = current_driver(fs, f.bdf);
  erase_bind_state(fs, f.bdf);
  return a;
}

}  // namespace

std::vector<BindAction> bind_to_vfio(const Sysfs& fs, const std::string& bdf_text) {
  const std::string bdf = resolve(bdf_text);
  const PciFunction f = must_read(fs, bdf);
  if (f.is_bridge()) {
    throw HostError(EINVAL, bdf +
                                " is a PCI bridge: vfio-pci does not take bridges, and a bridge "
                                "on pcieport (or without a driver) does not keep its group from "
                                "being viable; bind the endpoint devices behind it instead");
  }
  const HostVfio host = read_host_vfio(fs);
  if (!host.vfio_pci_loaded) {
    throw HostError(ENODEV,
                    "the vfio-pci driver is not loaded (no /sys/bus/pci/drivers/vfio-pci): load "
                    "it with `modprobe vfio-pci` as root, or build a kernel with CONFIG_VFIO_PCI");
  }
  if (f.iommu_group < 0 && !host.noiommu_enabled) {
    throw HostError(ENODEV, bdf +
                                " has no IOMMU group, so vfio-pci would refuse it: enable the "
                                "IOMMU (intel_iommu=on / amd_iommu=on), or accept unsafe "
                                "no-IOMMU mode (echo 1 > "
                                "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode)");
  }
  std::vector<std::string> foreign;
  auto members = group_functions(fs, f, &foreign);
  if (!foreign.empty()) {
    std::string list;
    for (const auto& s : foreign) list += (list.empty() ? "" : ", ") + s;
    throw HostError(EBUSY, "IOMMU group " + std::to_string(f.iommu_group) +
                               " also holds non-PCI devices with drivers: " + list +
                               "; unbind them first, vfio-pci cannot take them");
  }
  std::vector<BindAction> done;
  for (const auto& m : members) {
    if (m.is_bridge()) {
      done.push_back({m.bdf, m.driver, m.driver,
                      "bridge left on " + show(m.driver) + " (bridges do not block viability)"});
      continue;
    }
    done.push_back(bind_one(fs, m));
  }
  return done;
}

std::vector<BindAction> unbind_from_vfio(const Sysfs& fs, const std::string& bdf_text) {
  const std::string bdf = resolve(bdf_text);
  const PciFunction f = must_read(fs, bdf);
  auto members = group_functions(fs, f, nullptr);
  std::vector<BindAction> done;
  // Reverse of bind's order.
  for (size_t i = members.size(); i-- > 0;) {
    const PciFunction& m = members[i];
    const bool recorded = load_bind_state(fs, m.bdf).has_value();
    if (m.driver != kVfioPci && !recorded) {
      if (m.bdf == bdf) {
        done.push_back({bdf, m.driver, m.driver, "not bound to vfio-pci; nothing to do"});
      }
      continue;
    }
    done.push_back(unbind_one(fs, m));
  }
  return done;
}

}  // namespace uvfio::host
