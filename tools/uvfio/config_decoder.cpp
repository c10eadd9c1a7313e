// Structured decoding of raw config space bytes. Every read is bounds-checked against the span
// given, and both capability walks keep a visited set, so any byte pattern terminates.
#include "tools/uvfio/config_decoder.h"

#include <fmt/format.h>

#include <bitset>

namespace uvfio::tools {

namespace {

constexpr size_t kHeaderBytes = 64;
constexpr size_t kPciConfigBytes = 256;
constexpr size_t kExtStart = 0x100;

/// Bounds-checked little-endian reads; bytes past the end read as 0xff, as config reads of a
/// missing function do.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : b_(bytes) {}
  size_t size() const { return b_.size(); }
  bool has(size_t off, size_t len) const { return off <= b_.size() && len <= b_.size() - off; }
  uint8_t u8(size_t off) const { return off < b_.size() ? b_[off] : 0xff; }
  uint16_t u16(size_t off) const {
    return static_cast<uint16_t>(u8(off) | static_cast<unsigned>(u8(off + 1)) << 8);
  }
  uint32_t u32(size_t off) const {
    return static_cast<uint32_t>(u16(off)) | static_cast<uint32_t>(u16(off + 2)) << 16;
  }

 private:
  std::span<const uint8_t> b_;
};

/// Bytes a standard capability occupies, from its registers (0: unknown, only the 2-byte header
/// is checked).
size_t capability_length(const Reader& r, uint8_t off, uint8_t id) {
  switch (id) {
    case 0x01:  // PM
      return 8;
    case 0x05: {  // MSI
      if (!r.has(off, 4)) return 4;
      const uint16_t ctl = r.u16(off + 2u);
      const bool is64 = (ctl & 0x80u) != 0;
      const bool mask = (ctl & 0x100u) != 0;
      if (is64) return mask ? 0x18 : 0x0e;
      return mask ? 0x14 : 0x0a;
    }
    case 0x11:  // MSI-X
      return 12;
    case 0x10:  // Express: v1 ends after the root registers, v2 adds the *2 registers
      if (!r.has(off, 4)) return 4;
      return (r.u16(off + 2u) & 0xfu) >= 2 ? 0x3c : 0x24;
    case 0x09:  // vendor specific: its own length byte
      return r.has(off, 3) ? std::max<size_t>(3, r.u8(off + 2u)) : 3;
    default:
      return 2;
  }
}

/// Port types whose Express capability has link registers (every type but the Root Complex
/// Integrated Endpoint and Event Collector).
bool port_has_link(unsigned type) {
  return type != 0x9 && type != 0xa;
}

void decode_body(const Reader& r, CapabilityDecode& cap) {
  const size_t o = cap.offset;
  switch (cap.id) {
    case 0x01: {
      PmDecode pm;
      pm.pmc = r.u16(o + 2);
      pm.pmcsr = r.u16(o + 4);
      cap.body = pm;
      break;
    }
    case 0x05: {
      MsiDecode msi;
      msi.control = r.u16(o + 2);
      size_t p = o + 4;
      msi.address = r.u32(p);
      p += 4;
      if (msi.address64()) {
        msi.address |= uint64_t{r.u32(p)} << 32;
        p += 4;
      }
      msi.data = r.u16(p);
      p += 4;  // data is 16 bits, then 16 reserved (extended message data) bits
      if (msi.maskable()) {
        msi.mask = r.u32(p);
        msi.pending = r.u32(p + 4);
      }
      cap.body = msi;
      break;
    }
    case 0x11: {
      MsixDecode x;
      x.control = r.u16(o + 2);
      x.table = r.u32(o + 4);
      x.pba = r.u32(o + 8);
      cap.body = x;
      break;
    }
    case 0x10: {
      ExpressDecode e;
      e.flags = r.u16(o + 2);
      e.devcap = r.u32(o + 4);
      e.devctl = r.u16(o + 8);
      e.devsta = r.u16(o + 10);
      if (port_has_link(e.port_type())) {
        e.lnkcap = r.u32(o + 12);
        e.lnkctl = r.u16(o + 16);
        e.lnksta = r.u16(o + 18);
      }
      if (e.version() >= 2) {
        e.devcap2 = r.u32(o + 0x24);
        e.devctl2 = r.u16(o + 0x28);
      }
      cap.body = e;
      break;
    }
    case 0x09:
      cap.body = VendorDecode{r.u8(o + 2)};
      break;
    default:
      break;
  }
}

void decode_bars(const Reader& r, const std::optional<RegionSizes>& sizes, DecodedConfig& d) {
  // Header type 0 has six BARs, type 1 (bridge) two, type 2 (CardBus) one socket register.
  const unsigned nbars = d.header_type == 0 ? 6 : d.header_type == 1 ? 2 : 1;
  for (unsigned i = 0; i < nbars; ++i) {
    const size_t off = 0x10 + size_t{i} * 4;
    if (!r.has(off, 4)) break;
    const uint32_t raw = r.u32(off);
    const uint64_t size = sizes ? (*sizes)[i] : 0;
    if (raw == 0 && size == 0) continue;
    if (sizes && size == 0 && raw != 0) {
      // Bits with no region behind them: lspci would show them too; say which.
      d.problems.push_back(fmt::format("BAR{} reads {:#010x} but has no region", i, raw));
    }
    BarDecode bar;
    bar.index = i;
    if (size) bar.size = size;
    if (raw & 0x1u) {
      bar.kind = BarDecode::Kind::kIo;
      bar.address = raw & ~uint32_t{0x3};
    } else {
      bar.prefetchable = (raw & 0x8u) != 0;
      bar.address = raw & ~uint32_t{0xf};
      switch ((raw >> 1) & 0x3u) {
        case 0:
          bar.kind = BarDecode::Kind::kMem32;
          break;
        case 1:
          bar.kind = BarDecode::Kind::kMemBelow1M;
          break;
        case 2:
          bar.kind = BarDecode::Kind::kMem64;
          if (i + 1 >= nbars) {
            d.problems.push_back(fmt::format("BAR{} is 64-bit but is the last BAR slot", i));
            d.bars.push_back(bar);
            return;
          }
          bar.address |= uint64_t{r.u32(off + 4)} << 32;
          ++i;  // the upper half is not a BAR of its own
          break;
        default:
          d.problems.push_back(fmt::format("BAR{} has the reserved memory type 3", i));
          break;
      }
    }
    d.bars.push_back(bar);
  }
  const size_t rom_off = d.header_type == 0 ? 0x30 : d.header_type == 1 ? 0x38 : 0;
  if (rom_off && r.has(rom_off, 4)) {
    const uint32_t raw = r.u32(rom_off);
    const uint64_t size = sizes ? (*sizes)[6] : 0;
    if (raw != 0 || size != 0) {
      RomDecode rom;
      rom.address = raw & ~uint32_t{0x7ff};
      rom.enabled = (raw & 0x1u) != 0;
      if (size) rom.size = size;
      d.rom = rom;
    }
  }
}

void walk_capabilities(const Reader& r, DecodedConfig& d) {
  if (!(d.status & 0x10u)) return;  // Status.Capabilities List clear: no list to walk
  const size_t ptr_off = d.header_type == 2 ? 0x14 : 0x34;
  if (!r.has(ptr_off, 1)) return;
  const size_t limit = std::min(r.size(), kPciConfigBytes);
  std::bitset<kPciConfigBytes / 4> visited;
  // The low two bits of every pointer are reserved (PCI 3.0 6.7): mask them as lspci does.
  unsigned next = r.u8(ptr_off) & 0xfcu;
  while (next != 0) {
    if (next < kHeaderBytes) {
      d.problems.push_back(
          fmt::format("capability pointer {:#04x} points into the standard header", next));
      return;
    }
    if (visited.test(next / 4)) {
      d.problems.push_back(fmt::format("capability list loops back to {:#04x}", next));
      return;
    }
    visited.set(next / 4);
    if (!r.has(next, 2) || next + 2u > limit) {
      d.problems.push_back(
          fmt::format("capability pointer {:#04x} is past the end of config space", next));
      return;
    }
    CapabilityDecode cap;
    cap.offset = static_cast<uint8_t>(next);
    cap.id = r.u8(next);
    const size_t len = capability_length(r, cap.offset, cap.id);
    if (next + len > limit) {
      cap.truncated = true;
      d.problems.push_back(fmt::format("capability {} at {:#04x} runs past the end ({} bytes)",
                                       pci_capability_name(cap.id), next, len));
    } else {
      decode_body(r, cap);
    }
    d.capabilities.push_back(cap);
    next = r.u8(next + 1u) & 0xfcu;
  }
}

void walk_extended(const Reader& r, DecodedConfig& d) {
  if (r.size() <= kPciConfigBytes) return;
  const size_t limit = r.size();
  std::bitset<4096 / 4> visited;
  size_t off = kExtStart;
  while (off != 0) {
    if (off < kExtStart || off + 4 > limit || off + 4 > 4096) {
      d.problems.push_back(
          fmt::format("extended capability pointer {:#05x} is outside 0x100..0xfff", off));
      return;
    }
    if (visited.test(off / 4)) {
      d.problems.push_back(fmt::format("extended capability list loops back to {:#05x}", off));
      return;
    }
    visited.set(off / 4);
    const uint32_t header = r.u32(off);
    // An all-zero or all-ones header at 0x100 means "no extended capabilities" (PCIe 7.9.1).
    if (header == 0 || header == 0xffffffffu) {
      if (off != kExtStart) {
        d.problems.push_back(fmt::format("extended capability at {:#05x} is empty", off));
      }
      return;
    }
    ExtCapabilityDecode e;
    e.offset = static_cast<uint16_t>(off);
    e.id = static_cast<uint16_t>(header & 0xffffu);
    e.version = (header >> 16) & 0xfu;
    if (e.id == 0x0003 && off + 12 <= limit) {
      e.serial = uint64_t{r.u32(off + 4)} | uint64_t{r.u32(off + 8)} << 32;
    }
    d.extended_capabilities.push_back(e);
    off = (header >> 20) & 0xffcu;
  }
}

}  // namespace

