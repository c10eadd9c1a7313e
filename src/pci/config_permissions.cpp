#include "pci/config_permissions.h"

#include <cassert>

namespace uvfio::pci {

ConfigPermissions::ConfigPermissions(size_t size)
    : owner_(size, kUnassigned), virt_(size), write_(size) {}

void ConfigPermissions::claim(size_t pos, size_t len, uint8_t id) {
  assert(pos + len <= owner_.size());
  for (size_t i = pos; i < pos + len; ++i) {
    owner_[i] = id;
    virt_[i] = 0;
    write_[i] = 0;
  }
}

size_t ConfigPermissions::cap_start(size_t pos) const {
  const uint8_t id = owner_[pos];
  if (id == kBasic) return 0;
  // Capabilities start at or after the header (standard) or 0x100 (extended).
  const size_t base = pos >= 0x100 ? 0x100 : 0x40;
  while (pos > base && owner_[pos - 1] == id) --pos;
  return pos;
}

size_t ConfigPermissions::remaining_in_dword(size_t pos) const {
  const uint8_t id = owner_[pos];
  size_t i = 1;
  while ((pos + i) % 4 != 0 && owner_[pos + i] == id) ++i;
  return i;
}

void ConfigPermissions::set(size_t pos, unsigned count, uint32_t virt, uint32_t write) {
  assert(pos + count <= owner_.size());
  for (unsigned i = 0; i < count; ++i) {
    virt_[pos + i] = static_cast<uint8_t>(virt >> (8 * i));
    write_[pos + i] = static_cast<uint8_t>(write >> (8 * i));
  }
}

uint32_t ConfigPermissions::get(const std::vector<uint8_t>& v, size_t pos, unsigned count) {
  uint32_t r = 0;
  for (unsigned i = 0; i < count; ++i) r |= uint32_t{v[pos + i]} << (8 * i);
  return r;
}

}  // namespace uvfio::pci
