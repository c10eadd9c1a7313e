#include "devices/bare_pci_device.h"

#include <linux/vfio.h>

#include <cstddef>

namespace uvfio::devices {

long BarePciDevice::ioctl(unsigned long request, unsigned long arg) {
  if (request != VFIO_DEVICE_GET_INFO) return -ENOTTY;
  auto* info = reinterpret_cast<vfio_device_info*>(arg);
  if (info == nullptr) return -EFAULT;
  // vfio_pci_ioctl_get_info: minsz ends at num_irqs.
  if (info->argsz < offsetof(vfio_device_info, num_irqs) + sizeof(info->num_irqs)) return -EINVAL;
  info->flags = VFIO_DEVICE_FLAGS_PCI;
  info->num_regions = VFIO_PCI_NUM_REGIONS;
  info->num_irqs = VFIO_PCI_NUM_IRQS;
  return 0;
}

}  // namespace uvfio::devices
