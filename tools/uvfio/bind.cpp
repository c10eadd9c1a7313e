// `uvfio bind BDF` / `uvfio unbind BDF`.
#include <fmt/format.h>

#include <cstdio>

#include "tools/uvfio/commands.h"
#include "uvfio/host/inventory.h"
#include "uvfio/host/pci_address.h"
#include "uvfio/host/vfio_binding.h"

namespace uvfio::tools {
namespace {

std::string show(const std::string& driver) {
  return driver.empty() ? "(none)" : driver;
}

}  // namespace

int run_bind(const BindOptions& options) {
  const char* cmd = options.unbind ? "unbind" : "bind";
  const host::Sysfs fs(options.root);
  try {
    const auto actions = options.unbind ? host::unbind_from_vfio(fs, options.bdf)
                                        : host::bind_to_vfio(fs, options.bdf);
    for (const auto& a : actions) {
      if (a.before == a.after) {
        fmt::print("{}: {}{}\n", a.bdf, show(a.after), a.note.empty() ? "" : " (" + a.note + ")");
      } else {
        fmt::print("{}: {} -> {}{}\n", a.bdf, show(a.before), show(a.after),
                   a.note.empty() ? "" : " (" + a.note + ")");
      }
    }
    if (!options.unbind) {
      const auto bdf = host::normalize_bdf(options.bdf);
      const auto f = host::read_function(fs, *bdf);
      const auto g = f ? host::read_group(fs, f->iommu_group) : std::nullopt;
      if (g) {
        fmt::print("IOMMU group {} is {}: open the device as pci:{}\n", g->id,
                   g->viable ? "viable" : "NOT viable", *bdf);
      }
    }
    return 0;
  } catch (const host::HostError& e) {
    fmt::print(stderr, "uvfio {}: {}\n", cmd, e.what());
    return 1;
  }
}

}  // namespace uvfio::tools
