// Renders a DecodedConfig as `lspci -vv` text and as JSON. lspci's flag style: "Name+" set,
// "Name-" clear. Where uvfio differs from lspci (no pci.ids database, no IRQ routing under VFIO,
// sizes from REGION_INFO), the text says what it knows instead of guessing.
#include <fmt/format.h>

#include <iterator>
#include <string>

#include "tools/uvfio/config_decoder.h"

namespace uvfio::tools {

namespace {

const char* pm(bool b) {
  return b ? "+" : "-";
}
bool bit(uint32_t v, unsigned n) {
  return ((v >> n) & 1u) != 0;
}

/// lspci's size format: "1M", "4K", "256".
std::string size_text(uint64_t size) {
  static constexpr const char* kUnits[] = {"", "K", "M", "G", "T", "P"};
  size_t u = 0;
  while (size >= 1024 && size % 1024 == 0 && u + 1 < std::size(kUnits)) {
    size /= 1024;
    ++u;
  }
  return fmt::format("{}{}", size, kUnits[u]);
}

const char* bar_kind_name(BarDecode::Kind k) {
  switch (k) {
    case BarDecode::Kind::kMem32:
      return "mem32";
    case BarDecode::Kind::kMem64:
      return "mem64";
    case BarDecode::Kind::kMemBelow1M:
      return "mem1M";
    case BarDecode::Kind::kIo:
      return "io";
  }
  return "?";
}

const char* link_speed(unsigned code) {
  static constexpr const char* kSpeeds[] = {"unknown", "2.5GT/s", "5GT/s", "8GT/s",
                                            "16GT/s",  "32GT/s",  "64GT/s"};
  return code < std::size(kSpeeds) ? kSpeeds[code] : "unknown";
}

std::string header_line(const DecodedConfig& d) {
  const std::string vendor = pci_vendor_name(d.vendor_id);
  return fmt::format("{} [{:04x}]: {}{}Device [{:04x}:{:04x}]{}\n", pci_class_name(d.class_code),
                     d.class_code >> 8, vendor, vendor.empty() ? "" : " ", d.vendor_id, d.device_id,
                     d.revision ? fmt::format(" (rev {:02x})", d.revision) : "");
}

void render_pm(std::string& out, const PmDecode& p) {
  const unsigned pme = p.pmc >> 11;
  out += fmt::format(
      "\t\tFlags: PMEClk{} DSI{} D1{} D2{} AuxCurrent={}mA PME(D0{},D1{},D2{},D3hot{},D3cold{})\n",
      pm(bit(p.pmc, 3)), pm(bit(p.pmc, 5)), pm(bit(p.pmc, 9)), pm(bit(p.pmc, 10)),
      p.aux_current_ma(), pm(bit(pme, 0)), pm(bit(pme, 1)), pm(bit(pme, 2)), pm(bit(pme, 3)),
      pm(bit(pme, 4)));
  out += fmt::format("\t\tStatus: D{} NoSoftRst{} PME-Enable{} DSel={} DScale={} PME{}\n",
                     p.power_state(), pm(p.no_soft_reset()), pm(p.pme_enable()),
                     (p.pmcsr >> 9) & 0xfu, (p.pmcsr >> 13) & 0x3u, pm(p.pme_status()));
}

void render_msi(std::string& out, const MsiDecode& m) {
  if (m.address64()) {
    out += fmt::format("\t\tAddress: {:016x}  Data: {:04x}\n", m.address, m.data);
  } else {
    out += fmt::format("\t\tAddress: {:08x}  Data: {:04x}\n", m.address, m.data);
  }
  if (m.mask) out += fmt::format("\t\tMasking: {:08x}  Pending: {:08x}\n", *m.mask, *m.pending);
}

void render_express(std::string& out, const ExpressDecode& e) {
  static constexpr const char* kL0s[] = {"<64ns", "<128ns", "<256ns", "<512ns",
                                         "<1us",  "<2us",   "<4us",   "unlimited"};
  static constexpr const char* kL1[] = {"<1us",  "<2us",  "<4us",  "<8us",
                                        "<16us", "<32us", "<64us", "unlimited"};
  const uint32_t c = e.devcap;
  const double power_scale[] = {1.0, 0.1, 0.01, 0.001};
  out += fmt::format("\t\tDevCap:\tMaxPayload {} bytes, PhantFunc {}, Latency L0s {}, L1 {}\n",
                     e.max_payload_capable(), (c >> 3) & 0x3u, kL0s[(c >> 6) & 0x7u],
                     kL1[(c >> 9) & 0x7u]);
  out += fmt::format(
      "\t\t\tExtTag{} AttnBtn{} AttnInd{} PwrInd{} RBE{} FLReset{} SlotPowerLimit {}W\n",
      pm(bit(c, 5)), pm(bit(c, 12)), pm(bit(c, 13)), pm(bit(c, 14)), pm(bit(c, 15)),
      pm(e.flr_capable()), ((c >> 18) & 0xffu) * power_scale[(c >> 26) & 0x3u]);
  const uint16_t t = e.devctl;
  out += fmt::format("\t\tDevCtl:\tCorrErr{} NonFatalErr{} FatalErr{} UnsupReq{}\n", pm(bit(t, 0)),
                     pm(bit(t, 1)), pm(bit(t, 2)), pm(bit(t, 3)));
  out += fmt::format("\t\t\tRlxdOrd{} ExtTag{} PhantFunc{} AuxPwr{} NoSnoop{}{}\n", pm(bit(t, 4)),
                     pm(bit(t, 8)), pm(bit(t, 9)), pm(bit(t, 10)), pm(bit(t, 11)),
                     e.flr_capable() ? fmt::format(" FLReset{}", pm(bit(t, 15))) : "");
  out += fmt::format("\t\t\tMaxPayload {} bytes, MaxReadReq {} bytes\n", e.max_payload(),
                     e.max_read_request());
  const uint16_t s = e.devsta;
  out += fmt::format(
      "\t\tDevSta:\tCorrErr{} NonFatalErr{} FatalErr{} UnsupReq{} AuxPwr{} TransPend{}\n",
      pm(bit(s, 0)), pm(bit(s, 1)), pm(bit(s, 2)), pm(bit(s, 3)), pm(bit(s, 4)), pm(bit(s, 5)));
  if (e.lnkcap) {
    const uint32_t l = *e.lnkcap;
    out += fmt::format("\t\tLnkCap:\tPort #{}, Speed {}, Width x{}, ASPM {}\n", l >> 24,
                       link_speed(l & 0xfu), (l >> 4) & 0x3fu,
                       ((l >> 10) & 0x3u) == 0 ? "not supported" : "L0s/L1");
    out += fmt::format("\t\tLnkSta:\tSpeed {}, Width x{}\n", link_speed(*e.lnksta & 0xfu),
                       (*e.lnksta >> 4) & 0x3fu);
  }
  if (e.devcap2) {
    const uint32_t c2 = *e.devcap2;
    const uint16_t t2 = *e.devctl2;
    static constexpr const char* kRanges[] = {"Not Supported", "Range A",   "Range B",
                                              "Range AB",      "Range BC",  "Range ABC",
                                              "Range BCD",     "Range ABCD"};
    const unsigned ranges = c2 & 0xfu;
    const char* range = ranges == 0    ? kRanges[0]
                        : ranges == 1  ? kRanges[1]
                        : ranges == 2  ? kRanges[2]
                        : ranges == 3  ? kRanges[3]
                        : ranges == 6  ? kRanges[4]
                        : ranges == 7  ? kRanges[5]
                        : ranges == 14 ? kRanges[6]
                        : ranges == 15 ? kRanges[7]
                                       : "Unknown";
    out += fmt::format("\t\tDevCap2: Completion Timeout: {}, TimeoutDis{} ARIFwd{} LTR{}\n", range,
                       pm(bit(c2, 4)), pm(bit(c2, 5)), pm(bit(c2, 11)));
    out += fmt::format("\t\t\t AtomicOpsCap: Routing{} 32bit{} 64bit{} 128bitCAS{}\n",
                       pm(bit(c2, 6)), pm(bit(c2, 7)), pm(bit(c2, 8)), pm(bit(c2, 9)));
    out += fmt::format(
        "\t\tDevCtl2: TimeoutDis{} ARIFwd{} AtomicOpsCtl: ReqEn{} IDOReq{} IDOCompl{} LTR{}\n",
        pm(bit(t2, 4)), pm(bit(t2, 5)), pm(bit(t2, 6)), pm(bit(t2, 8)), pm(bit(t2, 9)),
        pm(bit(t2, 10)));
  }
}

void render_capability(std::string& out, const CapabilityDecode& c) {
  const std::string at = fmt::format("\tCapabilities: [{:02x}] ", c.offset);
  if (c.truncated) {
    out += at + fmt::format("{} <truncated: runs past the end of config space>\n",
                            pci_capability_name(c.id));
    return;
  }
  if (const auto* p = std::get_if<PmDecode>(&c.body)) {
    out += at + fmt::format("Power Management version {}\n", p->version());
    render_pm(out, *p);
  } else if (const auto* m = std::get_if<MsiDecode>(&c.body)) {
    out += at + fmt::format("MSI: Enable{} Count={}/{} Maskable{} 64bit{}\n", pm(m->enable()),
                            m->vectors_enabled(), m->vectors_capable(), pm(m->maskable()),
                            pm(m->address64()));
    render_msi(out, *m);
  } else if (const auto* x = std::get_if<MsixDecode>(&c.body)) {
    out += at + fmt::format("MSI-X: Enable{} Count={} Masked{}\n", pm(x->enable()), x->table_size(),
                            pm(x->function_mask()));
    out +=
        fmt::format("\t\tVector table: BAR={} offset={:08x}\n", x->table_bar(), x->table_offset());
    out += fmt::format("\t\tPBA: BAR={} offset={:08x}\n", x->pba_bar(), x->pba_offset());
  } else if (const auto* e = std::get_if<ExpressDecode>(&c.body)) {
    out += at + fmt::format("Express (v{}) {}, MSI {:02x}\n", e->version(),
                            pcie_port_type_name(e->port_type()), e->interrupt_message());
    render_express(out, *e);
  } else if (const auto* v = std::get_if<VendorDecode>(&c.body)) {
    out += at + fmt::format("Vendor Specific Information: Len={:02x} <?>\n", v->length);
  } else {
    out += at + pci_capability_name(c.id) + "\n";
  }
}

nlohmann::json flags_json(uint16_t v, std::initializer_list<std::pair<const char*, unsigned>> f) {
  nlohmann::json j;
  j["value"] = v;
  for (const auto& [name, b] : f) j[name] = bit(v, b);
  return j;
}

nlohmann::json capability_json(const CapabilityDecode& c) {
  nlohmann::json j;
  j["offset"] = c.offset;
  j["id"] = c.id;
  j["name"] = pci_capability_name(c.id);
  j["truncated"] = c.truncated;
  if (const auto* p = std::get_if<PmDecode>(&c.body)) {
    j["pm"] = {{"version", p->version()},
               {"pmc", p->pmc},
               {"pmcsr", p->pmcsr},
               {"d1", bit(p->pmc, 9)},
               {"d2", bit(p->pmc, 10)},
               {"pme_support", p->pmc >> 11},
               {"aux_current_ma", p->aux_current_ma()},
               {"power_state", fmt::format("D{}", p->power_state())},
               {"no_soft_reset", p->no_soft_reset()},
               {"pme_enable", p->pme_enable()},
               {"pme_status", p->pme_status()}};
  } else if (const auto* m = std::get_if<MsiDecode>(&c.body)) {
    nlohmann::json msi = {{"control", m->control},
                          {"enable", m->enable()},
                          {"vectors_enabled", m->vectors_enabled()},
                          {"vectors_capable", m->vectors_capable()},
                          {"address64", m->address64()},
                          {"maskable", m->maskable()},
                          {"address", m->address},
                          {"data", m->data}};
    if (m->mask) {
      msi["mask"] = *m->mask;
      msi["pending"] = *m->pending;
    }
    j["msi"] = msi;
  } else if (const auto* x = std::get_if<MsixDecode>(&c.body)) {
    j["msix"] = {{"control", x->control},
                 {"enable", x->enable()},
                 {"function_mask", x->function_mask()},
                 {"table_size", x->table_size()},
                 {"table_bar", x->table_bar()},
                 {"table_offset", x->table_offset()},
                 {"pba_bar", x->pba_bar()},
                 {"pba_offset", x->pba_offset()}};
  } else if (const auto* e = std::get_if<ExpressDecode>(&c.body)) {
    nlohmann::json ex = {{"version", e->version()},
                         {"port_type", e->port_type()},
                         {"port_type_name", pcie_port_type_name(e->port_type())},
                         {"interrupt_message", e->interrupt_message()},
                         {"devcap", e->devcap},
                         {"flr_capable", e->flr_capable()},
                         {"max_payload_capable", e->max_payload_capable()},
                         {"devctl", e->devctl},
                         {"max_payload", e->max_payload()},
                         {"max_read_request", e->max_read_request()},
                         {"devsta", e->devsta}};
    if (e->lnkcap) {
      ex["lnkcap"] = *e->lnkcap;
      ex["lnkctl"] = *e->lnkctl;
      ex["lnksta"] = *e->lnksta;
    }
    if (e->devcap2) {
      ex["devcap2"] = *e->devcap2;
      ex["devctl2"] = *e->devctl2;
    }
    j["express"] = ex;
  } else if (const auto* v = std::get_if<VendorDecode>(&c.body)) {
    j["vendor"] = {{"length", v->length}};
  }
  return j;
}

}  // namespace

std::string render_config_text(const DecodedConfig& d) {
  std::string out = header_line(d);
  if (d.size < 64) {
    for (const auto& p : d.problems) out += "\tProblem: " + p + "\n";
    return out;
  }
  if (d.header_type == 0) {
    const std::string sv = pci_vendor_name(d.subsystem_vendor_id);
    out += fmt::format("\tSubsystem: {}{}Device [{:04x}:{:04x}]\n", sv, sv.empty() ? "" : " ",
                       d.subsystem_vendor_id, d.subsystem_id);
  }
  const uint16_t c = d.command;
  out += fmt::format(
      "\tControl: I/O{} Mem{} BusMaster{} SpecCycle{} MemWINV{} VGASnoop{} ParErr{} Stepping{} "
      "SERR{} FastB2B{} DisINTx{}\n",
      pm(bit(c, 0)), pm(bit(c, 1)), pm(bit(c, 2)), pm(bit(c, 3)), pm(bit(c, 4)), pm(bit(c, 5)),
      pm(bit(c, 6)), pm(bit(c, 7)), pm(bit(c, 8)), pm(bit(c, 9)), pm(bit(c, 10)));
  static constexpr const char* kDevsel[] = {"fast", "medium", "slow", "??"};
  const uint16_t s = d.status;
  out += fmt::format(
      "\tStatus: Cap{} 66MHz{} UDF{} FastB2B{} ParErr{} DEVSEL={} >TAbort{} <TAbort{} <MAbort{} "
      ">SERR{} <PERR{} INTx{}\n",
      pm(bit(s, 4)), pm(bit(s, 5)), pm(bit(s, 6)), pm(bit(s, 7)), pm(bit(s, 8)),
      kDevsel[(s >> 9) & 0x3u], pm(bit(s, 11)), pm(bit(s, 12)), pm(bit(s, 13)), pm(bit(s, 14)),
      pm(bit(s, 15)), pm(bit(s, 3)));
  out += fmt::format("\tLatency: {}", d.latency);
  if (d.cache_line) out += fmt::format(", Cache Line Size: {} bytes", d.cache_line * 4u);
  out += "\n";
  if (d.interrupt_pin >= 1 && d.interrupt_pin <= 4) {
    // Under VFIO there is no host IRQ routing to show; the line register is what config holds.
    out += fmt::format("\tInterrupt: pin {} (INT{}#), line {}\n",
                       static_cast<char>('A' + d.interrupt_pin - 1),
                       static_cast<char>('A' + d.interrupt_pin - 1), d.interrupt_line);
  }
  const bool mem_on = bit(c, 1);
  const bool io_on = bit(c, 0);
  for (const auto& b : d.bars) {
    std::string addr;
    if (b.kind == BarDecode::Kind::kIo) {
      addr = b.address ? fmt::format("{:x}", b.address) : "<unassigned>";
      out +=
          fmt::format("\tRegion {}: I/O ports at {}{}", b.index, addr, io_on ? "" : " [disabled]");
    } else {
      addr = b.address ? fmt::format("{:08x}", b.address) : "<unassigned>";
      const char* width = b.kind == BarDecode::Kind::kMem64        ? "64-bit"
                          : b.kind == BarDecode::Kind::kMemBelow1M ? "low-1M"
                                                                   : "32-bit";
      out += fmt::format("\tRegion {}: Memory at {} ({}, {}){}", b.index, addr, width,
                         b.prefetchable ? "prefetchable" : "non-prefetchable",
                         mem_on ? "" : " [disabled]");
    }
    if (b.size) out += fmt::format(" [size={}]", size_text(*b.size));
    out += "\n";
  }
  if (d.rom) {
    out += fmt::format("\tExpansion ROM at {}{}",
                       d.rom->address ? fmt::format("{:08x}", d.rom->address) : "<unassigned>",
                       d.rom->enabled ? "" : " [disabled]");
    if (d.rom->size) out += fmt::format(" [size={}]", size_text(*d.rom->size));
    out += "\n";
  }
  if (d.header_type == 0 && !(d.status & 0x10u)) out += "\tCapabilities: <none>\n";
  for (const auto& cap : d.capabilities) render_capability(out, cap);
  for (const auto& e : d.extended_capabilities) {
    out += fmt::format("\tCapabilities: [{:03x} v{}] {}", e.offset, e.version,
                       pci_ext_capability_name(e.id));
    if (e.serial) {
      const uint64_t v = *e.serial;
      out += fmt::format(" {:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}", v >> 56 & 0xff,
                         v >> 48 & 0xff, v >> 40 & 0xff, v >> 32 & 0xff, v >> 24 & 0xff,
                         v >> 16 & 0xff, v >> 8 & 0xff, v & 0xff);
    }
    out += "\n";
  }
  for (const auto& p : d.problems) out += "\tProblem: " + p + "\n";
  return out;
}

nlohmann::json config_to_json(const DecodedConfig& d) {
  nlohmann::json j;
  j["size"] = d.size;
  j["vendor_id"] = d.vendor_id;
  j["device_id"] = d.device_id;
  j["ids"] = fmt::format("{:04x}:{:04x}", d.vendor_id, d.device_id);
  j["vendor_name"] = pci_vendor_name(d.vendor_id);
  j["revision"] = d.revision;
  j["class_code"] = d.class_code;
  j["class"] = fmt::format("{:04x}", d.class_code >> 8);
  j["prog_if"] = d.class_code & 0xffu;
  j["class_name"] = pci_class_name(d.class_code);
  j["header_type"] = d.header_type;
  j["multifunction"] = d.multifunction;
  j["subsystem_vendor_id"] = d.subsystem_vendor_id;
  j["subsystem_id"] = d.subsystem_id;
  j["command"] = flags_json(d.command, {{"io", 0},
                                        {"memory", 1},
                                        {"bus_master", 2},
                                        {"special_cycles", 3},
                                        {"mem_write_invalidate", 4},
                                        {"vga_snoop", 5},
                                        {"parity_error_response", 6},
                                        {"serr", 8},
                                        {"fast_b2b", 9},
                                        {"intx_disable", 10}});
  auto st = flags_json(d.status, {{"interrupt", 3},
                                  {"capabilities", 4},
                                  {"66mhz", 5},
                                  {"fast_b2b", 7},
                                  {"master_parity_error", 8},
                                  {"signaled_target_abort", 11},
                                  {"received_target_abort", 12},
                                  {"received_master_abort", 13},
                                  {"signaled_system_error", 14},
                                  {"detected_parity_error", 15}});
  st["devsel"] = (d.status >> 9) & 0x3u;
  j["status"] = st;
  j["latency"] = d.latency;
  j["cache_line_bytes"] = d.cache_line * 4u;
  nlohmann::json irq = {{"pin", d.interrupt_pin}, {"line", d.interrupt_line}};
  if (d.interrupt_pin >= 1 && d.interrupt_pin <= 4) {
    irq["pin_name"] = std::string(1, static_cast<char>('A' + d.interrupt_pin - 1));
  }
  j["interrupt"] = irq;
  nlohmann::json bars = nlohmann::json::array();
  for (const auto& b : d.bars) {
    nlohmann::json jb = {{"index", b.index},
                         {"type", bar_kind_name(b.kind)},
                         {"address", b.address},
                         {"prefetchable", b.prefetchable}};
    jb["size"] = b.size ? nlohmann::json(*b.size) : nlohmann::json(nullptr);
    bars.push_back(jb);
  }
  j["bars"] = bars;
  if (d.rom) {
    j["rom"] = {{"address", d.rom->address},
                {"enabled", d.rom->enabled},
                {"size", d.rom->size ? nlohmann::json(*d.rom->size) : nlohmann::json(nullptr)}};
  } else {
    j["rom"] = nullptr;
  }
  nlohmann::json caps = nlohmann::json::array();
  for (const auto& c : d.capabilities) caps.push_back(capability_json(c));
  j["capabilities"] = caps;
  nlohmann::json ext = nlohmann::json::array();
  for (const auto& e : d.extended_capabilities) {
    nlohmann::json je = {{"offset", e.offset},
                         {"id", e.id},
                         {"version", e.version},
                         {"name", pci_ext_capability_name(e.id)}};
    if (e.serial) je["serial"] = *e.serial;
    ext.push_back(je);
  }
  j["extended_capabilities"] = ext;
  j["problems"] = d.problems;
  return j;
}

}  // namespace uvfio::tools
