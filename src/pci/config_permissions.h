// ConfigPermissions: vfio-pci's per-bit table over config space (vfio_pci_config.c): for every
// byte, which capability owns it (the kernel's pci_config_map) and, per bit, whether it is
// virtualized (lives in vconfig) and whether the driver may write it. The kernel shares one table
// per capability type; uvfio keeps one per function at absolute offsets, which reads the same.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace uvfio::pci {

/// Not thread-safe: built once by ConfigSpace::create, then only read (under ConfigSpace's lock).
class ConfigPermissions {
 public:
  /// Owner of the standard header (the kernel's PCI_CAP_ID_BASIC).
  static constexpr uint8_t kBasic = 0;
  /// Bytes no capability claims: raw read/write to the function, as the kernel does
  /// (unassigned_perms: some devices hide registers in the gaps).
  static constexpr uint8_t kUnassigned = 0xff;

  explicit ConfigPermissions(size_t size);

  size_t size() const { return owner_.size(); }
  /// Marks [pos, pos+len) as belonging to capability `id` (or kBasic); all bits read-only and not
  /// virtualized until set_*() says otherwise.
  void claim(size_t pos, size_t len, uint8_t id);
  uint8_t owner(size_t pos) const { return owner_[pos]; }
  /// Start of the capability (or header) that owns `pos`, as vfio_find_cap_start.
  size_t cap_start(size_t pos) const;
  /// Bytes from `pos` to the end of its dword that share its owner (vfio_pci_cap_remaining_dword).
  size_t remaining_in_dword(size_t pos) const;

  // p_setb / p_setw / p_setd at an absolute offset.
  void set8(size_t pos, uint8_t virt, uint8_t write) { set(pos, 1, virt, write); }
  void set16(size_t pos, uint16_t virt, uint16_t write) { set(pos, 2, virt, write); }
  void set32(size_t pos, uint32_t virt, uint32_t write) { set(pos, 4, virt, write); }

  uint32_t virt(size_t pos, unsigned count) const { return get(virt_, pos, count); }
  uint32_t write(size_t pos, unsigned count) const { return get(write_, pos, count); }

 private:
  void set(size_t pos, unsigned count, uint32_t virt, uint32_t write);
  static uint32_t get(const std::vector<uint8_t>& v, size_t pos, unsigned count);

  std::vector<uint8_t> owner_;
  std::vector<uint8_t> virt_;
  std::vector<uint8_t> write_;
};

}  // namespace uvfio::pci
