// PciConfig: PCI configuration space of an opened device (its CONFIG region), with the standard
// and extended capability walks and the Command-register helpers drivers need.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "uvfio/driver/region.h"

namespace uvfio::driver {

/// One capability found by the walk.
struct CapabilityRef {
  uint16_t id = 0;        // PCI_CAP_ID_* (standard) or PCI_EXT_CAP_ID_* (extended)
  uint16_t offset = 0;    // in config space
  bool extended = false;  // in the extended (>= 0x100) list
  uint8_t version = 0;    // extended capabilities' version field; 0 for standard ones
  bool operator==(const CapabilityRef&) const = default;
};

/// The capability walk of PciConfig::capabilities() over raw config-space bytes (256 or 4096 of
/// them; a shorter buffer is walked as far as it goes). For tools that hold a config dump.
std::vector<CapabilityRef> walk_capabilities(std::span<const uint8_t> config);

/// A handle on config space; cheap to copy, keeps the device open. Thread-safe as Region (but
/// read-modify-write helpers such as set_command() are not atomic against other writers).
/// Errors throw driver::Error naming e.g. "read CONFIG+0x4 (2 bytes)".
class PciConfig {
 public:
  uint8_t read8(uint16_t offset) const { return region_.read8(offset); }
  uint16_t read16(uint16_t offset) const { return region_.read16(offset); }
  uint32_t read32(uint16_t offset) const { return region_.read32(offset); }
  void write8(uint16_t offset, uint8_t v) const { region_.write8(offset, v); }
  void write16(uint16_t offset, uint16_t v) const { region_.write16(offset, v); }
  void write32(uint16_t offset, uint32_t v) const { region_.write32(offset, v); }
  /// The whole space (256 bytes, or 4096 for PCIe functions), as the driver sees it.
  std::vector<uint8_t> read_all() const;
  /// 256 or 4096.
  uint64_t size() const { return region_.size(); }
  const Region& region() const { return region_; }

  uint16_t vendor_id() const { return read16(0x00); }
  uint16_t device_id() const { return read16(0x02); }
  uint8_t revision() const { return read8(0x08); }
  /// 24 bits: base class << 16 | sub-class << 8 | prog-if.
  uint32_t class_code() const { return read32(0x08) >> 8; }

  /// Every capability: the standard list (from 0x34, if Status.Capabilities List is set), then
  /// the extended list (from 0x100, PCIe functions only). The walk stops at a loop, a pointer
  /// below the header or beyond the space, or after 48 (standard) / 960 (extended) entries, so
  /// a corrupt list never hangs it.
  std::vector<CapabilityRef> capabilities() const;
  /// The offset of the first standard capability with `id`, if any.
  std::optional<uint16_t> find_capability(uint8_t id) const;
  /// The offset of the first extended capability with `id`, if any.
  std::optional<uint16_t> find_ext_capability(uint16_t id) const;

  uint16_t command() const { return read16(0x04); }
  void set_command(uint16_t v) const { write16(0x04, v); }
  uint16_t status() const { return read16(0x06); }
  /// Sets (or clears) Command bits `bits`, leaving the others (read-modify-write).
  void update_command(uint16_t bits, bool on) const;
  /// Command.Bus Master Enable: lets the device DMA.
  void enable_bus_master(bool on = true) const;
  bool bus_master() const;
  /// Command.Memory Space Enable.
  void enable_memory(bool on = true) const;
  /// Command.Interrupt Disable: keeps INTx from being delivered.
  void disable_intx(bool disabled = true) const;

 private:
  friend class Device;
  explicit PciConfig(Region region) : region_(std::move(region)) {}
  Region region_;
};

}  // namespace uvfio::driver
