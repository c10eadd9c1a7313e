// emu: targets — the registry of emulated devices, served by the vfio-pci core.
#include <cerrno>

#include "driver/emu_transport.h"
#include "uvfio/devices/registry.h"
#include "uvfio/pci/device_model.h"

namespace uvfio::driver::detail {

Device open_emulated_target(const Target& target) {
  auto options = target.options;
  const IommuMode mode = take_iommu_mode(options, target.text);
  std::string why;
  auto model = devices::make_emulated_device(target.name, options, &why);
  if (!model) {
    std::string known;
    for (const auto& d : devices::emulated_devices()) known += (known.empty() ? "" : ", ") + d.name;
    if (why.empty()) why = "cannot build emulated device '" + target.name + "'";
    throw Error("open", target.text, model.error(), why + " (emulated devices: " + known + ")");
  }
  auto ops = pci::make_vfio_pci_device(std::move(*model));
  if (!ops) {
    throw Error("open", target.text, ops.error(),
                "the vfio-pci core refused the layout of '" + target.name + "'");
  }
  return open_emulated_ops(target.text, std::move(*ops), mode);
}

}  // namespace uvfio::driver::detail
