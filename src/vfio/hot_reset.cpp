// PCI hot reset and bus topology (vfio_pci_core.c's dev_set code, Linux 6.12).
#include "vfio/hot_reset.h"

#include <linux/vfio.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <vector>

#include "base/log_format.h"
#include "iommufd/iommufd_context.h"
#include "uvfio/uapi/vfio_cdev.h"
#include "vfio/fd_table.h"
#include "vfio/group.h"
#include "vfio/host.h"
#include "vfio/user_copy.h"
#include "vfio/vfio_device.h"

namespace uvfio::vfio {

using namespace uvfio::uapi;  // NOLINT(google-build-using-namespace): the kernel's names

namespace {

// The kernel's dev_set->lock for PCI devices: one for all buses (hot resets are rare).
std::mutex g_dev_set_mu;

// Parses exactly `digits` hex digits.
bool parse_hex(std::string_view s, size_t digits, unsigned* out) {
  if (s.size() != digits) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  return ec == std::errc() && p == s.data() + s.size();
}

// The fixed part of vfio_pci_hot_reset_info and vfio_pci_hot_reset (both argsz, flags, count;
// their flexible arrays follow).
struct HotResetHeader {
  uint32_t argsz;
  uint32_t flags;
  uint32_t count;
};
constexpr size_t kHeaderSize = sizeof(HotResetHeader);
static_assert(offsetof(vfio_pci_hot_reset_info, count) + sizeof(uint32_t) == kHeaderSize);
static_assert(offsetof(vfio_pci_hot_reset, count) + sizeof(uint32_t) == kHeaderSize);

// The devices on one bus, by devfn (pci_walk_bus order).
struct Bus {
  PciAddress addr;
  std::vector<std::shared_ptr<VfioDevice>> devices;
};

// The bus a bus reset of `device` would reset, or nullopt (a root bus, or a name that is not a
// PCI address): pci_probe_reset_slot and pci_probe_reset_bus both fail.
std::optional<Bus> reset_bus_of(const Host& host, const VfioDevice& device) {
  auto addr = parse_pci_address(device.name());
  if (!addr || !bus_reset_possible(host.options(), *addr)) return std::nullopt;
  Bus bus{*addr, {}};
  std::vector<std::pair<uint8_t, std::shared_ptr<VfioDevice>>> found;
  for (auto& d : host.devices()) {
    auto a = parse_pci_address(d->name());
    if (a && a->same_bus(*addr)) found.emplace_back(a->devfn, std::move(d));
  }
  std::sort(found.begin(), found.end(),
            [](const auto& x, const auto& y) { return x.first < y.first; });
  for (auto& [devfn, d] : found) bus.devices.push_back(std::move(d));
  return bus;
}

// In the bus's dev_set: a vfio-pci function (vfio_find_device_in_devset).
bool in_dev_set(const VfioDevice& d) {
  if (d.driver() != DriverState::kVfio) return false;
  auto ops = d.ops_ref();
  return ops && ops->bus_reset_supported();
}

// vfio_iommufd_get_dev_id: the device's id in `ictx` if bound there; -ENOENT if not, but its
// group is (iommufd_ctx_has_group: the group cannot be owned by another context); else -ENODEV.
long dev_id_in(const IommufdContext& ictx, const VfioDevice& d) {
  if (uint32_t id = ictx.device_id(d); id != 0) return id;
  auto g = d.group();
  if (!g) return -ENODEV;
  std::vector<std::shared_ptr<VfioDevice>> members;
  {
    std::lock_guard lk(g->mu);
    members = g->devices_;
  }
  for (const auto& m : members) {
    if (ictx.device_id(*m) != 0) return -ENOENT;
  }
  return -ENODEV;
}

// The group whose open file `file` is (vfio_file_is_group), or null.
std::shared_ptr<Group> group_of_file(const Host& host, const std::shared_ptr<VfioFile>& file) {
  for (auto& g : host.groups()) {
    std::lock_guard lk(g->mu);
    if (g->opened_file && g->opened_file == file) return g;
  }
  return nullptr;
}

// vfio_pci_dev_set_hot_reset: every device on the bus must be in the dev_set and owned by the
// caller (`owned`); then the bus is reset. Called with g_dev_set_mu held.
template <class Owned>
long dev_set_hot_reset(const Bus& bus, Owned owned) {
  for (const auto& d : bus.devices) {
    if (!in_dev_set(*d)) return -EINVAL;  // vfio_pci_dev_set_resettable
  }
  for (const auto& d : bus.devices) {
    if (!owned(*d)) return -EINVAL;
  }
  long ret = 0;
  for (const auto& d : bus.devices) {
    auto ops = d->ops_ref();
    if (int r = ops ? ops->bus_reset() : -ENODEV; r < 0 && ret == 0) ret = r;
  }
  return ret;
}

}  // namespace

std::optional<PciAddress> parse_pci_address(std::string_view name) {
  // DDDD:BB:DD.F
  if (name.size() != 12 || name[4] != ':' || name[7] != ':' || name[10] != '.') return std::nullopt;
  unsigned domain = 0, bus = 0, dev = 0, fn = 0;
  if (!parse_hex(name.substr(0, 4), 4, &domain) || !parse_hex(name.substr(5, 2), 2, &bus) ||
      !parse_hex(name.substr(8, 2), 2, &dev) || !parse_hex(name.substr(11, 1), 1, &fn)) {
    return std::nullopt;
  }
  if (dev >= 32 || fn >= 8) return std::nullopt;
  return PciAddress{static_cast<uint16_t>(domain), static_cast<uint8_t>(bus),
                    static_cast<uint8_t>(dev << 3 | fn)};
}

bool bus_reset_possible(const HostOptions& options, const PciAddress& addr) {
  return std::find(options.root_buses.begin(), options.root_buses.end(), addr.bus) ==
         options.root_buses.end();
}

void refresh_parent_bus_reset(const HostOptions& options,
                              const std::map<std::string, std::shared_ptr<VfioDevice>>& devices) {
  for (const auto& [name, d] : devices) {
    auto addr = parse_pci_address(name);
    bool alone = addr && bus_reset_possible(options, *addr);
    if (alone) {
      for (const auto& [other, od] : devices) {
        auto oa = parse_pci_address(other);
        if (other != name && oa && oa->same_bus(*addr)) {
          alone = false;
          break;
        }
      }
    }
    d->set_parent_bus_reset(alone);
  }
}

bool is_hot_reset_ioctl(unsigned long request) {
  return request == VFIO_DEVICE_GET_PCI_HOT_RESET_INFO || request == VFIO_DEVICE_PCI_HOT_RESET;
}

long get_pci_hot_reset_info(Host& host, VfioDevice& device,
                            const std::shared_ptr<IommufdContext>& cdev_ictx, unsigned long arg) {
  // vfio_pci_ioctl_get_pci_hot_reset_info.
  constexpr size_t kMinsz = kHeaderSize;
  if (bad_uptr(arg)) return -EFAULT;
  HotResetHeader hdr{};
  std::memcpy(&hdr, reinterpret_cast<const void*>(arg), kMinsz);
  if (hdr.argsz < kMinsz) return -EINVAL;
  hdr.flags = 0;

  auto bus = reset_bus_of(host, device);
  if (!bus) return -ENODEV;
  const size_t count = bus->devices.size();  // every function on the bus, whatever its driver
  if (count > (hdr.argsz - kMinsz) / sizeof(vfio_pci_dependent_device)) {
    hdr.count = static_cast<uint32_t>(count);
    std::memcpy(reinterpret_cast<void*>(arg), &hdr, kMinsz);
    return -ENOSPC;
  }

  std::vector<vfio_pci_dependent_device> out(count);
  // 6.12: a cdev-opened device reports iommufd device ids instead of group ids.
  uint32_t flags =
      cdev_ictx ? VFIO_PCI_HOT_RESET_FLAG_DEV_ID | VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED : 0;
  {
    std::lock_guard lk(g_dev_set_mu);
    for (size_t i = 0; i < count; ++i) {
      const VfioDevice& d = *bus->devices[i];
      auto addr = *parse_pci_address(d.name());
      vfio_pci_dependent_device& e = out[i];
      e.segment = addr.domain;
      e.bus = addr.bus;
      e.devfn = addr.devfn;
      if (cdev_ictx) {
        // vfio_pci_fill_devs, cdev flavour: the devid shares storage with group_id.
        auto devid = static_cast<uint32_t>(VFIO_PCI_DEVID_NOT_OWNED);
        if (in_dev_set(d)) {
          long id = dev_id_in(*cdev_ictx, d);
          if (id > 0) {
            devid = static_cast<uint32_t>(id);
          } else if (id == -ENOENT) {
            devid = VFIO_PCI_DEVID_OWNED;
          }
        }
        e.group_id = devid;
        if (devid == static_cast<uint32_t>(VFIO_PCI_DEVID_NOT_OWNED)) {
          flags &= ~VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED;
        }
      } else {
        auto g = d.group();
        if (!g) return -EPERM;  // cannot reset non-isolated devices
        e.group_id = static_cast<uint32_t>(g->id());
      }
    }
  }
  std::memcpy(reinterpret_cast<void*>(arg + kMinsz), out.data(),
              out.size() * sizeof(vfio_pci_dependent_device));
  hdr.count = static_cast<uint32_t>(count);
  hdr.flags = flags;
  std::memcpy(reinterpret_cast<void*>(arg), &hdr, kMinsz);
  return 0;
}

long pci_hot_reset(Host& host, VfioDevice& device, FdTable& fds,
                   const std::shared_ptr<IommufdContext>& cdev_ictx, unsigned long arg) {
  // vfio_pci_ioctl_pci_hot_reset.
  constexpr size_t kMinsz = kHeaderSize;
  if (bad_uptr(arg)) return -EFAULT;
  HotResetHeader hdr{};
  std::memcpy(&hdr, reinterpret_cast<const void*>(arg), kMinsz);
  if (hdr.argsz < kMinsz || hdr.flags != 0) return -EINVAL;
  // A zero-length array is for cdev-opened devices only, and they must use it.
  if ((hdr.count != 0) == (cdev_ictx != nullptr)) return -EINVAL;
  auto bus = reset_bus_of(host, device);
  if (!bus) return -ENODEV;

  if (hdr.count == 0) {
    // The cdev path: every affected device bound to the caller's iommufd, or unbound with its
    // group owned by it.
    std::lock_guard lk(g_dev_set_mu);
    return dev_set_hot_reset(*bus, [&](const VfioDevice& d) {
      long id = dev_id_in(*cdev_ictx, d);
      return id > 0 || id == -ENOENT;
    });
  }

  // vfio_pci_ioctl_pci_hot_reset_groups: no more fds than devices on the bus (one group per
  // device at most); like the kernel, argsz is not checked against the array.
  if (hdr.count > bus->devices.size()) return -EINVAL;
  std::vector<int32_t> group_fds(hdr.count);
  std::memcpy(group_fds.data(), reinterpret_cast<const void*>(arg + kMinsz),
              group_fds.size() * sizeof(int32_t));
  std::vector<std::shared_ptr<Group>> groups;
  for (int32_t fd : group_fds) {
    auto file = fds.get(fd);
    if (!file) return -EBADF;
    auto g = group_of_file(host, file);
    if (!g) return -EINVAL;  // not a VFIO group file
    groups.push_back(std::move(g));
  }
  std::lock_guard lk(g_dev_set_mu);
  return dev_set_hot_reset(*bus, [&](const VfioDevice& d) {
    auto g = d.group();
    return g && std::find(groups.begin(), groups.end(), g) != groups.end();
  });
}

void try_bus_reset(Host& host, VfioDevice& device) {
  // vfio_pci_dev_set_try_reset: only when nothing else on the bus is in use and somebody is
  // dirty; a bus with a device outside the dev_set cannot be reset.
  auto bus = reset_bus_of(host, device);
  if (!bus) return;
  std::lock_guard lk(g_dev_set_mu);
  bool needs = false;
  for (const auto& d : bus->devices) {
    if (!in_dev_set(*d) || d->open_count() > 0) return;
    auto ops = d->ops_ref();
    needs = needs || (ops && ops->needs_reset());
  }
  if (!needs) return;
  for (const auto& d : bus->devices) {
    if (auto ops = d->ops_ref()) {
      if (int r = ops->bus_reset(); r < 0) {
        log_warn("vfio", "{}: bus reset after release failed: {}", d->name(), r);
      }
    }
  }
}

}  // namespace uvfio::vfio
