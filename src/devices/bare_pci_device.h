// BarePciDevice: a PCI function with nothing behind it — it answers VFIO_DEVICE_GET_INFO as
// vfio-pci does (9 regions, 5 IRQ indexes) and nothing else. The VFIO core's tests, the
// conformance scenarios and the uAPI examples use it until the vfio-pci core serves real models.
#pragma once

#include "uvfio/vfio/device_ops.h"

namespace uvfio::devices {

class BarePciDevice : public vfio::VfioDeviceOps {
 public:
  long ioctl(unsigned long request, unsigned long arg) override;
};

}  // namespace uvfio::devices
