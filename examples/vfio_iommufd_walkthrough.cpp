// The same journey through iommufd and the device cdev: open /dev/iommu, allocate an IOAS, map
// memory into it, open the device's cdev, bind it to the iommufd, attach it to the IOAS, ask the
// device about itself, list the usable IOVA ranges, then detach and unmap.
#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/mman.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "devices/bare_pci_device.h"
#include "uvfio/base/errno_name.h"
#include "uvfio/uapi/iommufd.h"
#include "uvfio/uapi/vfio_cdev.h"
#include "vfio/emulated_system.h"
#include "vfio/host.h"
#include "walkthrough_step.h"

using namespace uvfio;
using namespace uvfio::vfio;
using namespace uvfio::uapi;

using examples::step;

int walk() {
  auto host = std::make_shared<Host>();
  const std::string bdf = "0000:00:03.0";
  (void)*host->add_device({bdf, DriverState::kVfio, std::make_shared<devices::BarePciDevice>()});
  const std::string cdev =
      "/dev/vfio/devices/vfio" + std::to_string(host->device(bdf)->cdev_index());
  EmulatedSystem sys(host, Credentials::privileged("walkthrough"));

  int iommufd = static_cast<int>(step("open(/dev/iommu)", sys.open("/dev/iommu", O_RDWR)));
  if (iommufd < 0) return 1;
  iommu_ioas_alloc alloc{sizeof alloc, 0, 0};
  if (step("ioctl(IOMMU_IOAS_ALLOC)", sys.ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc)) < 0) return 1;
  std::printf("    IOAS id %u\n", alloc.out_ioas_id);

  void* buf = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  iommu_ioas_map map{};
  map.size = sizeof map;
  map.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;  // let the IOAS choose the IOVA
  map.ioas_id = alloc.out_ioas_id;
  map.user_va = reinterpret_cast<uint64_t>(buf);
  map.length = 1 << 20;
  if (step("ioctl(IOMMU_IOAS_MAP, 1 MiB, IOVA chosen)", sys.ioctl(iommufd, IOMMU_IOAS_MAP, &map)) <
      0)
    return 1;
  std::printf("    mapped at IOVA %#llx\n", static_cast<unsigned long long>(map.iova));

  int device = static_cast<int>(step(("open(" + cdev + ")").c_str(), sys.open(cdev, O_RDWR)));
  if (device < 0) return 1;
  vfio_device_bind_iommufd bind{};
  bind.argsz = sizeof bind;
  bind.iommufd = static_cast<int32_t>(iommufd);
  if (step("ioctl(VFIO_DEVICE_BIND_IOMMUFD)", sys.ioctl(device, VFIO_DEVICE_BIND_IOMMUFD, &bind)) <
      0)
    return 1;
  std::printf("    device id %u\n", bind.out_devid);
  vfio_device_attach_iommufd_pt attach{};
  attach.argsz = sizeof attach;
  attach.pt_id = alloc.out_ioas_id;
  if (step("ioctl(VFIO_DEVICE_ATTACH_IOMMUFD_PT)",
           sys.ioctl(device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) < 0)
    return 1;
  vfio_device_info info{};  // value-initialized: 6.12's header adds a pad field
  info.argsz = sizeof info;
  if (step("ioctl(VFIO_DEVICE_GET_INFO)", sys.ioctl(device, VFIO_DEVICE_GET_INFO, &info)) < 0)
    return 1;
  std::printf("    flags=%#x regions=%u irqs=%u\n", info.flags, info.num_regions, info.num_irqs);

  iommu_iova_range ranges[8] = {};
  iommu_ioas_iova_ranges r{};
  r.size = sizeof r;
  r.ioas_id = alloc.out_ioas_id;
  r.num_iovas = 8;
  r.allowed_iovas = reinterpret_cast<uint64_t>(ranges);
  if (step("ioctl(IOMMU_IOAS_IOVA_RANGES)", sys.ioctl(iommufd, IOMMU_IOAS_IOVA_RANGES, &r)) < 0)
    return 1;
  for (uint32_t i = 0; i < r.num_iovas && i < 8; ++i) {
    std::printf("    usable IOVAs [%#llx, %#llx]\n",
                static_cast<unsigned long long>(ranges[i].start),
                static_cast<unsigned long long>(ranges[i].last));
  }
  vfio_device_detach_iommufd_pt detach{};
  detach.argsz = sizeof detach;
  step("ioctl(VFIO_DEVICE_DETACH_IOMMUFD_PT)",
       sys.ioctl(device, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach));
  iommu_ioas_unmap unmap{};
  unmap.size = sizeof unmap;
  unmap.ioas_id = alloc.out_ioas_id;
  unmap.iova = map.iova;
  unmap.length = map.length;
  step("ioctl(IOMMU_IOAS_UNMAP)", sys.ioctl(iommufd, IOMMU_IOAS_UNMAP, &unmap));
  step("close(device)", sys.close(device));
  step("close(iommufd)", sys.close(iommufd));
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
