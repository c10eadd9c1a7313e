#include "uvfio/driver/region.h"

#include <linux/vfio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>

#include "driver/device_core.h"
#include "uvfio/vfio/vfio_system.h"

namespace uvfio::driver {
namespace {

uint64_t page_size() {
  return static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::string describe_areas(const std::vector<SparseArea>& areas) {
  if (areas.empty()) return "none";
  std::string s;
  for (const auto& a : areas) {
    if (!s.empty()) s += ", ";
    s += fmt::format("[{:#x}, {:#x})", a.offset, a.offset + a.size);
  }
  return s;
}

}  // namespace

bool RegionInfo::readable() const {
  return (flags & VFIO_REGION_INFO_FLAG_READ) != 0;
}
bool RegionInfo::writable() const {
  return (flags & VFIO_REGION_INFO_FLAG_WRITE) != 0;
}
bool RegionInfo::mmappable() const {
  return (flags & VFIO_REGION_INFO_FLAG_MMAP) != 0;
}

std::vector<SparseArea> RegionInfo::mmap_areas() const {
  if (!mmappable() || size == 0) return {};
  if (sparse_areas) return *sparse_areas;
  return {{0, size}};
}

std::string pci_region_name(uint32_t index) {
  if (index <= VFIO_PCI_BAR5_REGION_INDEX) return fmt::format("BAR{}", index);
  switch (index) {
    case VFIO_PCI_ROM_REGION_INDEX:
      return "ROM";
    case VFIO_PCI_CONFIG_REGION_INDEX:
      return "CONFIG";
    case VFIO_PCI_VGA_REGION_INDEX:
      return "VGA";
    default:
      return fmt::format("region {}", index);
  }
}

std::string Region::name() const {
  return pci_region_name(info_.index);
}

void Region::check_range(const char* what, uint64_t offset, uint64_t len) const {
  if (offset > info_.size || len > info_.size - offset) {
    core_->fail(fmt::format("{} {}+{:#x} ({} bytes)", what, name(), offset, len), EINVAL,
                fmt::format("outside the region ({:#x} bytes)", info_.size));
  }
}

uint64_t Region::read(uint64_t offset, unsigned size) const {
  const std::string op = fmt::format("read {}+{:#x} ({} bytes)", name(), offset, size);
  if (size != 1 && size != 2 && size != 4 && size != 8) {
    core_->fail(op, EINVAL, "size must be 1, 2, 4 or 8");
  }
  check_range("read", offset, size);
  if (!info_.readable()) core_->fail(op, EINVAL, name() + " is not readable");
  uint8_t b[8] = {};
  const ssize_t n = core_->transport().pread(b, size, info_.offset + offset);
  if (n < 0) core_->fail(op, static_cast<int>(-n));
  if (static_cast<size_t>(n) != size) {
    core_->fail(op, EIO, fmt::format("short read: {} of {} bytes", n, size));
  }
  uint64_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= uint64_t{b[i]} << (8 * i);  // PCI is little-endian
  return v;
}

void Region::write(uint64_t offset, unsigned size, uint64_t value) const {
  const std::string op = fmt::format("write {}+{:#x} ({} bytes)", name(), offset, size);
  if (size != 1 && size != 2 && size != 4 && size != 8) {
    core_->fail(op, EINVAL, "size must be 1, 2, 4 or 8");
  }
  check_range("write", offset, size);
  if (!info_.writable()) core_->fail(op, EINVAL, name() + " is not writable");
  uint8_t b[8];
  for (unsigned i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(value >> (8 * i));
  const ssize_t n = core_->transport().pwrite(b, size, info_.offset + offset);
  if (n < 0) core_->fail(op, static_cast<int>(-n));
  if (static_cast<size_t>(n) != size) {
    core_->fail(op, EIO, fmt::format("short write: {} of {} bytes", n, size));
  }
}

void Region::read_bytes(uint64_t offset, std::span<std::byte> out) const {
  check_range("read", offset, out.size());
  const std::string op = fmt::format("read {}+{:#x} ({} bytes)", name(), offset, out.size());
  if (!info_.readable()) core_->fail(op, EINVAL, name() + " is not readable");
  if (out.empty()) return;
  const ssize_t n = core_->transport().pread(out.data(), out.size(), info_.offset + offset);
  if (n < 0) core_->fail(op, static_cast<int>(-n));
  if (static_cast<size_t>(n) != out.size()) {
    core_->fail(op, EIO, fmt::format("short read: {} of {} bytes", n, out.size()));
  }
}

void Region::write_bytes(uint64_t offset, std::span<const std::byte> in) const {
  check_range("write", offset, in.size());
  const std::string op = fmt::format("write {}+{:#x} ({} bytes)", name(), offset, in.size());
  if (!info_.writable()) core_->fail(op, EINVAL, name() + " is not writable");
  if (in.empty()) return;
  const ssize_t n = core_->transport().pwrite(in.data(), in.size(), info_.offset + offset);
  if (n < 0) core_->fail(op, static_cast<int>(-n));
  if (static_cast<size_t>(n) != in.size()) {
    core_->fail(op, EIO, fmt::format("short write: {} of {} bytes", n, in.size()));
  }
}

RegionMapping Region::map(uint64_t offset, uint64_t length, int prot) const {
  const std::string op = fmt::format("mmap {}+{:#x} ({:#x} bytes)", name(), offset, length);
  if (!info_.mmappable()) {
    core_->fail(op, EINVAL,
                name() + " is not mmappable (no VFIO_REGION_INFO_FLAG_MMAP): use read/write");
  }
  const uint64_t page = page_size();
  if (length == 0 || offset % page != 0 || length % page != 0) {
    core_->fail(op, EINVAL, fmt::format("offset and length must be page-aligned ({:#x})", page));
  }
  check_range("mmap", offset, length);
  bool inside = false;
  const auto areas = info_.mmap_areas();
  for (const auto& a : areas) {
    if (offset >= a.offset && offset - a.offset <= a.size &&
        length <= a.size - (offset - a.offset)) {
      inside = true;
      break;
    }
  }
  if (!inside) {
    core_->fail(
        op, EINVAL,
        "not inside one mmappable area of " + name() + " (areas: " + describe_areas(areas) + ")");
  }
  void* p = core_->transport().mmap(length, prot, MAP_SHARED, info_.offset + offset);
  if (vfio::VfioSystem::mmap_failed(p)) {
    core_->fail(op, static_cast<int>(-reinterpret_cast<intptr_t>(p)));
  }
  return {core_, p, length, offset};
}

std::vector<RegionMapping> Region::map_all(int prot) const {
  std::vector<RegionMapping> out;
  for (const auto& a : info_.mmap_areas()) out.push_back(map(a.offset, a.size, prot));
  return out;
}

}  // namespace uvfio::driver