unsigned PmDecode::aux_current_ma() const {
  static constexpr std::array<unsigned, 8> kMa{0, 55, 100, 160, 220, 270, 320, 375};
  return kMa[(pmc >> 6) & 0x7u];
}

const CapabilityDecode* DecodedConfig::find(uint8_t cap_id) const {
  for (const auto& c : capabilities) {
    if (c.id == cap_id) return &c;
  }
  return nullptr;
}

DecodedConfig decode_config(std::span<const uint8_t> config,
                            const std::optional<RegionSizes>& sizes) {
  const Reader r(config);
  DecodedConfig d;
  d.size = config.size();
  if (config.size() < kHeaderBytes) {
    d.problems.push_back(fmt::format(
        "config space is {} bytes, shorter than the 64-byte standard header", config.size()));
  }
  d.vendor_id = r.u16(0x00);
  d.device_id = r.u16(0x02);
  d.command = r.u16(0x04);
  d.status = r.u16(0x06);
  d.revision = r.u8(0x08);
  d.class_code = r.u32(0x08) >> 8;
  d.cache_line = r.u8(0x0c);
  d.latency = r.u8(0x0d);
  d.header_type = r.u8(0x0e) & 0x7fu;
  d.multifunction = (r.u8(0x0e) & 0x80u) != 0;
  if (config.size() < kHeaderBytes) return d;
  if (d.header_type == 0) {
    d.subsystem_vendor_id = r.u16(0x2c);
    d.subsystem_id = r.u16(0x2e);
  } else if (d.header_type > 2) {
    d.problems.push_back(fmt::format("unknown header type {}", d.header_type));
    return d;
  }
  d.interrupt_line = r.u8(0x3c);
  d.interrupt_pin = r.u8(0x3d);
  if (d.interrupt_pin > 4) {
    d.problems.push_back(fmt::format("interrupt pin {} is not INTA#..INTD#", d.interrupt_pin));
  }
  decode_bars(r, sizes, d);
  walk_capabilities(r, d);
  walk_extended(r, d);
  return d;
}

