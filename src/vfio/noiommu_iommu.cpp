// The no-IOMMU backend (vfio_noiommu_ops): serves only no-IOMMU containers, translates nothing,
// maps nothing (every mapping ioctl is ENOTTY), and needs CAP_SYS_RAWIO.
#include <linux/vfio.h>

#include "vfio/group.h"
#include "vfio/host.h"
#include "vfio/iommu_backend.h"

namespace uvfio::vfio {
namespace {

long noiommu_check_extension(const Host& host, unsigned long arg) {
  return host.noiommu_enabled() && arg == VFIO_NOIOMMU_IOMMU ? 1 : 0;
}

class NoIommuBackend : public IommuBackend {
 public:
  explicit NoIommuBackend(const Host& host) : host_(host) {}
  int attach_group(Group& group) override { return group.noiommu() ? 0 : -EINVAL; }
  void detach_group(Group& /*group*/) override {}
  long ioctl(unsigned long request, unsigned long arg) override {
    if (request == VFIO_CHECK_EXTENSION) return noiommu_check_extension(host_, arg);
    return -ENOTTY;
  }

 private:
  const Host& host_;
};

}  // namespace

IommuBackendDriver noiommu_backend_driver() {
  IommuBackendDriver d;
  d.name = "vfio-noiommu";
  d.noiommu = true;
  d.check_extension = noiommu_check_extension;
  d.open = [](Host& host, unsigned long type,
              const Credentials& creds) -> Result<std::unique_ptr<IommuBackend>> {
    if (type != VFIO_NOIOMMU_IOMMU) return Errno{EINVAL};
    if (!creds.cap_sys_rawio) return Errno{EPERM};
    return std::unique_ptr<IommuBackend>(new NoIommuBackend(host));
  };
  return d;
}

}  // namespace uvfio::vfio
