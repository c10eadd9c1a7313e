#include "uvfio/driver/pci_config.h"

#include <set>

namespace uvfio::driver {
namespace {

// PCI header offsets and bits (pci_regs.h names), spelled out to keep this header-free.
constexpr uint16_t kStatus = 0x06;
constexpr uint16_t kStatusCapList = 0x10;
constexpr uint16_t kCapabilityList = 0x34;
constexpr uint16_t kCommandMemory = 0x2;
constexpr uint16_t kCommandMaster = 0x4;
constexpr uint16_t kCommandIntxDisable = 0x400;
constexpr uint16_t kStdHeaderEnd = 0x40;
constexpr uint16_t kExtStart = 0x100;
constexpr int kMaxStdCaps = 48;   // (256 - 64) / 4: more entries than that is a loop
constexpr int kMaxExtCaps = 960;  // (4096 - 256) / 4

uint8_t byte_at(std::span<const uint8_t> c, size_t off) {
  return off < c.size() ? c[off] : 0;
}

uint32_t dword_at(std::span<const uint8_t> c, size_t off) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= uint32_t{byte_at(c, off + i)} << (8 * i);
  return v;
}

}  // namespace

std::vector<CapabilityRef> walk_capabilities(std::span<const uint8_t> config) {
  std::vector<CapabilityRef> out;
  const auto status =
      static_cast<uint16_t>(byte_at(config, kStatus) | (byte_at(config, kStatus + 1) << 8));
  if ((status & kStatusCapList) != 0) {
    std::set<uint16_t> seen;
    // The low two bits of a capability pointer are reserved (the kernel masks them too).
    uint16_t ptr = byte_at(config, kCapabilityList) & 0xfc;
    for (int n = 0; n < kMaxStdCaps && ptr >= kStdHeaderEnd && ptr + 1 < 256 &&
                    ptr + 1u < config.size() && seen.insert(ptr).second;
         ++n) {
      out.push_back({byte_at(config, ptr), ptr, false, 0});
      ptr = byte_at(config, ptr + 1) & 0xfc;
    }
  }
  if (config.size() > kExtStart) {
    std::set<uint16_t> seen;
    uint16_t off = kExtStart;
    for (int n = 0; n < kMaxExtCaps && off >= kExtStart && off + 4u <= config.size() &&
                    seen.insert(off).second;
         ++n) {
      const uint32_t hdr = dword_at(config, off);
      // 0 (no extended capabilities) and all-ones (no extended space) end the list.
      if (hdr == 0 || hdr == 0xffffffff) break;
      out.push_back({static_cast<uint16_t>(hdr & 0xffff), off, true,
                     static_cast<uint8_t>((hdr >> 16) & 0xf)});
      off = static_cast<uint16_t>((hdr >> 20) & 0xffc);
    }
  }
  return out;
}

std::vector<uint8_t> PciConfig::read_all() const {
  std::vector<uint8_t> buf(region_.size());
  region_.read_bytes(0, std::as_writable_bytes(std::span(buf)));
  return buf;
}

std::vector<CapabilityRef> PciConfig::capabilities() const {
  return walk_capabilities(read_all());
}

std::optional<uint16_t> PciConfig::find_capability(uint8_t id) const {
  for (const auto& c : capabilities()) {
    if (!c.extended && c.id == id) return c.offset;
  }
  return std::nullopt;
}

std::optional<uint16_t> PciConfig::find_ext_capability(uint16_t id) const {
  for (const auto& c : capabilities()) {
    if (c.extended && c.id == id) return c.offset;
  }
  return std::nullopt;
}

void PciConfig::update_command(uint16_t bits, bool on) const {
  const uint16_t cmd = command();
  set_command(on ? static_cast<uint16_t>(cmd | bits) : static_cast<uint16_t>(cmd & ~bits));
}

void PciConfig::enable_bus_master(bool on) const {
  update_command(kCommandMaster, on);
}
bool PciConfig::bus_master() const {
  return (command() & kCommandMaster) != 0;
}
void PciConfig::enable_memory(bool on) const {
  update_command(kCommandMemory, on);
}
void PciConfig::disable_intx(bool disabled) const {
  update_command(kCommandIntxDisable, disabled);
}

}  // namespace uvfio::driver