// --- names ---

std::string pci_class_name(uint32_t class_code) {
  struct Sub {
    uint16_t cls;
    const char* name;
  };
  // Sub-classes worth naming (pci.ids spelling); prog-if matters only for a few.
  static constexpr Sub kSub[] = {
      {0x0000, "Non-VGA unclassified device"},
      {0x0001, "VGA compatible unclassified device"},
      {0x0100, "SCSI storage controller"},
      {0x0101, "IDE interface"},
      {0x0104, "RAID bus controller"},
      {0x0105, "ATA controller"},
      {0x0106, "SATA controller"},
      {0x0107, "Serial Attached SCSI controller"},
      {0x0108, "Non-Volatile memory controller"},
      {0x0180, "Mass storage controller"},
      {0x0200, "Ethernet controller"},
      {0x0280, "Network controller"},
      {0x0300, "VGA compatible controller"},
      {0x0302, "3D controller"},
      {0x0380, "Display controller"},
      {0x0401, "Multimedia audio controller"},
      {0x0403, "Audio device"},
      {0x0500, "RAM memory"},
      {0x0580, "Memory controller"},
      {0x0600, "Host bridge"},
      {0x0601, "ISA bridge"},
      {0x0604, "PCI bridge"},
      {0x0680, "Bridge"},
      {0x0700, "Serial controller"},
      {0x0880, "System peripheral"},
      {0x0c03, "USB controller"},
      {0x0c05, "SMBus"},
      {0x1080, "Encryption controller"},
      {0x1200, "Processing accelerators"},
  };
  static constexpr const char* kBase[] = {
      "Unclassified device",
      "Mass storage controller",
      "Network controller",
      "Display controller",
      "Multimedia controller",
      "Memory controller",
      "Bridge",
      "Communication controller",
      "Generic system peripheral",
      "Input device controller",
      "Docking station",
      "Processor",
      "Serial bus controller",
      "Wireless controller",
      "Intelligent controller",
      "Satellite communications controller",
      "Encryption controller",
      "Signal processing controller",
      "Processing accelerators",
      "Non-Essential Instrumentation",
  };
  const auto cls = static_cast<uint16_t>(class_code >> 8);
  for (const auto& s : kSub) {
    if (s.cls == cls) return s.name;
  }
  const unsigned base = cls >> 8;
  if (base < std::size(kBase)) return kBase[base];
  if (base == 0x40) return "Coprocessor";
  if (base == 0xff) return "Unassigned class";
  return fmt::format("Class {:04x}", cls);
}

