// Config-space decoding for `uvfio info`: raw PCI configuration bytes (as a driver reads them
// through the CONFIG region) -> a structured decode -> `lspci -vv`-style text or JSON. Pure
// functions over a byte span: no device access, so the same decoder serves kernel, emulated and
// vfio-user targets, and malformed input (short spaces, looping or wild capability pointers)
// can be tested directly. Nothing here throws on bad input; problems are reported in the decode.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

namespace uvfio::tools {

/// What a BAR slot decodes to. lspci reads sizes from sysfs; a driver holding a VFIO device reads
/// them from REGION_INFO instead (BAR regions 0-5, ROM region 6), hence the optional sizes.
struct BarDecode {
  enum class Kind : uint8_t { kMem32, kMem64, kMemBelow1M, kIo };
  unsigned index = 0;  // slot 0..5 (a 64-bit BAR also occupies index+1)
  Kind kind = Kind::kMem32;
  uint64_t address = 0;  // as programmed (0 = unassigned)
  bool prefetchable = false;
  std::optional<uint64_t> size;
};

struct RomDecode {
  uint32_t address = 0;
  bool enabled = false;
  std::optional<uint64_t> size;
};

/// PCI_CAP_ID_PM.
struct PmDecode {
  uint16_t pmc = 0;    // Power Management Capabilities
  uint16_t pmcsr = 0;  // Control/Status
  unsigned version() const { return pmc & 0x7u; }
  unsigned power_state() const { return pmcsr & 0x3u; }  // 0 = D0 .. 3 = D3hot
  bool no_soft_reset() const { return (pmcsr & 0x8u) != 0; }
  bool pme_enable() const { return (pmcsr & 0x100u) != 0; }
  bool pme_status() const { return (pmcsr & 0x8000u) != 0; }
  unsigned aux_current_ma() const;
};

/// PCI_CAP_ID_MSI.
struct MsiDecode {
  uint16_t control = 0;
  uint64_t address = 0;  // high half only with 64-bit addressing
  uint16_t data = 0;
  std::optional<uint32_t> mask;     // per-vector masking only
  std::optional<uint32_t> pending;  // per-vector masking only
  bool enable() const { return (control & 0x1u) != 0; }
  unsigned vectors_capable() const { return 1u << ((control >> 1) & 0x7u); }
  unsigned vectors_enabled() const { return 1u << ((control >> 4) & 0x7u); }
  bool address64() const { return (control & 0x80u) != 0; }
  bool maskable() const { return (control & 0x100u) != 0; }
};

/// PCI_CAP_ID_MSIX.
struct MsixDecode {
  uint16_t control = 0;
  uint32_t table = 0;  // BIR in bits 2:0, offset in 31:3
  uint32_t pba = 0;
  bool enable() const { return (control & 0x8000u) != 0; }
  bool function_mask() const { return (control & 0x4000u) != 0; }
  unsigned table_size() const { return (control & 0x7ffu) + 1; }
  unsigned table_bar() const { return table & 0x7u; }
  uint32_t table_offset() const { return table & ~0x7u; }
  unsigned pba_bar() const { return pba & 0x7u; }
  uint32_t pba_offset() const { return pba & ~0x7u; }
};

/// PCI_CAP_ID_EXP. Registers past the capability's readable end stay unset.
struct ExpressDecode {
  uint16_t flags = 0;
  uint32_t devcap = 0;
  uint16_t devctl = 0;
  uint16_t devsta = 0;
  std::optional<uint32_t> lnkcap;  // only for port types that have a link
  std::optional<uint16_t> lnkctl;
  std::optional<uint16_t> lnksta;
  std::optional<uint32_t> devcap2;  // version 2 only
  std::optional<uint16_t> devctl2;
  unsigned version() const { return flags & 0xfu; }
  unsigned port_type() const { return (flags >> 4) & 0xfu; }
  unsigned interrupt_message() const { return (flags >> 9) & 0x1fu; }
  bool flr_capable() const { return (devcap & (1u << 28)) != 0; }
  unsigned max_payload_capable() const { return 128u << (devcap & 0x7u); }
  unsigned max_payload() const { return 128u << ((devctl >> 5) & 0x7u); }
  unsigned max_read_request() const { return 128u << ((devctl >> 12) & 0x7u); }
};

/// PCI_CAP_ID_VNDR: only the length is architected.
struct VendorDecode {
  uint8_t length = 0;
};

/// One entry of the standard capability list.
struct CapabilityDecode {
  uint8_t offset = 0;
  uint8_t id = 0;
  std::variant<std::monostate, PmDecode, MsiDecode, MsixDecode, ExpressDecode, VendorDecode> body;
  /// The capability runs past the end of the config space given: its body is not decoded.
  bool truncated = false;
};

/// One entry of the PCIe extended capability list (config offsets 0x100..0xfff).
struct ExtCapabilityDecode {
  uint16_t offset = 0;
  uint16_t id = 0;
  unsigned version = 0;
  std::optional<uint64_t> serial;  // Device Serial Number (id 0x0003)
};

struct DecodedConfig {
  size_t size = 0;  // bytes given
  uint16_t vendor_id = 0xffff;
  uint16_t device_id = 0xffff;
  uint16_t command = 0;
  uint16_t status = 0;
  uint8_t revision = 0;
  uint32_t class_code = 0;  // 24 bits: base, sub-class, prog-if
  uint8_t cache_line = 0;   // dwords
  uint8_t latency = 0;
  uint8_t header_type = 0;  // without the multi-function bit
  bool multifunction = false;
  uint16_t subsystem_vendor_id = 0;  // header type 0 only
  uint16_t subsystem_id = 0;
  uint8_t interrupt_line = 0;
  uint8_t interrupt_pin = 0;  // 0 none, 1..4 INTA#..INTD#
  std::vector<BarDecode> bars;
  std::optional<RomDecode> rom;
  std::vector<CapabilityDecode> capabilities;
  std::vector<ExtCapabilityDecode> extended_capabilities;
  /// Malformed input found while decoding (short space, capability loops, wild pointers, a
  /// 64-bit BAR in the last slot, ...): decoding stops at the fault and says so here.
  std::vector<std::string> problems;

