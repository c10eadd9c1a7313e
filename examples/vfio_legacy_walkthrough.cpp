// The canonical VFIO sequence through the legacy container/group interface, on uvfio's emulated
// files: open the container, check the API and the type1 extension, open the group, check it is
// viable, put it in the container, enable the IOMMU, get the device fd, map DMA, ask the device
// about itself. Each step prints what it called and what came back.
#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/mman.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "devices/bare_pci_device.h"
#include "uvfio/base/errno_name.h"
#include "vfio/emulated_system.h"
#include "vfio/host.h"
#include "walkthrough_step.h"

using namespace uvfio;
using namespace uvfio::vfio;

using examples::step;

int walk() {
  // One emulated PCI function in IOMMU group 0, bound to vfio.
  auto host = std::make_shared<Host>();
  const std::string bdf = "0000:00:03.0";
  int gid =
      *host->add_device({bdf, DriverState::kVfio, std::make_shared<devices::BarePciDevice>()});
  EmulatedSystem sys(host, Credentials::privileged("walkthrough"));
  const std::string group_path = "/dev/vfio/" + std::to_string(gid);

  int container =
      static_cast<int>(step("open(/dev/vfio/vfio)", sys.open("/dev/vfio/vfio", O_RDWR)));
  if (step("ioctl(VFIO_GET_API_VERSION)", sys.ioctl(container, VFIO_GET_API_VERSION, 0ul)) !=
      VFIO_API_VERSION) {
    return 1;
  }
  if (step("ioctl(VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU)",
           sys.ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU)) <= 0) {
    return 1;
  }
  int group =
      static_cast<int>(step(("open(" + group_path + ")").c_str(), sys.open(group_path, O_RDWR)));
  if (group < 0) return 1;
  vfio_group_status status{sizeof status, 0};
  step("ioctl(VFIO_GROUP_GET_STATUS)", sys.ioctl(group, VFIO_GROUP_GET_STATUS, &status));
  std::printf("    group is %s\n",
              status.flags & VFIO_GROUP_FLAGS_VIABLE ? "viable" : "NOT viable");
  if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) return 1;
  int cfd = container;
  if (step("ioctl(VFIO_GROUP_SET_CONTAINER)", sys.ioctl(group, VFIO_GROUP_SET_CONTAINER, &cfd)) < 0)
    return 1;
  if (step("ioctl(VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)",
           sys.ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) < 0)
    return 1;
  int device = static_cast<int>(
      step(("ioctl(VFIO_GROUP_GET_DEVICE_FD, \"" + bdf + "\")").c_str(),
           sys.ioctl(group, VFIO_GROUP_GET_DEVICE_FD, const_cast<char*>(bdf.c_str()))));
  if (device < 0) return 1;

  void* buf = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  vfio_iommu_type1_dma_map map{sizeof map, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
                               reinterpret_cast<uint64_t>(buf), 0x100000, 1 << 20};
  if (step("ioctl(VFIO_IOMMU_MAP_DMA, 1 MiB at IOVA 0x100000)",
           sys.ioctl(container, VFIO_IOMMU_MAP_DMA, &map)) < 0)
    return 1;
  vfio_device_info info{};  // value-initialized: 6.12's header adds a pad field
  info.argsz = sizeof info;
  if (step("ioctl(VFIO_DEVICE_GET_INFO)", sys.ioctl(device, VFIO_DEVICE_GET_INFO, &info)) < 0)
    return 1;
  std::printf("    flags=%#x (%s) regions=%u irqs=%u\n", info.flags,
              info.flags & VFIO_DEVICE_FLAGS_PCI ? "PCI" : "?", info.num_regions, info.num_irqs);
  vfio_iommu_type1_dma_unmap unmap{sizeof unmap, 0, 0x100000, 1 << 20};
  step("ioctl(VFIO_IOMMU_UNMAP_DMA)", sys.ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap));
  std::printf("    unmapped %llu bytes\n", static_cast<unsigned long long>(unmap.size));
  step("close(device)", sys.close(device));
  step("close(group)", sys.close(group));
  step("close(container)", sys.close(container));
  ::munmap(buf, 1 << 20);
  return 0;
}

int main() {
  try {
    return walk();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "walkthrough: %s\n", e.what());
    return 1;
  }
}