std::string pci_capability_name(uint8_t cap_id) {
  static constexpr const char* kNames[] = {
      "Null",
      "Power Management",
      "AGP",
      "Vital Product Data",
      "Slot Identification",
      "MSI",
      "CompactPCI hot-swap",
      "PCI-X",
      "HyperTransport",
      "Vendor Specific Information",
      "Debug port",
      "CompactPCI central resource control",
      "PCI Hot-plug",
      "Subsystem",
      "AGP3",
      "Secure device",
      "Express",
      "MSI-X",
      "SATA HBA",
      "PCI Advanced Features",
      "Enhanced Allocation",
      "Flattening Portal Bridge",
  };
  if (cap_id < std::size(kNames)) return kNames[cap_id];
  return fmt::format("Unknown ({:#04x})", cap_id);
}

std::string pci_ext_capability_name(uint16_t ext_cap_id) {
  static constexpr const char* kNames[] = {
      "Null",
      "Advanced Error Reporting",
      "Virtual Channel",
      "Device Serial Number",
      "Power Budgeting",
      "Root Complex Link",
      "Root Complex Internal Link",
      "Root Complex Event Collector",
      "Multi-Function Virtual Channel",
      "Virtual Channel",
      "Root Complex Register Block",
      "Vendor Specific Information",
      "Config Access Correlation",
      "Access Control Services",
      "Alternative Routing-ID Interpretation",
      "Address Translation Service",
      "Single Root I/O Virtualization",
      "Multi-Root I/O Virtualization",
      "Multicast",
      "Page Request Interface",
      "AMD reserved",
      "Resizable BAR",
      "Dynamic Power Allocation",
      "TPH Requester",
      "Latency Tolerance Reporting",
      "Secondary PCI Express",
      "Protocol Multiplexing",
      "Process Address Space ID",
      "LN Requester",
      "Downstream Port Containment",
      "L1 PM Substates",
      "Precision Time Measurement",
      "PCI Express over M-PHY",
      "FRS Queueing",
      "Readiness Time Reporting",
      "Designated Vendor-Specific",
      "VF Resizable BAR",
      "Data Link Feature",
      "Physical Layer 16.0 GT/s",
      "Lane Margining at the Receiver",
      "Hierarchy ID",
      "Native PCIe Enclosure Management",
      "Physical Layer 32.0 GT/s",
  };
  if (ext_cap_id < std::size(kNames)) return kNames[ext_cap_id];
  return fmt::format("Unknown ({:#06x})", ext_cap_id);
}

std::string pcie_port_type_name(unsigned port_type) {
  switch (port_type) {
    case 0x0:
      return "Endpoint";
    case 0x1:
      return "Legacy Endpoint";
    case 0x4:
      return "Root Port (Slot-)";
    case 0x5:
      return "Upstream Port";
    case 0x6:
      return "Downstream Port (Slot-)";
    case 0x7:
      return "PCI-Express to PCI/PCI-X Bridge";
    case 0x8:
      return "PCI/PCI-X to PCI-Express Bridge";
    case 0x9:
      return "Root Complex Integrated Endpoint";
    case 0xa:
      return "Root Complex Event Collector";
    default:
      return fmt::format("Unknown type {}", port_type);
  }
}

std::string pci_vendor_name(uint16_t vendor_id) {
  switch (vendor_id) {
    case 0x1022:
      return "Advanced Micro Devices, Inc. [AMD]";
    case 0x10de:
      return "NVIDIA Corporation";
    case 0x144d:
      return "Samsung Electronics Co Ltd";
    case 0x15b3:
      return "Mellanox Technologies";
    case 0x1af4:
    case 0x1b36:
      return "Red Hat, Inc.";
    case 0x8086:
      return "Intel Corporation";
    default:
      return "";
  }
}

}  // namespace uvfio::tools
