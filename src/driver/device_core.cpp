#include "driver/device_core.h"

#include <linux/vfio.h>

#include <cstring>

#include "driver/checked_call.h"
#include "driver/region_info_query.h"

namespace uvfio::driver::detail {
namespace {

// Bounds on what a device may claim, so a broken or hostile transport cannot make open() loop
// for hours: vfio-pci has 9 regions and 5 IRQ indexes, device-specific regions add a few.
constexpr uint32_t kMaxRegions = 256;
constexpr uint32_t kMaxIrqs = 64;

}  // namespace

DeviceCore::DeviceCore(std::string target, std::unique_ptr<DeviceTransport> transport)
    : target_(std::move(target)),
      transport_(std::move(transport)),
      dma_(transport_->dma()),
      name_(transport_->device_name()),
      backend_(transport_->backend()) {
  vfio_device_info di{};  // value-initialised: 6.12's header adds a pad field
  di.argsz = sizeof di;
  ioctl("VFIO_DEVICE_GET_INFO", VFIO_DEVICE_GET_INFO, &di);
  info_ = {di.flags, di.num_regions, di.num_irqs};
  if (di.num_regions > kMaxRegions || di.num_irqs > kMaxIrqs) {
    fail("VFIO_DEVICE_GET_INFO", EIO,
         "implausible counts: " + std::to_string(di.num_regions) + " regions, " +
             std::to_string(di.num_irqs) + " IRQ indexes");
  }
  for (uint32_t i = 0; i < di.num_regions; ++i) {
    regions_.push_back(query_region_info(*transport_, i, target_));
  }
  for (uint32_t i = 0; i < di.num_irqs; ++i) {
    vfio_irq_info ii{};
    ii.argsz = sizeof ii;
    ii.index = i;
    const long rc = transport_->ioctl(VFIO_DEVICE_GET_IRQ_INFO, &ii);
    if (rc == -EINVAL) {
      // vfio-pci answers EINVAL for an index the function lacks — ERR on a conventional PCI
      // function (vfio_pci_ioctl_get_irq_info) — rather than a count of 0: absent.
      irqs_.push_back({i, 0, 0});
      continue;
    }
    checked(rc, "VFIO_DEVICE_GET_IRQ_INFO", target_, pci_irq_name(i));
    irqs_.push_back({i, ii.flags, ii.count});
  }
}

DeviceCore::~DeviceCore() = default;

long DeviceCore::ioctl(const std::string& op, unsigned long request, void* arg,
                       const std::string& detail) const {
  return checked(transport_->ioctl(request, arg), op, target_, detail);
}

void DeviceCore::set_irqs(uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
                          std::span<const std::byte> data, const std::string& what) const {
  std::vector<uint8_t> buf(sizeof(vfio_irq_set) + data.size());
  vfio_irq_set hdr{};
  hdr.argsz = static_cast<uint32_t>(buf.size());
  hdr.flags = flags;
  hdr.index = index;
  hdr.start = start;
  hdr.count = count;
  std::memcpy(buf.data(), &hdr, sizeof hdr);
  if (!data.empty()) std::memcpy(buf.data() + sizeof hdr, data.data(), data.size());
  std::lock_guard lock(setup_mu);
  ioctl("VFIO_DEVICE_SET_IRQS", VFIO_DEVICE_SET_IRQS, buf.data(), what);
}

void DeviceCore::fail(const std::string& op, int err, const std::string& detail) const {
  throw Error(op, target_, err, detail);
}

}  // namespace uvfio::driver::detail
