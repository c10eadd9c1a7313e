#include "driver/kernel_target.h"

#include <cerrno>

#include "driver/device_core.h"
#include "driver/kernel_bus_address.h"
#include "driver/kernel_dma_context.h"
#include "driver/kernel_path.h"
#include "driver/vfio_file_transport.h"
#include "uvfio/host/inventory.h"
#include "uvfio/host/pci_address.h"
#include "vfio/kernel_system.h"

namespace uvfio::driver::detail {

KernelHost KernelHost::running() {
  // One KernelSystem for the process; never destroyed, as devices may be closed during exit.
  static auto* sys = new std::shared_ptr<vfio::VfioSystem>(std::make_shared<vfio::KernelSystem>());
  return {*sys, host::Sysfs("/"), "/proc/self/pagemap"};
}

Device open_kernel_target(const Target& target, const OpenOptions& options) {
  return open_kernel_target(target, options, KernelHost::running());
}

Device open_kernel_target(const Target& target, const OpenOptions& options,
                          const KernelHost& host) {
  const std::string& text = target.text;
  const std::optional<KernelPath> want = parse_kernel_options(target.options, text);
  const auto bdf = host::normalize_bdf(target.name);
  if (!bdf) {
    throw Error("open", text, EINVAL,
                "'" + target.name +
                    "' is not a PCI function address (pci:DDDD:BB:DD.F or pci:BB:DD.F, e.g. "
                    "pci:0000:00:03.0)");
  }
  std::shared_ptr<KernelDmaContext> shared;
  if (options.share_dma_with) {
    const auto* kd = dynamic_cast<const KernelDeviceDma*>(
        DmaSpaceAccess::transport(*options.share_dma_with).get());
    if (kd == nullptr || kd->member()->ctx->sys != host.sys) {
      throw Error("open", text, EINVAL,
                  "share_dma_with is the DMA space of a device that is not a pci: device on this "
                  "host; only pci: devices share DMA spaces with each other");
    }
    shared = kd->member()->ctx;
  }

  const std::lock_guard lock(kernel_open_mutex());
  std::shared_ptr<KernelGroupMember> member;
  if (const auto f = host::read_function(host.fs, *bdf); f && f->iommu_group >= 0) {
    member = find_group_member(host.sys.get(), f->iommu_group);
  }
  std::optional<KernelPath> path = want;
  if (member) {
    const KernelDmaContext& in = *member->ctx;
    const std::string group = "IOMMU group " + std::to_string(member->id);
    if (shared && shared != member->ctx) {
      throw Error("open", text, EBUSY,
                  group + " is already in another DMA space of this process (that of " + in.target +
                      "): a group is in one DMA space at a time");
    }
    if (want && *want != in.path) {
      throw Error("open", text, EBUSY,
                  group + " is already open in this process on the " + kernel_path_name(in.path) +
                      " path (by " + in.target + "): open with iommu=" + kernel_path_name(in.path) +
                      " or close those devices first");
    }
    path = in.path;  // the devices of one group share its space
  } else if (shared) {
    if (want && *want != shared->path) {
      throw Error("open", text, EINVAL,
                  std::string("iommu=") + kernel_path_name(*want) +
                      " does not match the shared DMA space, which is on the " +
                      kernel_path_name(shared->path) + " path");
    }
    path = shared->path;
  }
  const KernelPlan plan = plan_kernel_open(host.fs, *bdf, path, text);
  if (!member) {
    std::shared_ptr<KernelDmaContext> ctx = shared;
    if (!ctx) {
      ctx = plan.path == KernelPath::kIommufd
                ? create_iommufd_context(host.sys, text)
                : create_container_context(host.sys, plan.path,
                                           pagemap_bus_address(host.pagemap, text), text);
    }
    member = join_group(ctx, plan.group, plan.group_file, text);
  }
  SystemFd device = open_device_in(*member, plan.bdf, plan.cdev_file, text);
  register_group_member(member);
  auto transport = std::make_unique<VfioFileTransport>(
      std::move(device), std::make_shared<KernelDeviceDma>(member), "kernel", plan.bdf);
  return DeviceAccess::make(std::make_shared<DeviceCore>(text, std::move(transport)));
}

}  // namespace uvfio::driver::detail
