// The public factory of the device-model API: a model behind the vfio-pci core.
#include "pci/pci_core.h"
#include "uvfio/pci/device_model.h"

namespace uvfio::pci {

Result<std::shared_ptr<vfio::VfioDeviceOps>> make_vfio_pci_device(
    std::shared_ptr<DeviceModel> model) {
  auto core = PciCore::create(std::move(model));
  if (!core) return Errno{core.error()};
  // The driver side may dynamic_cast the ops to DeviceBus (dma_faults()); PciCore is both.
  return std::shared_ptr<vfio::VfioDeviceOps>(std::move(*core));
}

}  // namespace uvfio::pci
