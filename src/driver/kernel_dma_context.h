// The kernel backend's DMA spaces: a container (legacy, no-IOMMU) or an iommufd + IOAS, shared by
// every device opened into it, and the process-wide registry that makes the devices of one IOMMU
// group share one (the kernel lets a group be open once, and attached to one space).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "driver/kernel_path.h"
#include "driver/noiommu_dma.h"
#include "driver/system_fd.h"
#include "driver/transport.h"
#include "uvfio/driver/dma_space.h"

namespace uvfio::driver::detail {

/// Reaches the transport behind a public DmaSpace (for OpenOptions::share_dma_with).
struct DmaSpaceAccess {
  static const std::shared_ptr<DmaTransport>& transport(const DmaSpace& s) { return s.dma_; }
};

/// One DMA space on a VfioSystem. `fd` (the container or the iommufd) is owned by `dma`, which
/// lives as long as this does. Immutable after creation except `iommu_set`, which only changes
/// under kernel_open_mutex().
struct KernelDmaContext {
  KernelPath path = KernelPath::kIommufd;
  std::shared_ptr<vfio::VfioSystem> sys;
  int fd = -1;
  uint32_t ioas_id = 0;          // iommufd
  unsigned long iommu_type = 0;  // legacy, no-IOMMU: what SET_IOMMU sets with the first group
  const char* iommu_name = "";   // for messages: "VFIO_TYPE1v2_IOMMU"
  bool iommu_set = false;
  std::shared_ptr<DmaTransport> dma;
  std::string target;  // the target that created it (its transport's errors name it)
};

/// iommufd: open(/dev/iommu), IOMMU_IOAS_ALLOC.
std::shared_ptr<KernelDmaContext> create_iommufd_context(
    const std::shared_ptr<vfio::VfioSystem>& sys, const std::string& target);
/// Legacy or no-IOMMU: open(/dev/vfio/vfio), VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION for
/// TYPE1v2 (falling back to TYPE1) or NOIOMMU. `bus_address` serves no-IOMMU mappings.
std::shared_ptr<KernelDmaContext> create_container_context(
    const std::shared_ptr<vfio::VfioSystem>& sys, KernelPath path, BusAddressFn bus_address,
    const std::string& target);

/// An IOMMU group in a DMA space, open once per process: the group fd (legacy, no-IOMMU; none
/// for iommufd). Members close their group fd before letting go of the space. Not copyable.
struct KernelGroupMember {
  KernelGroupMember() = default;
  /// Closes the group under kernel_open_mutex(), so an open racing with the last close finds
  /// either the live member or a closed group file, never a group still half-open.
  ~KernelGroupMember();
  KernelGroupMember(const KernelGroupMember&) = delete;
  KernelGroupMember& operator=(const KernelGroupMember&) = delete;

  std::shared_ptr<KernelDmaContext> ctx;
  int id = -1;
  SystemFd group;  // declared after ctx: destroyed first, so the group leaves the space first
};

/// Puts group `id` (file `group_file`) into `ctx`: legacy/no-IOMMU open the group,
/// VFIO_GROUP_GET_STATUS (viable), VFIO_GROUP_SET_CONTAINER, and with the first group
/// VFIO_SET_IOMMU. iommufd needs no group step. Call under kernel_open_mutex().
std::shared_ptr<KernelGroupMember> join_group(const std::shared_ptr<KernelDmaContext>& ctx, int id,
                                              const std::string& group_file,
                                              const std::string& target);

/// The device fd of `bdf` in `member`'s space: VFIO_GROUP_GET_DEVICE_FD, or for iommufd
/// open(cdev), VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_ATTACH_IOMMUFD_PT.
SystemFd open_device_in(const KernelGroupMember& member, const std::string& bdf,
                        const std::string& cdev_file, const std::string& target);

/// Serialises kernel opens and group closes (and with them the registry below and
/// KernelDmaContext::iommu_set). Recursive: a failed open drops its half-made member under it.
std::recursive_mutex& kernel_open_mutex();
/// The live member for group `id` of `sys`, or null. Under kernel_open_mutex().
std::shared_ptr<KernelGroupMember> find_group_member(const vfio::VfioSystem* sys, int id);
/// Records `member` (weakly: it goes when its last device does). Under kernel_open_mutex().
void register_group_member(const std::shared_ptr<KernelGroupMember>& member);

/// One device's view of a shared DMA space: delegates to the space, and keeps the device's group
/// in it while the device or any mapping made through it lives. Thread-safe as the space is.
class KernelDeviceDma : public DmaTransport {
 public:
  explicit KernelDeviceDma(std::shared_ptr<KernelGroupMember> member)
      : member_(std::move(member)) {}

  DmaKind kind() const override { return inner().kind(); }
  bool translates() const override { return inner().translates(); }
  std::vector<iommu::IovaRange> iova_ranges() const override { return inner().iova_ranges(); }
  uint64_t page_sizes() const override { return inner().page_sizes(); }
  uint64_t map(const DmaRequest& req, std::optional<uint64_t> iova, uint64_t limit,
               uint64_t align) override {
    return inner().map(req, iova, limit, align);
  }
  void unmap(uint64_t iova, uint64_t length) override { inner().unmap(iova, length); }
  const std::string& target() const override { return inner().target(); }

  const std::shared_ptr<KernelGroupMember>& member() const { return member_; }

 private:
  DmaTransport& inner() const { return *member_->ctx->dma; }
  std::shared_ptr<KernelGroupMember> member_;
};

}  // namespace uvfio::driver::detail
