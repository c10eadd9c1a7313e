// Region: one region of an opened device (a BAR, the ROM, config space, ...) — its info, its
// capability chain, access by pread/pwrite, and mmap of its mappable parts (RegionMapping).
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace uvfio::driver {

namespace detail {
class DeviceCore;
}

/// A part of a region that may be mmap()ed ([offset, offset+size) within the region).
struct SparseArea {
  uint64_t offset = 0;
  uint64_t size = 0;
  bool operator==(const SparseArea&) const = default;
};

/// VFIO_REGION_INFO_CAP_TYPE: a device-specific region's type and sub-type.
struct RegionType {
  uint32_t type = 0;
  uint32_t subtype = 0;
};

/// VFIO_DEVICE_GET_REGION_INFO, with the capability chain parsed. Plain value.
struct RegionInfo {
  uint32_t index = 0;
  uint32_t flags = 0;   // VFIO_REGION_INFO_FLAG_*
  uint64_t size = 0;    // 0: the region does not exist (an unimplemented BAR, no VGA)
  uint64_t offset = 0;  // where the region starts in the device file
  /// Every capability id found in the chain, in chain order (VFIO_REGION_INFO_CAP_*).
  std::vector<uint16_t> capability_ids;
  /// VFIO_REGION_INFO_CAP_SPARSE_MMAP: only these areas may be mmap()ed. Absent: if the region
  /// is mmappable, all of it is.
  std::optional<std::vector<SparseArea>> sparse_areas;
  /// VFIO_REGION_INFO_CAP_MSIX_MAPPABLE: the MSI-X table may be mmap()ed too.
  bool msix_mappable = false;
  std::optional<RegionType> type;

  bool readable() const;
  bool writable() const;
  bool mmappable() const;
  /// The areas mmap() accepts: the sparse areas, or the whole region if mappable, or none.
  std::vector<SparseArea> mmap_areas() const;
};

/// "BAR0".."BAR5", "ROM", "CONFIG", "VGA" for the vfio-pci region indexes; "region N" otherwise.
std::string pci_region_name(uint32_t index);

/// An mmap()ed part of a region. Unmapped on destruction (RAII); keeps the device open while it
/// lives. Move-only. Accessors are plain volatile loads/stores: thread-safe as the memory is.
class RegionMapping {
 public:
  RegionMapping() = default;
  RegionMapping(RegionMapping&& o) noexcept;
  RegionMapping& operator=(RegionMapping&& o) noexcept;
  RegionMapping(const RegionMapping&) = delete;
  RegionMapping& operator=(const RegionMapping&) = delete;
  ~RegionMapping();

  bool valid() const { return addr_ != nullptr; }
  void* data() const { return addr_; }
  std::byte* bytes() const { return static_cast<std::byte*>(addr_); }
  size_t size() const { return size_; }
  /// Where the mapping starts within its region.
  uint64_t region_offset() const { return region_offset_; }

  /// Volatile, naturally sized accesses at `offset` within the mapping. Out of range or
  /// misaligned: throws driver::Error (EINVAL).
  uint8_t read8(uint64_t offset) const;
  uint16_t read16(uint64_t offset) const;
  uint32_t read32(uint64_t offset) const;
  uint64_t read64(uint64_t offset) const;
  void write8(uint64_t offset, uint8_t v) const;
  void write16(uint64_t offset, uint16_t v) const;
  void write32(uint64_t offset, uint32_t v) const;
  void write64(uint64_t offset, uint64_t v) const;

  /// Unmaps now (also done by the destructor).
  void reset();

 private:
  friend class Region;
  RegionMapping(std::shared_ptr<detail::DeviceCore> core, void* addr, size_t size,
                uint64_t region_offset);
  void check(uint64_t offset, unsigned size) const;
  /// check(), then the volatile access itself (defined in region_mapping.cpp, its only user).
  template <class T>
  T load(uint64_t offset) const;
  template <class T>
  void store(uint64_t offset, T v) const;

  std::shared_ptr<detail::DeviceCore> core_;
  void* addr_ = nullptr;
  size_t size_ = 0;
  uint64_t region_offset_ = 0;
};

/// A handle on one region of an open device; cheap to copy, keeps the device open. Thread-safe:
/// any number of threads may read/write/map through copies of one handle at once.
///
/// Offsets are relative to the region. Every failure throws driver::Error naming the access,
/// e.g. "read BAR0+0x4 (4 bytes) on emu:edu: EINVAL (Invalid argument)". Multi-byte values are
/// little-endian on the device, as PCI is; the typed accessors return host values.
class Region {
 public:
  const RegionInfo& info() const { return info_; }
  uint32_t index() const { return info_.index; }
  uint64_t size() const { return info_.size; }
  /// pci_region_name(index()).
  std::string name() const;

  /// A single access of `size` bytes (1, 2, 4 or 8; anything else: EINVAL); the value
  /// zero-extended. A short transfer is an error (EIO).
  uint64_t read(uint64_t offset, unsigned size) const;
  void write(uint64_t offset, unsigned size, uint64_t value) const;
  uint8_t read8(uint64_t offset) const { return static_cast<uint8_t>(read(offset, 1)); }
  uint16_t read16(uint64_t offset) const { return static_cast<uint16_t>(read(offset, 2)); }
  uint32_t read32(uint64_t offset) const { return static_cast<uint32_t>(read(offset, 4)); }
  uint64_t read64(uint64_t offset) const { return read(offset, 8); }
  void write8(uint64_t offset, uint8_t v) const { write(offset, 1, v); }
  void write16(uint64_t offset, uint16_t v) const { write(offset, 2, v); }
  void write32(uint64_t offset, uint32_t v) const { write(offset, 4, v); }
  void write64(uint64_t offset, uint64_t v) const { write(offset, 8, v); }

  /// Bulk transfer in one pread/pwrite (the device side splits it as the kernel's vfio-pci
  /// does). The range must lie inside the region (EINVAL otherwise).
  void read_bytes(uint64_t offset, std::span<std::byte> out) const;
  void write_bytes(uint64_t offset, std::span<const std::byte> in) const;

  /// mmap()s [offset, offset+length) of the region, shared, with `prot` (PROT_READ|PROT_WRITE by
  /// default). Refused (EINVAL, with a detail saying why) unless the region is mmappable, the
  /// range is page-aligned and lies inside one mmappable area (RegionInfo::mmap_areas()): the
  /// library checks before asking the device, so an MSI-X table or an MMIO-only BAR is never
  /// mapped by accident. The device's own refusal is reported as an mmap error.
  RegionMapping map(uint64_t offset, uint64_t length, int prot = PROT_READ | PROT_WRITE) const;
  /// Maps every area of mmap_areas(), in order.
  std::vector<RegionMapping> map_all(int prot = PROT_READ | PROT_WRITE) const;

 private:
  friend class Device;
  Region(std::shared_ptr<detail::DeviceCore> core, RegionInfo info)
      : core_(std::move(core)), info_(std::move(info)) {}
  void check_range(const char* what, uint64_t offset, uint64_t len) const;

  std::shared_ptr<detail::DeviceCore> core_;
  RegionInfo info_;
};

}  // namespace uvfio::driver
