#include <cstring>

#include <fmt/format.h>

#include "driver/device_core.h"
#include "uvfio/base/log.h"
#include "uvfio/driver/region.h"

namespace uvfio::driver {

RegionMapping::RegionMapping(std::shared_ptr<detail::DeviceCore> core, void* addr, size_t size,
                             uint64_t region_offset)
    : core_(std::move(core)), addr_(addr), size_(size), region_offset_(region_offset) {}

RegionMapping::RegionMapping(RegionMapping&& o) noexcept
    : core_(std::move(o.core_)),
      addr_(std::exchange(o.addr_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      region_offset_(o.region_offset_) {}

RegionMapping& RegionMapping::operator=(RegionMapping&& o) noexcept {
  if (this != &o) {
    reset();
    core_ = std::move(o.core_);
    addr_ = std::exchange(o.addr_, nullptr);
    size_ = std::exchange(o.size_, 0);
    region_offset_ = o.region_offset_;
  }
  return *this;
}

RegionMapping::~RegionMapping() {
  reset();
}

void RegionMapping::reset() {
  if (addr_ != nullptr && core_) {
    if (int rc = core_->transport().munmap(addr_, size_); rc < 0) {
      log_write(LogLevel::kWarn, "driver",
                fmt::format("munmap of a region mapping on {} failed: {}", core_->target(), rc));
    }
  }
  addr_ = nullptr;
  size_ = 0;
  core_.reset();
}

void RegionMapping::check(uint64_t offset, unsigned size) const {
  if (addr_ == nullptr || offset > size_ || size > size_ - offset || offset % size != 0) {
    throw Error(fmt::format("mapped access +{:#x} ({} bytes)", offset, size),
                core_ ? core_->target() : std::string(), EINVAL,
                fmt::format("outside the {:#x}-byte mapping or misaligned", size_));
  }
}

template <class T>
T RegionMapping::load(uint64_t offset) const {
  check(offset, sizeof(T));
  return *reinterpret_cast<volatile T*>(bytes() + offset);
}
template <class T>
void RegionMapping::store(uint64_t offset, T v) const {
  check(offset, sizeof(T));
  *reinterpret_cast<volatile T*>(bytes() + offset) = v;
}

uint8_t RegionMapping::read8(uint64_t offset) const {
  return load<uint8_t>(offset);
}
uint16_t RegionMapping::read16(uint64_t offset) const {
  return load<uint16_t>(offset);
}
uint32_t RegionMapping::read32(uint64_t offset) const {
  return load<uint32_t>(offset);
}
uint64_t RegionMapping::read64(uint64_t offset) const {
  return load<uint64_t>(offset);
}
void RegionMapping::write8(uint64_t offset, uint8_t v) const {
  store(offset, v);
}
void RegionMapping::write16(uint64_t offset, uint16_t v) const {
  store(offset, v);
}
void RegionMapping::write32(uint64_t offset, uint32_t v) const {
  store(offset, v);
}
void RegionMapping::write64(uint64_t offset, uint64_t v) const {
  store(offset, v);
}

}  // namespace uvfio::driver
