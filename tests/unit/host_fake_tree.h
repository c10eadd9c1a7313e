// A fake host tree (sys/, dev/, run/) in a temp dir for the host-discovery, binding and kernel
// target tests, and a Sysfs that plays the kernel's part when its files are written.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "uvfio/host/sysfs.h"

namespace uvfio::test {

/// Owns a temp dir (removed on destruction). Paths are host paths ("/sys/..."), put under root.
class FakeTree {
 public:
  FakeTree() {
    char tmpl[] = "/tmp/uvfio-host-test-XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    EXPECT_NE(d, nullptr);
    root = d != nullptr ? d : "/nonexistent";
  }
  ~FakeTree() {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
  FakeTree(const FakeTree&) = delete;
  FakeTree& operator=(const FakeTree&) = delete;

  std::string real(const std::string& path) const { return root + path; }

  void file(const std::string& path, const std::string& content = "") const {
    std::filesystem::create_directories(std::filesystem::path(real(path)).parent_path());
    std::ofstream(real(path), std::ios::trunc) << content;
  }
  void dir(const std::string& path) const { std::filesystem::create_directories(real(path)); }
  /// A symlink at `path` to the host path `to` (absolute inside the tree).
  void link(const std::string& path, const std::string& to) const {
    std::filesystem::create_directories(std::filesystem::path(real(path)).parent_path());
    std::error_code ec;
    std::filesystem::remove(real(path), ec);
    std::filesystem::create_symlink(real(to), real(path));
  }
  void remove(const std::string& path) const {
    std::error_code ec;
    std::filesystem::remove_all(real(path), ec);
  }
  std::string read(const std::string& path) const {
    std::ifstream in(real(path));
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return s;
  }

  /// A PCI driver directory with its bind/unbind files.
  void driver(const std::string& name) const {
    file("/sys/bus/pci/drivers/" + name + "/bind");
    file("/sys/bus/pci/drivers/" + name + "/unbind");
  }
  void group(int id, const std::string& type = "DMA", const std::string& name = "") const {
    const std::string d = "/sys/kernel/iommu_groups/" + std::to_string(id);
    dir(d + "/devices");
    file(d + "/type", type + "\n");
    if (!name.empty()) file(d + "/name", name + "\n");
  }
  /// A PCI function; `group` < 0: none; `driver` "": none.
  void device(const std::string& bdf, const std::string& vendor, const std::string& dev,
              const std::string& cls, const std::string& driver_name, int group_id,
              const std::string& cdev = "") const {
    const std::string d = "/sys/bus/pci/devices/" + bdf;
    file(d + "/vendor", vendor + "\n");
    file(d + "/device", dev + "\n");
    file(d + "/class", cls + "\n");
    file(d + "/driver_override", "(null)\n");
    if (!driver_name.empty()) {
      driver(driver_name);
      link(d + "/driver", "/sys/bus/pci/drivers/" + driver_name);
    }
    if (group_id >= 0) {
      const std::string g = "/sys/kernel/iommu_groups/" + std::to_string(group_id);
      if (!std::filesystem::exists(real(g))) group(group_id);
      link(d + "/iommu_group", g);
      link(g + "/devices/" + bdf, d);
    }
    if (!cdev.empty()) dir(d + "/vfio-dev/" + cdev);
  }
  /// The VFIO side of the host: the modules and the /dev files.
  void vfio(bool container, bool iommufd, const char* noiommu_param = "N") const {
    dir("/sys/module/vfio");
    if (noiommu_param != nullptr) {
      file("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode",
           std::string(noiommu_param) + "\n");
    }
    driver("vfio-pci");
    file("/sys/bus/pci/drivers_probe");
    if (container) file("/dev/vfio/vfio");
    if (iommufd) file("/dev/iommu");
  }

  std::string root;
};

/// A Sysfs on a FakeTree that records every write and plays the kernel: a driver's unbind drops
/// the `driver` link, drivers_probe binds driver_override's driver or the function's native one
/// (`native`), a driver's bind binds it, driver_override stores "(null)" for an empty value.
/// `refuse` makes writes to a path fail with that errno. For one test thread.
class FakeKernelSysfs : public host::Sysfs {
 public:
  explicit FakeKernelSysfs(const FakeTree& t) : host::Sysfs(t.root), tree_(t) {}

  int write(const std::string& path, const std::string& value) const override {
    writes.emplace_back(path, value);
    if (auto it = refuse.find(path); it != refuse.end()) return it->second;
    if (!exists(path)) return ENOENT;
    const std::string drivers = "/sys/bus/pci/drivers/";
    if (path.ends_with("/driver_override")) {
      std::string v = value;
      if (!v.empty() && v.back() == '\n') v.pop_back();
      tree_.file(path, (v.empty() ? "(null)" : v) + "\n");
      return 0;
    }
    if (path == "/sys/bus/pci/drivers_probe") {
      const std::string dev = "/sys/bus/pci/devices/" + value;
      if (!is_dir(dev)) return ENODEV;
      if (link_name(dev + "/driver")) return 0;  // already bound: nothing to probe
      std::string ov = read(dev + "/driver_override").value_or("(null)");
      std::string drv = ov != "(null)" ? ov : (native.count(value) ? native.at(value) : "");
      if (!drv.empty() && is_dir(drivers + drv) && !(drv == "vfio-pci" && vfio_refuses)) {
        tree_.link(dev + "/driver", drivers + drv);
      }
      return 0;
    }
    if (path.starts_with(drivers) && path.ends_with("/unbind")) {
      const std::string drv = path.substr(drivers.size(), path.size() - drivers.size() - 7);
      const std::string link = "/sys/bus/pci/devices/" + value + "/driver";
      if (link_name(link) != drv) return ENODEV;
      tree_.remove(link);
      return 0;
    }
    if (path.starts_with(drivers) && path.ends_with("/bind")) {
      const std::string drv = path.substr(drivers.size(), path.size() - drivers.size() - 5);
      const std::string link = "/sys/bus/pci/devices/" + value + "/driver";
      if (link_name(link)) return EBUSY;
      tree_.link(link, drivers + drv);
      return 0;
    }
    return host::Sysfs::write(path, value);
  }

  mutable std::vector<std::pair<std::string, std::string>> writes;
  std::map<std::string, std::string> native;  // bdf -> the driver a plain probe picks
  std::map<std::string, int> refuse;
  bool vfio_refuses = false;  // vfio-pci's probe fails

 private:
  const FakeTree& tree_;
};

}  // namespace uvfio::test
