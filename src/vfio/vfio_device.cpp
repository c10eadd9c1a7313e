#include "vfio/vfio_device.h"

#include "uvfio/base/fault_injection.h"
#include "vfio/group.h"

namespace uvfio::vfio {

DriverState VfioDevice::driver() const {
  std::lock_guard lk(mu_);
  return driver_;
}

void VfioDevice::set_driver(DriverState d, std::shared_ptr<VfioDeviceOps> ops) {
  std::lock_guard lk(mu_);
  driver_ = d;
  if (ops) ops_ = std::move(ops);
}

VfioDeviceOps* VfioDevice::ops() const {
  std::lock_guard lk(mu_);
  return ops_.get();
}

std::shared_ptr<VfioDeviceOps> VfioDevice::ops_ref() const {
  std::lock_guard lk(mu_);
  return ops_;
}

int VfioDevice::open(bool translated) {
  std::unique_lock lk(mu_);
  if (ops_ == nullptr || driver_ != DriverState::kVfio) return -ENODEV;
  if (open_count_ > 0) {
    ++open_count_;
    return 0;
  }
  if (fault::should_fail("vfio_device: open")) return -ENOMEM;
  std::shared_ptr<iommu::Access> access;
  if (translated) {
    // The device's DMA engine; unmaps of pinned pages are forwarded to the device model.
    std::weak_ptr<VfioDeviceOps> weak = ops_;
    access = iommu::Access::create([weak](uint64_t iova, uint64_t length) {
      if (auto ops = weak.lock()) ops->dma_unmap(iova, length);
    });
  }
  DmaContext ctx{access, translated};
  ops_->set_parent_bus_reset(parent_bus_reset_);
  int r = ops_->open_device(ctx);
  if (r < 0) return r;
  access_ = std::move(access);
  open_count_ = 1;
  return 0;
}

void VfioDevice::close() {
  std::shared_ptr<iommu::Access> access;
  {
    std::lock_guard lk(mu_);
    if (open_count_ == 0) return;
    if (--open_count_ > 0) return;
    ops_->close_device();
    access = std::move(access_);
  }
  // Leaving the IOAS may wait for a grace period: outside the device lock.
  if (access) (void)access->detach();
}

int VfioDevice::open_count() const {
  std::lock_guard lk(mu_);
  return open_count_;
}

void VfioDevice::set_parent_bus_reset(bool available) {
  std::lock_guard lk(mu_);
  parent_bus_reset_ = available;
}

std::shared_ptr<iommu::Access> VfioDevice::access() const {
  std::lock_guard lk(mu_);
  return access_;
}

}  // namespace uvfio::vfio
