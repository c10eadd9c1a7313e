#include "uvfio/driver/target.h"

#include <cerrno>

#include "uvfio/driver/error.h"

namespace uvfio::driver {
namespace {

[[noreturn]] void bad(std::string_view text, const std::string& why) {
  throw Error("parse target", std::string(text), EINVAL, why);
}

}  // namespace

Target Target::parse(std::string_view text) {
  Target t;
  t.text = std::string(text);
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    bad(text, "expected SCHEME:NAME[,key=value...], e.g. emu:edu");
  }
  t.scheme = std::string(text.substr(0, colon));
  std::string_view rest = text.substr(colon + 1);
  const size_t comma = rest.find(',');
  t.name = std::string(rest.substr(0, comma));
  if (t.name.empty()) bad(text, "empty name after '" + t.scheme + ":'");
  for (size_t pos = comma; pos != std::string_view::npos;) {
    rest.remove_prefix(pos + 1);
    pos = rest.find(',');
    const std::string_view item = rest.substr(0, pos);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      bad(text, "option '" + std::string(item) + "' is not key=value");
    }
    if (eq == 0) bad(text, "option '" + std::string(item) + "' has no key");
    std::string key(item.substr(0, eq));
    if (!t.options.emplace(key, std::string(item.substr(eq + 1))).second) {
      bad(text, "option '" + key + "' given twice");
    }
  }
  return t;
}

std::vector<TargetScheme> target_schemes() {
  return {
      {"emu", "emu:NAME[,key=value...]",
       "an emulated device in this process, served through uvfio's emulated VFIO files", true},
      {"vfio-user", "vfio-user:PATH[,timeout_ms=N,posted=auto|off,twin=on|off,ioeventfd=on|off]",
       "a device served by a vfio-user server (uvfio serve, libvfio-user, ...) on the UNIX "
       "socket PATH; timeout_ms: longest wait for a reply (default 5000); posted=off: every "
       "BAR write waits for its reply; twin=off: do not ask for a twin socket",
       true},
      {"pci", "pci:DDDD:BB:DD.F[,iommu=legacy|iommufd|noiommu]",
       "a PCI function bound to the kernel's vfio-pci driver (uvfio bind); the best kernel path "
       "unless iommu= forces one (legacy, alias type1: container + group)",
       true},
  };
}

std::vector<std::string> transport_option_help() {
  return {
      "iommu=iommufd: /dev/iommu and the device's cdev (BIND_IOMMUFD, IOAS_ALLOC, "
      "ATTACH_IOMMUFD_PT); emu:'s default, pci:'s first choice",
      "iommu=type1 (pci: also legacy): a VFIO container and the device's group with "
      "VFIO_TYPE1v2_IOMMU (pci: falls back to VFIO_TYPE1_IOMMU)",
      "iommu=noiommu: unsafe no-IOMMU mode; DMA uses untranslated bus addresses",
  };
}

}  // namespace uvfio::driver