  const CapabilityDecode* find(uint8_t cap_id) const;
};

/// Sizes from VFIO REGION_INFO: index 0-5 the BARs, 6 the expansion ROM. 0 = no such region.
using RegionSizes = std::array<uint64_t, 7>;

/// Decodes `config` (any length: 256 for PCI, 4096 for PCIe; shorter input is decoded as far as
/// it goes). With `sizes`, a BAR exists when its region has a size (a 32-bit memory BAR at
/// address 0 reads as all zeroes, so the raw bytes alone cannot tell it from an empty slot);
/// without, a slot exists when it reads non-zero.
DecodedConfig decode_config(std::span<const uint8_t> config,
                            const std::optional<RegionSizes>& sizes = std::nullopt);

/// `lspci -vv`-style text: the header line ("Unclassified device [00ff]: Device [1234:11e8]
/// (rev 10)") followed by tab-indented detail lines, each ending in '\n'.
std::string render_config_text(const DecodedConfig& d);

/// The same facts as JSON (numbers as numbers, plus "ids"/"class" strings for humans).
nlohmann::json config_to_json(const DecodedConfig& d);

// --- names (small built-in tables; lspci's come from pci.ids) ---
/// "Unclassified device", "Non-Volatile memory controller", ...: the sub-class name if known,
/// else the base class name, else "Class xxxx".
std::string pci_class_name(uint32_t class_code);
/// "Power Management", "MSI", "MSI-X", "Express", ... or "Unknown (0xNN)".
std::string pci_capability_name(uint8_t cap_id);
/// "Advanced Error Reporting", ... or "Unknown (0xNNNN)".
std::string pci_ext_capability_name(uint16_t ext_cap_id);
/// "Endpoint", "Root Complex Integrated Endpoint", ...
std::string pcie_port_type_name(unsigned port_type);
/// A vendor's name if uvfio knows it ("Red Hat, Inc."), else "".
std::string pci_vendor_name(uint16_t vendor_id);

}  // namespace uvfio::tools
