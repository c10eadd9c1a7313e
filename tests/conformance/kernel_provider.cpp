#include "kernel_provider.h"

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "vfio/kernel_system.h"

namespace uvfio::conformance {
namespace {

namespace fs = std::filesystem;

const fs::path kPciDevices = "/sys/bus/pci/devices";

std::string read_line(const fs::path& p) {
  std::ifstream f(p);
  std::string s;
  std::getline(f, s);
  return s;
}

bool write_sysfs(const fs::path& p, const std::string& value) {
  std::FILE* f = std::fopen(p.c_str(), "w");
  if (!f) return false;
  bool ok = std::fputs(value.c_str(), f) >= 0;
  return std::fclose(f) == 0 && ok;
}

// The last component of a symlink's target ("vfio-pci" for .../drivers/vfio-pci), or "".
std::string link_name(const fs::path& p) {
  std::error_code ec;
  fs::path t = fs::read_symlink(p, ec);
  return ec ? std::string() : t.filename().string();
}

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// A PCI device bound to vfio-pci, with the VFIO files it has.
struct VfioDev {
  std::string bdf;
  std::string group;  // /dev/vfio/N or /dev/vfio/noiommu-N
  std::string cdev;   // /dev/vfio/devices/vfioX, or "" (no-IOMMU devices have none)
  bool edu = false;   // QEMU's edu (1234:11e8)
  bool noiommu = false;
  std::string partner;  // another PCI function in the same IOMMU group, or ""
};

// Another PCI function in `dev`'s IOMMU group (a multi-function device without ACS shares one),
// or "".
std::string group_partner(const fs::path& dev) {
  std::error_code ec;
  const std::string self = dev.filename().string();
  for (const auto& m : fs::directory_iterator(dev / "iommu_group" / "devices", ec)) {
    std::string name = m.path().filename().string();
    if (name != self && path_exists(kPciDevices / name)) return name;
  }
  return {};
}

// Puts `bdf` on `driver` ("" for whatever the kernel's own matching picks) through
// driver_override and drivers_probe; true if it ends up there.
bool rebind(const std::string& bdf, const std::string& driver) {
  const fs::path dev = kPciDevices / bdf;
  const std::string now = link_name(dev / "driver");
  if (!driver.empty() && now == driver) return true;
  if (driver.empty() && !now.empty() && now != "vfio-pci" && now != "pci-stub") return true;
  // A lone newline clears the override; an empty write would not reach the kernel at all.
  write_sysfs(dev / "driver_override", driver.empty() ? "\n" : driver);
  if (!now.empty()) write_sysfs(dev / "driver" / "unbind", bdf);
  write_sysfs("/sys/bus/pci/drivers_probe", bdf);
  const std::string after = link_name(dev / "driver");
  return driver.empty() ? !after.empty() && after != "vfio-pci" && after != "pci-stub"
                        : after == driver;
}

// QEMU's edu device (1234:11e8): it has no other driver, so handing it to vfio-pci is harmless.
// Any other device (the VM's NVMe controller) must be bound by whoever set the machine up.
bool is_edu(const fs::path& dev) {
  return read_line(dev / "vendor") == "0x1234" && read_line(dev / "device") == "0x11e8";
}

void bind_to_vfio(const fs::path& dev) {
  const std::string bdf = dev.filename().string();
  if (link_name(dev / "driver") == "vfio-pci") return;
  write_sysfs(dev / "driver_override", "vfio-pci");
  if (path_exists(dev / "driver")) write_sysfs(dev / "driver" / "unbind", bdf);
  write_sysfs("/sys/bus/pci/drivers_probe", bdf);
}

// Every vfio-pci device, edu first (then by address).
std::vector<VfioDev> discover() {
  std::vector<std::pair<bool, VfioDev>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(kPciDevices, ec)) {
    const fs::path& dev = entry.path();
    const bool edu = is_edu(dev);
    if (edu) bind_to_vfio(dev);
    if (link_name(dev / "driver") != "vfio-pci") continue;
    std::string n = link_name(dev / "iommu_group");
    if (n.empty()) continue;
    VfioDev d;
    d.bdf = dev.filename().string();
    if (path_exists("/dev/vfio/noiommu-" + n)) {
      d.group = "/dev/vfio/noiommu-" + n;
      d.noiommu = true;
    } else if (path_exists("/dev/vfio/" + n)) {
      d.group = "/dev/vfio/" + n;
    } else {
      continue;
    }
    // No-IOMMU devices have a vfio-dev entry in sysfs but no /dev node.
    for (const auto& c : fs::directory_iterator(dev / "vfio-dev", ec)) {
      std::string cdev = "/dev/vfio/devices/" + c.path().filename().string();
      if (path_exists(cdev)) d.cdev = cdev;
    }
    d.edu = edu;
    d.partner = group_partner(dev);
    found.emplace_back(!edu, std::move(d));
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second.bdf < b.second.bdf;
  });
  std::vector<VfioDev> out;
  out.reserve(found.size());
  for (auto& [_, d] : found) out.push_back(std::move(d));
  return out;
}

