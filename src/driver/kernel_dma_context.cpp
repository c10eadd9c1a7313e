#include "driver/kernel_dma_context.h"

#include <fcntl.h>
#include <linux/vfio.h>

#include <map>
#include <mutex>

#include "driver/checked_call.h"
#include "driver/iommufd_dma.h"
#include "driver/type1_dma.h"
#include "uvfio/uapi/iommufd.h"
#include "uvfio/uapi/vfio_cdev.h"

namespace uvfio::driver::detail {

using namespace uvfio::uapi;  // NOLINT(google-build-using-namespace): 6.1 vs 6.12 headers
namespace {

/// open() of a VFIO file, with what to do when the kernel refuses.
SystemFd open_file(const std::shared_ptr<vfio::VfioSystem>& sys, const std::string& path,
                   const std::string& target) {
  const int fd = sys->open(path, O_RDWR | O_CLOEXEC);
  if (fd >= 0) return {sys, fd};
  std::string hint;
  switch (-fd) {
    case EACCES:
    case EPERM:
      hint = path.find("noiommu") != std::string::npos
                 ? "no-IOMMU groups need CAP_SYS_RAWIO: run as root"
                 : "no permission: run as root or give this user the file (chown/udev rule)";
      break;
    case EBUSY:
      hint =
          "already in use: a group opens once (another process, or this one through another "
          "path), and a device cdev is refused while its group is in a legacy container";
      break;
    case ENOENT:
    case ENODEV:
      hint = "the device is no longer bound to vfio-pci?";
      break;
    default:
      break;
  }
  throw Error("open(" + path + ")", target, fd >= -4095 ? -fd : EIO, hint);
}

std::map<std::pair<const vfio::VfioSystem*, int>, std::weak_ptr<KernelGroupMember>>& registry() {
  static auto* r =
      new std::map<std::pair<const vfio::VfioSystem*, int>, std::weak_ptr<KernelGroupMember>>();
  return *r;
}

}  // namespace

std::recursive_mutex& kernel_open_mutex() {
  static auto* mu = new std::recursive_mutex();  // never destroyed: devices may close at exit
  return *mu;
}

KernelGroupMember::~KernelGroupMember() {
  const std::lock_guard lock(kernel_open_mutex());
  group.reset();
}

std::shared_ptr<KernelGroupMember> find_group_member(const vfio::VfioSystem* sys, int id) {
  auto& r = registry();
  const auto it = r.find({sys, id});
  if (it == r.end()) return nullptr;
  auto m = it->second.lock();
  if (!m) r.erase(it);
  return m;
}

void register_group_member(const std::shared_ptr<KernelGroupMember>& member) {
  auto& r = registry();
  // Drop the expired entries of closed groups so the map does not grow.
  for (auto it = r.begin(); it != r.end();) it = it->second.expired() ? r.erase(it) : ++it;
  r[{member->ctx->sys.get(), member->id}] = member;
}

std::shared_ptr<KernelDmaContext> create_iommufd_context(
    const std::shared_ptr<vfio::VfioSystem>& sys, const std::string& target) {
  auto ctx = std::make_shared<KernelDmaContext>();
  ctx->path = KernelPath::kIommufd;
  ctx->sys = sys;
  ctx->target = target;
  SystemFd iommufd = open_file(sys, "/dev/iommu", target);
  iommu_ioas_alloc alloc{};
  alloc.size = sizeof alloc;
  checked(sys->ioctl(iommufd.get(), IOMMU_IOAS_ALLOC, &alloc), "IOMMU_IOAS_ALLOC", target);
  ctx->fd = iommufd.get();
  ctx->ioas_id = alloc.out_ioas_id;
  ctx->dma = std::make_shared<IommufdDmaTransport>(std::move(iommufd), alloc.out_ioas_id, target);
  return ctx;
}

std::shared_ptr<KernelDmaContext> create_container_context(
    const std::shared_ptr<vfio::VfioSystem>& sys, KernelPath path, BusAddressFn bus_address,
    const std::string& target) {
  auto ctx = std::make_shared<KernelDmaContext>();
  ctx->path = path;
  ctx->sys = sys;
  ctx->target = target;
  SystemFd container = open_file(sys, "/dev/vfio/vfio", target);
  const long version = checked(sys->ioctl(container.get(), VFIO_GET_API_VERSION, 0UL),
                               "VFIO_GET_API_VERSION", target);
  if (version != VFIO_API_VERSION) {
    throw Error("VFIO_GET_API_VERSION", target, EINVAL,
                "API version " + std::to_string(version) + ", expected " +
                    std::to_string(VFIO_API_VERSION));
  }
  auto offers = [&](unsigned long type) {
    return checked(sys->ioctl(container.get(), VFIO_CHECK_EXTENSION, type), "VFIO_CHECK_EXTENSION",
                   target) > 0;
  };
  if (path == KernelPath::kNoIommu) {
    if (!offers(VFIO_NOIOMMU_IOMMU)) {
      throw Error("VFIO_CHECK_EXTENSION", target, EOPNOTSUPP,
                  "the container does not offer VFIO_NOIOMMU_IOMMU: no-IOMMU mode is off (echo 1 "
                  "> /sys/module/vfio/parameters/enable_unsafe_noiommu_mode)");
    }
    ctx->iommu_type = VFIO_NOIOMMU_IOMMU;
    ctx->iommu_name = "VFIO_NOIOMMU_IOMMU";
  } else if (offers(VFIO_TYPE1v2_IOMMU)) {
    ctx->iommu_type = VFIO_TYPE1v2_IOMMU;
    ctx->iommu_name = "VFIO_TYPE1v2_IOMMU";
  } else if (offers(VFIO_TYPE1_IOMMU)) {
    // v1 (kernels before 3.16, or IOMMUs without fine-grained unmap): the same MAP/UNMAP calls;
    // only unmapping part of a mapping behaves differently, which the library never does.
    ctx->iommu_type = VFIO_TYPE1_IOMMU;
    ctx->iommu_name = "VFIO_TYPE1_IOMMU";
  } else {
    throw Error("VFIO_CHECK_EXTENSION", target, EOPNOTSUPP,
                "the container offers no type1 IOMMU (modprobe vfio_iommu_type1, or "
                "CONFIG_VFIO_IOMMU_TYPE1)");
  }
  ctx->fd = container.get();
  if (path == KernelPath::kNoIommu) {
    ctx->dma = std::make_shared<NoIommuDmaTransport>(std::move(container), SystemFd{},
                                                     std::move(bus_address), target);
  } else {
    ctx->dma = std::make_shared<Type1DmaTransport>(std::move(container), SystemFd{}, target);
  }
  return ctx;
}

std::shared_ptr<KernelGroupMember> join_group(const std::shared_ptr<KernelDmaContext>& ctx, int id,
                                              const std::string& group_file,
                                              const std::string& target) {
  auto m = std::make_shared<KernelGroupMember>();
  m->ctx = ctx;
  m->id = id;
  if (ctx->path == KernelPath::kIommufd) return m;
  const auto& sys = ctx->sys;
  m->group = open_file(sys, group_file, target);
  vfio_group_status status{};
  status.argsz = sizeof status;
  checked(sys->ioctl(m->group.get(), VFIO_GROUP_GET_STATUS, &status), "VFIO_GROUP_GET_STATUS",
          target, group_file);
  if ((status.flags & VFIO_GROUP_FLAGS_VIABLE) == 0) {
    throw Error("VFIO_GROUP_GET_STATUS", target, EBUSY,
                group_file +
                    " is not viable: every device of the group must be bound to vfio-pci "
                    "or have no driver (uvfio ls shows which is not)");
  }
  int cfd = ctx->fd;
  checked(sys->ioctl(m->group.get(), VFIO_GROUP_SET_CONTAINER, &cfd), "VFIO_GROUP_SET_CONTAINER",
          target, group_file);
  if (!ctx->iommu_set) {
    // The IOMMU type is set once, with the first group; later groups join its domain.
    checked(sys->ioctl(ctx->fd, VFIO_SET_IOMMU, ctx->iommu_type), "VFIO_SET_IOMMU", target,
            ctx->iommu_name);
    ctx->iommu_set = true;
  }
  return m;
}

SystemFd open_device_in(const KernelGroupMember& member, const std::string& bdf,
                        const std::string& cdev_file, const std::string& target) {
  const auto& ctx = *member.ctx;
  if (ctx.path != KernelPath::kIommufd) {
    std::string name = bdf;  // the ioctl takes a mutable char*
    const int fd = static_cast<int>(
        checked(ctx.sys->ioctl(member.group.get(), VFIO_GROUP_GET_DEVICE_FD, name.data()),
                "VFIO_GROUP_GET_DEVICE_FD", target, bdf));
    return {ctx.sys, fd};
  }
  SystemFd device = open_file(ctx.sys, cdev_file, target);
  vfio_device_bind_iommufd bind{};
  bind.argsz = sizeof bind;
  bind.iommufd = ctx.fd;
  checked(ctx.sys->ioctl(device.get(), VFIO_DEVICE_BIND_IOMMUFD, &bind), "VFIO_DEVICE_BIND_IOMMUFD",
          target, cdev_file);
  vfio_device_attach_iommufd_pt attach{};
  attach.argsz = sizeof attach;
  attach.pt_id = ctx.ioas_id;
  checked(ctx.sys->ioctl(device.get(), VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach),
          "VFIO_DEVICE_ATTACH_IOMMUFD_PT", target, "IOAS " + std::to_string(ctx.ioas_id));
  return device;
}

}  // namespace uvfio::driver::detail