bool noiommu_mode() {
  return read_line("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode") == "Y";
}

// Raises or lowers one capability in the calling thread's effective set (the permitted set is
// untouched, so a dropped capability can be raised again).
bool set_effective(unsigned cap, bool on) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &hdr, data) != 0) return false;
  const uint32_t bit = 1u << (cap % 32);
  if (on) {
    data[cap / 32].effective |= bit;
  } else {
    data[cap / 32].effective &= ~bit;
  }
  return ::syscall(SYS_capset, &hdr, data) == 0;
}

struct KernelWorld : World {
  vfio::KernelSystem system;
  std::vector<unsigned> dropped_caps;
  bool memlock_lowered = false;
  rlimit saved_memlock{};
};

class KernelProvider : public Provider {
 public:
  std::string name() const override { return "kernel"; }

  std::unique_ptr<World> make(Setup setup) override {
    // Devices that share their group with another function only serve the scenarios about such
    // groups: whether it is viable depends on the other function's driver.
    std::vector<VfioDev> ordinary, noiommu, shared;
    for (auto& d : discover()) {
      (d.noiommu ? noiommu : !d.partner.empty() ? shared : ordinary).push_back(std::move(d));
    }
    const bool mode = noiommu_mode();
    auto w = std::make_unique<KernelWorld>();
    w->sys = &w->system;
    w->page_size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    auto use = [&](const VfioDev& first, const VfioDev* second) {
      w->group = first.group;
      w->device = first.bdf;
      w->cdev = first.cdev;
      if (second) {
        w->group2 = second->group;
        w->device2 = second->bdf;
      }
    };
    switch (setup) {
      case Setup::kViableGroup:
      case Setup::kLowMemlock:
        if (ordinary.empty()) return nullptr;
        use(ordinary[0], nullptr);
        break;
      case Setup::kNoIommuDisabled:
        if (mode || ordinary.empty()) return nullptr;
        use(ordinary[0], nullptr);
        break;
      case Setup::kTwoGroups:
        if (ordinary.size() < 2 || ordinary[0].group == ordinary[1].group) return nullptr;
        use(ordinary[0], &ordinary[1]);
        break;
      case Setup::kNoIommuGroup:
        if (!mode || noiommu.empty()) return nullptr;
        use(noiommu[0], nullptr);
        break;
      case Setup::kNoIommuAndViable:
      case Setup::kUnprivileged:
        if (!mode || noiommu.empty() || ordinary.empty()) return nullptr;
        use(noiommu[0], &ordinary[0]);
        break;
      case Setup::kEduDevice:
        if (ordinary.empty() || !ordinary[0].edu) return nullptr;  // edu sorts first
        use(ordinary[0], nullptr);
        break;
      case Setup::kGroupOtherDriver:
      case Setup::kGroupStubDriver:
        // A group of two functions (the VM harness's iommu boot has edu and an NVMe controller as
        // one multi-function device): the first on vfio-pci, the other on its own (DMA-using)
        // driver or on pci-stub.
        if (shared.empty()) return nullptr;
        if (!rebind(shared[0].partner, setup == Setup::kGroupStubDriver ? "pci-stub" : "")) {
          return nullptr;
        }
        use(shared[0], nullptr);
        break;
    }
    if (setup == Setup::kLowMemlock) {
      if (::getrlimit(RLIMIT_MEMLOCK, &w->saved_memlock) != 0) return nullptr;
      rlimit low = w->saved_memlock;
      low.rlim_cur = kLowMemlockBytes;
      if (::setrlimit(RLIMIT_MEMLOCK, &low) != 0) return nullptr;
      w->memlock_lowered = true;
    }
    const unsigned cap = setup == Setup::kLowMemlock     ? CAP_IPC_LOCK
                         : setup == Setup::kUnprivileged ? CAP_SYS_RAWIO
                                                         : 0u;
    if (cap != 0) {
      if (!set_effective(cap, false)) {
        restore(*w);
        return nullptr;
      }
      w->dropped_caps.push_back(cap);
    }
    return w;
  }

  void destroy(std::unique_ptr<World> world) override {
    restore(static_cast<KernelWorld&>(*world));
    world.reset();
  }

 private:
  static void restore(KernelWorld& w) {
    for (unsigned cap : w.dropped_caps) set_effective(cap, true);
    w.dropped_caps.clear();
    if (w.memlock_lowered) ::setrlimit(RLIMIT_MEMLOCK, &w.saved_memlock);
    w.memlock_lowered = false;
  }
};

}  // namespace

std::unique_ptr<Provider> make_kernel_provider() {
  return std::make_unique<KernelProvider>();
}

}  // namespace uvfio::conformance
