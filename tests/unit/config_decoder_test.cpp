// The `uvfio info` config-space decoder on crafted config spaces: the header, BARs (32/64-bit,
// I/O, ROM, sizes from REGION_INFO), each capability type with its fields, the extended list,
// and malformed input (short spaces, loops, wild pointers, truncated capabilities) that must
// neither hang nor crash.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tools/uvfio/config_decoder.h"

namespace uvfio::tools {
namespace {

/// A config space under construction: little-endian setters and a capability appender.
class Space {
 public:
  explicit Space(size_t size = 256) : b_(size, 0) {}
  Space& u8(size_t off, uint8_t v) {
    b_.at(off) = v;
    return *this;
  }
  Space& u16(size_t off, uint16_t v) {
    u8(off, static_cast<uint8_t>(v));
    return u8(off + 1, static_cast<uint8_t>(v >> 8));
  }
  Space& u32(size_t off, uint32_t v) {
    u16(off, static_cast<uint16_t>(v));
    return u16(off + 2, static_cast<uint16_t>(v >> 16));
  }
  /// Appends a standard capability at `off`, linking it from the previous one (or 0x34).
  Space& cap(uint8_t off, uint8_t id) {
    u16(0x06, static_cast<uint16_t>(b_[0x06] | (b_[0x07] << 8) | 0x10));
    u8(last_ ? last_ + 1u : 0x34u, off);
    u8(off, id);
    u8(off + 1u, 0);
    last_ = off;
    return *this;
  }
  std::vector<uint8_t>& bytes() { return b_; }
  DecodedConfig decode(const std::optional<RegionSizes>& s = std::nullopt) const {
    return decode_config(b_, s);
  }

 private:
  std::vector<uint8_t> b_;
  uint8_t last_ = 0;
};

/// What uvfio's edu presents: 1234:11e8 rev 0x10, class 0x00ff00, BAR0 32-bit 1 MiB, MSI at 0x40.
Space edu_space() {
  Space s;
  s.u16(0x00, 0x1234).u16(0x02, 0x11e8).u16(0x04, 0x0006).u8(0x08, 0x10).u32(0x08, 0x00ff0010);
  s.u16(0x2c, 0x1af4).u16(0x2e, 0x1100).u8(0x3d, 1).u8(0x3c, 0);
  s.u32(0x10, 0xfea00000);
  s.cap(0x40, 0x05).u16(0x42, 0x0080).u32(0x44, 0xfee00000).u32(0x48, 0).u16(0x4c, 0x4021);
  return s;
}

RegionSizes edu_sizes() {
  RegionSizes s{};
  s[0] = uint64_t{1} << 20;
  return s;
}

TEST(ConfigDecoder, EduHeaderIdsClassAndInterrupt) {
  const auto d = edu_space().decode(edu_sizes());
  EXPECT_EQ(d.vendor_id, 0x1234);
  EXPECT_EQ(d.device_id, 0x11e8);
  EXPECT_EQ(d.revision, 0x10);
  EXPECT_EQ(d.class_code, 0x00ff00u);
  EXPECT_EQ(d.subsystem_vendor_id, 0x1af4);
  EXPECT_EQ(d.subsystem_id, 0x1100);
  EXPECT_EQ(d.interrupt_pin, 1);
  EXPECT_EQ(d.header_type, 0);
  EXPECT_FALSE(d.multifunction);
  EXPECT_TRUE(d.problems.empty()) << d.problems.front();
  EXPECT_EQ(pci_class_name(d.class_code), "Unclassified device");
}

TEST(ConfigDecoder, EduTextMatchesLspciShape) {
  const auto text = render_config_text(edu_space().decode(edu_sizes()));
  EXPECT_NE(text.find("Unclassified device [00ff]: Device [1234:11e8] (rev 10)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\tSubsystem: Red Hat, Inc. Device [1af4:1100]\n"), std::string::npos);
  EXPECT_NE(text.find("Control: I/O- Mem+ BusMaster+ "), std::string::npos) << text;
  EXPECT_NE(text.find("Status: Cap+ "), std::string::npos) << text;
  EXPECT_NE(text.find("Interrupt: pin A (INTA#), line 0"), std::string::npos) << text;
  EXPECT_NE(text.find("\tRegion 0: Memory at fea00000 (32-bit, non-prefetchable) [size=1M]\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\tCapabilities: [40] MSI: Enable- Count=1/1 Maskable- 64bit+\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\t\tAddress: 00000000fee00000  Data: 4021\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("Problem"), std::string::npos) << text;
}

TEST(ConfigDecoder, EduJson) {
  const auto j = config_to_json(edu_space().decode(edu_sizes()));
  EXPECT_EQ(j["ids"], "1234:11e8");
  EXPECT_EQ(j["class"], "00ff");
  EXPECT_EQ(j["vendor_id"], 0x1234);
  EXPECT_EQ(j["class_code"], 0x00ff00);
  ASSERT_EQ(j["bars"].size(), 1u);
  EXPECT_EQ(j["bars"][0]["type"], "mem32");
  EXPECT_EQ(j["bars"][0]["size"], 1u << 20);
  EXPECT_EQ(j["bars"][0]["prefetchable"], false);
  ASSERT_EQ(j["capabilities"].size(), 1u);
  EXPECT_EQ(j["capabilities"][0]["offset"], 0x40);
  EXPECT_EQ(j["capabilities"][0]["name"], "MSI");
  EXPECT_EQ(j["capabilities"][0]["msi"]["address64"], true);
  EXPECT_EQ(j["capabilities"][0]["msi"]["vectors_capable"], 1);
  EXPECT_EQ(j["command"]["bus_master"], true);
  EXPECT_EQ(j["command"]["intx_disable"], false);
  EXPECT_EQ(j["interrupt"]["pin_name"], "A");
  EXPECT_TRUE(j["problems"].empty());
  // Round-trips through text: valid JSON.
  EXPECT_EQ(nlohmann::json::parse(j.dump()), j);
}

TEST(ConfigDecoder, CommandAndStatusBits) {
  Space s = edu_space();
  s.u16(0x04, 0x0405);                             // I/O, BusMaster, DisINTx
  s.u16(0x06, 0x0010 | 0x0008 | 0x2000 | 0x0200);  // Cap, INTx, <MAbort, DEVSEL medium
  const auto text = render_config_text(s.decode());
  EXPECT_NE(text.find("Control: I/O+ Mem- BusMaster+ SpecCycle- MemWINV- VGASnoop- ParErr- "
                      "Stepping- SERR- FastB2B- DisINTx+"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("DEVSEL=medium >TAbort- <TAbort- <MAbort+ >SERR- <PERR- INTx+"),
            std::string::npos)
      << text;
  // Memory decoding is off: BARs say so, as lspci does.
  EXPECT_NE(text.find("non-prefetchable) [disabled]"), std::string::npos) << text;
}

TEST(ConfigDecoder, BarsOfEveryKind) {
  Space s;
  s.u16(0x00, 0x8086).u16(0x02, 0x1234).u32(0x08, 0x01080200);  // NVMe class
  s.u16(0x04, 0x0003);
  s.u32(0x10, 0xfe000000 | 0x4 | 0x8);  // 64-bit prefetchable, BAR0+1
  s.u32(0x14, 0x00000001);              // upper half: 0x1_fe000000
  s.u32(0x18, 0x0000c001);              // I/O at 0xc000
  s.u32(0x1c, 0x00000000);              // 32-bit at 0 (exists only by its region size)
  s.u32(0x20, 0x00000000);              // nothing
  s.u32(0x24, 0x000f0002);              // below-1M memory type
  s.u32(0x30, 0xfeb00001);              // ROM enabled
  RegionSizes sz{};
  sz[0] = uint64_t{8} << 20;
  sz[2] = 32;
  sz[3] = 4096;
  sz[5] = 16;
  sz[6] = 256 << 10;
  const auto d = s.decode(sz);
  ASSERT_EQ(d.bars.size(), 4u);
  EXPECT_EQ(d.bars[0].index, 0u);
  EXPECT_EQ(d.bars[0].kind, BarDecode::Kind::kMem64);
  EXPECT_EQ(d.bars[0].address, 0x1fe000000u);
  EXPECT_TRUE(d.bars[0].prefetchable);
  EXPECT_EQ(d.bars[1].index, 2u);
  EXPECT_EQ(d.bars[1].kind, BarDecode::Kind::kIo);
  EXPECT_EQ(d.bars[1].address, 0xc000u);
  EXPECT_EQ(d.bars[2].index, 3u);
  EXPECT_EQ(d.bars[2].address, 0u);
  EXPECT_EQ(d.bars[2].size, 4096u);
  EXPECT_EQ(d.bars[3].kind, BarDecode::Kind::kMemBelow1M);
  ASSERT_TRUE(d.rom);
  EXPECT_TRUE(d.rom->enabled);
  EXPECT_EQ(d.rom->address, 0xfeb00000u);
  EXPECT_EQ(pci_class_name(d.class_code), "Non-Volatile memory controller");
  const auto text = render_config_text(d);
  EXPECT_NE(text.find("Intel Corporation Device [8086:1234]"), std::string::npos) << text;
  EXPECT_NE(text.find("Region 0: Memory at 1fe000000 (64-bit, prefetchable) [size=8M]"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Region 2: I/O ports at c000 [size=32]"), std::string::npos) << text;
  EXPECT_NE(text.find("Region 3: Memory at <unassigned> (32-bit, non-prefetchable) [size=4K]"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Expansion ROM at feb00000 [size=256K]"), std::string::npos) << text;
  const auto j = config_to_json(d);
  EXPECT_EQ(j["bars"][0]["type"], "mem64");
  EXPECT_EQ(j["bars"][1]["type"], "io");
  EXPECT_EQ(j["rom"]["size"], 256u << 10);
}

TEST(ConfigDecoder, BarsWithoutSizesAndBadBars) {
  Space s = edu_space();
  s.u32(0x10, 0);           // edu's BAR0 at 0 is invisible without region sizes
  s.u32(0x24, 0xe0000004);  // 64-bit BAR in slot 5
  auto d = s.decode();
  ASSERT_EQ(d.bars.size(), 1u);
  EXPECT_EQ(d.bars[0].index, 5u);
  EXPECT_FALSE(d.bars[0].size);
  ASSERT_EQ(d.problems.size(), 1u);
  EXPECT_NE(d.problems[0].find("last BAR slot"), std::string::npos);

  Space t = edu_space();
  t.u32(0x14, 0xe0000006);  // reserved memory type 3
  d = t.decode(edu_sizes());
  EXPECT_FALSE(d.problems.empty());
}

TEST(ConfigDecoder, PowerManagement) {
  Space s = edu_space();
  s.u8(0x41, 0x50);
  s.cap(0x50, 0x01).u16(0x52, 0x0003 | 0x0200 | (0x19u << 11) | (2u << 6));
  s.u16(0x54, 0x0003 | 0x0008 | 0x0100);  // D3hot, NoSoftRst, PME-Enable
  const auto d = s.decode(edu_sizes());
  const auto* c = d.find(0x01);
  ASSERT_NE(c, nullptr);
  const auto& p = std::get<PmDecode>(c->body);
  EXPECT_EQ(p.version(), 3u);
  EXPECT_EQ(p.power_state(), 3u);
  EXPECT_TRUE(p.no_soft_reset());
  EXPECT_TRUE(p.pme_enable());
  EXPECT_EQ(p.aux_current_ma(), 100u);
  const auto text = render_config_text(d);
  EXPECT_NE(text.find("Capabilities: [50] Power Management version 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("Flags: PMEClk- DSI- D1+ D2- AuxCurrent=100mA "
                      "PME(D0+,D1-,D2-,D3hot+,D3cold+)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Status: D3 NoSoftRst+ PME-Enable+ DSel=0 DScale=0 PME-"), std::string::npos)
      << text;
  EXPECT_EQ(config_to_json(d)["capabilities"][1]["pm"]["power_state"], "D3");
}

TEST(ConfigDecoder, MsiVariants) {
  // 32-bit with per-vector masking, 8 capable / 4 enabled, enabled.
  Space s;
  s.u16(0x00, 0x1af4).u16(0x02, 0x1000);
  s.cap(0x40, 0x05).u16(0x42, 0x0001 | (3u << 1) | (2u << 4) | 0x100);
  s.u32(0x44, 0xfee01000).u16(0x48, 0x0041).u32(0x4c, 0x5).u32(0x50, 0x2);
  auto d = s.decode();
  const auto& m = std::get<MsiDecode>(d.find(0x05)->body);
  EXPECT_TRUE(m.enable());
  EXPECT_EQ(m.vectors_capable(), 8u);
  EXPECT_EQ(m.vectors_enabled(), 4u);
  EXPECT_FALSE(m.address64());
  EXPECT_TRUE(m.maskable());
  EXPECT_EQ(m.address, 0xfee01000u);
  EXPECT_EQ(m.data, 0x41);
  EXPECT_EQ(m.mask, 5u);
  EXPECT_EQ(m.pending, 2u);
  auto text = render_config_text(d);
  EXPECT_NE(text.find("MSI: Enable+ Count=4/8 Maskable+ 64bit-"), std::string::npos) << text;
  EXPECT_NE(text.find("Address: fee01000  Data: 0041"), std::string::npos) << text;
  EXPECT_NE(text.find("Masking: 00000005  Pending: 00000002"), std::string::npos) << text;

  // 64-bit with masking: mask/pending follow the data at +0x10/+0x14.
  Space t;
  t.cap(0x60, 0x05).u16(0x62, 0x0180 | (5u << 1));
  t.u32(0x64, 0xfee00000).u32(0x68, 0x1).u16(0x6c, 0x22).u32(0x70, 0xffffffff).u32(0x74, 0x80);
  d = t.decode();
  const auto& m64 = std::get<MsiDecode>(d.find(0x05)->body);
  EXPECT_EQ(m64.address, 0x1fee00000u);
  EXPECT_EQ(m64.vectors_capable(), 32u);
  EXPECT_EQ(m64.data, 0x22);
  EXPECT_EQ(m64.mask, 0xffffffffu);
  EXPECT_EQ(m64.pending, 0x80u);
  const auto j = config_to_json(d)["capabilities"][0]["msi"];
  EXPECT_EQ(j["mask"], 0xffffffffu);
  EXPECT_EQ(j["address"], 0x1fee00000u);
}

TEST(ConfigDecoder, MsiX) {
  Space s;
  s.cap(0x70, 0x11).u16(0x72, 0x8000 | 0x4000 | 15).u32(0x74, 0x2000 | 4).u32(0x78, 0x3000 | 4);
  const auto d = s.decode();
  const auto& x = std::get<MsixDecode>(d.find(0x11)->body);
  EXPECT_TRUE(x.enable());
  EXPECT_TRUE(x.function_mask());
  EXPECT_EQ(x.table_size(), 16u);
  EXPECT_EQ(x.table_bar(), 4u);
  EXPECT_EQ(x.table_offset(), 0x2000u);
  EXPECT_EQ(x.pba_offset(), 0x3000u);
  const auto text = render_config_text(d);
  EXPECT_NE(text.find("Capabilities: [70] MSI-X: Enable+ Count=16 Masked+\n"
                      "\t\tVector table: BAR=4 offset=00002000\n"
                      "\t\tPBA: BAR=4 offset=00003000\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(config_to_json(d)["capabilities"][0]["msix"]["table_size"], 16);
}

Space express_space(uint8_t port_type) {
  Space s(4096);
  s.u16(0x00, 0x1b36).u16(0x02, 0x0010).u32(0x08, 0x01080200);
  s.cap(0x80, 0x10).u16(0x82, static_cast<uint16_t>(0x0002 | (port_type << 4)));
  s.u32(0x84, (1u << 28) | (1u << 15) | 0x1);  // FLR, RBE, MPS 256
  s.u16(0x88, static_cast<uint16_t>((2u << 12) | (0u << 5) | 0x10 | 0x800));
  s.u16(0x8a, 0x0001 | 0x0020);  // CorrErr, TransPend
  s.u32(0x8c, (3u << 24) | (4u << 4) | 3);
  s.u16(0x92, (4u << 4) | 3);
  return s;
}

TEST(ConfigDecoder, ExpressEndpointWithFlr) {
  const auto d = express_space(0).decode();
  const auto& e = std::get<ExpressDecode>(d.find(0x10)->body);
  EXPECT_EQ(e.version(), 2u);
  EXPECT_EQ(e.port_type(), 0u);
  EXPECT_TRUE(e.flr_capable());
  EXPECT_EQ(e.max_payload_capable(), 256u);
  EXPECT_EQ(e.max_payload(), 128u);
  EXPECT_EQ(e.max_read_request(), 512u);
  ASSERT_TRUE(e.lnkcap);
  ASSERT_TRUE(e.devcap2);
  const auto text = render_config_text(d);
  EXPECT_NE(text.find("Capabilities: [80] Express (v2) Endpoint, MSI 00\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("DevCap:\tMaxPayload 256 bytes"), std::string::npos) << text;
  EXPECT_NE(text.find("RBE+ FLReset+"), std::string::npos) << text;
  EXPECT_NE(text.find("DevCtl:\tCorrErr- NonFatalErr- FatalErr- UnsupReq-"), std::string::npos);
  EXPECT_NE(text.find("RlxdOrd+ ExtTag- PhantFunc- AuxPwr- NoSnoop+ FLReset-"), std::string::npos)
      << text;
  EXPECT_NE(text.find("MaxPayload 128 bytes, MaxReadReq 512 bytes"), std::string::npos);
  EXPECT_NE(text.find("DevSta:\tCorrErr+ NonFatalErr- FatalErr- UnsupReq- AuxPwr- TransPend+"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("LnkCap:\tPort #3, Speed 8GT/s, Width x4"), std::string::npos) << text;
  EXPECT_NE(text.find("LnkSta:\tSpeed 8GT/s, Width x4"), std::string::npos) << text;
  const auto j = config_to_json(d)["capabilities"][0]["express"];
  EXPECT_EQ(j["flr_capable"], true);
  EXPECT_EQ(j["port_type_name"], "Endpoint");
  // No extended capabilities: an all-zero header at 0x100 is an empty list, not a problem.
  EXPECT_TRUE(d.extended_capabilities.empty());
  EXPECT_TRUE(d.problems.empty());
}

TEST(ConfigDecoder, ExpressIntegratedEndpointHasNoLink) {
  Space s = express_space(9);
  s.u32(0x84, 0);  // no FLR
  const auto d = s.decode();
  const auto& e = std::get<ExpressDecode>(d.find(0x10)->body);
  EXPECT_FALSE(e.lnkcap);
  EXPECT_FALSE(e.flr_capable());
  const auto text = render_config_text(d);
  EXPECT_NE(text.find("Root Complex Integrated Endpoint"), std::string::npos);
  EXPECT_EQ(text.find("LnkCap"), std::string::npos);
  EXPECT_NE(text.find("FLReset-"), std::string::npos);
}

TEST(ConfigDecoder, VendorSpecificAndUnknownCapabilities) {
  Space s;
  s.cap(0x40, 0x09).u8(0x42, 0x10);
  s.cap(0x50, 0x03);  // VPD: named, no body decode
  s.cap(0x60, 0x77);  // unknown id
  const auto d = s.decode();
  ASSERT_EQ(d.capabilities.size(), 3u);
  EXPECT_EQ(std::get<VendorDecode>(d.capabilities[0].body).length, 0x10);
  const auto text = render_config_text(d);
  EXPECT_NE(text.find("[40] Vendor Specific Information: Len=10"), std::string::npos) << text;
  EXPECT_NE(text.find("[50] Vital Product Data"), std::string::npos) << text;
  EXPECT_NE(text.find("[60] Unknown (0x77)"), std::string::npos) << text;
}

TEST(ConfigDecoder, ExtendedCapabilities) {
  Space s = express_space(0);
  // AER at 0x100 -> DSN at 0x140 -> vendor-specific at 0x150 (end).
  s.u32(0x100, 0x0001 | (2u << 16) | (0x140u << 20));
  s.u32(0x140, 0x0003 | (1u << 16) | (0x150u << 20)).u32(0x144, 0x55667788).u32(0x148, 0x11223344);
  s.u32(0x150, 0x000b | (1u << 16));
  const auto d = s.decode();
  ASSERT_EQ(d.extended_capabilities.size(), 3u);
  EXPECT_EQ(d.extended_capabilities[0].id, 0x0001);
  EXPECT_EQ(d.extended_capabilities[0].version, 2u);
  EXPECT_EQ(d.extended_capabilities[1].serial, 0x1122334455667788u);
  EXPECT_EQ(d.extended_capabilities[2].offset, 0x150);
  const auto text = render_config_text(d);
  EXPECT_NE(text.find("Capabilities: [100 v2] Advanced Error Reporting"), std::string::npos);
  EXPECT_NE(text.find("Capabilities: [140 v1] Device Serial Number 11-22-33-44-55-66-77-88"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Capabilities: [150 v1] Vendor Specific Information"), std::string::npos);
  EXPECT_EQ(config_to_json(d)["extended_capabilities"].size(), 3u);
}

TEST(ConfigDecoder, LoopingStandardListTerminates) {
  Space s;
  s.cap(0x40, 0x05).cap(0x50, 0x01);
  s.u8(0x51, 0x40);  // 0x50 -> 0x40 -> 0x50 ...
  const auto d = s.decode();
  EXPECT_EQ(d.capabilities.size(), 2u);
  ASSERT_EQ(d.problems.size(), 1u);
  EXPECT_NE(d.problems[0].find("loops back to 0x40"), std::string::npos);
  // A capability pointing at itself.
  Space t;
  t.cap(0x40, 0x05).u8(0x41, 0x40);
  EXPECT_EQ(t.decode().capabilities.size(), 1u);
  EXPECT_NE(render_config_text(t.decode()).find("Problem: capability list loops"),
            std::string::npos);
}

TEST(ConfigDecoder, WildPointersAndTruncation) {
  Space s;
  s.cap(0x40, 0x05).u8(0x41, 0x10);  // points into the header
  auto d = s.decode();
  EXPECT_EQ(d.capabilities.size(), 1u);
  EXPECT_NE(d.problems.at(0).find("into the standard header"), std::string::npos);

  Space t;
  t.cap(0xfc, 0x11);  // MSI-X needs 12 bytes: runs past 0x100
  d = t.decode();
  ASSERT_EQ(d.capabilities.size(), 1u);
  EXPECT_TRUE(d.capabilities[0].truncated);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(d.capabilities[0].body));
  EXPECT_NE(render_config_text(d).find("<truncated"), std::string::npos);
  EXPECT_EQ(config_to_json(d)["capabilities"][0]["truncated"], true);

  // The low two pointer bits are reserved: 0x43 means 0x40.
  Space u;
  u.cap(0x40, 0x01);
  u.u8(0x34, 0x43);
  d = u.decode();
  ASSERT_EQ(d.capabilities.size(), 1u);
  EXPECT_EQ(d.capabilities[0].offset, 0x40);

  // Status.Capabilities List clear: the pointer is not followed.
  Space v;
  v.cap(0x40, 0x05);
  v.u16(0x06, 0);
  EXPECT_TRUE(v.decode().capabilities.empty());
}

TEST(ConfigDecoder, LoopingAndWildExtendedListsTerminate) {
  Space s = express_space(0);
  s.u32(0x100, 0x0001 | (1u << 16) | (0x180u << 20));
  s.u32(0x180, 0x0002 | (1u << 16) | (0x100u << 20));  // back to 0x100
  auto d = s.decode();
  EXPECT_EQ(d.extended_capabilities.size(), 2u);
  EXPECT_NE(d.problems.at(0).find("loops back to 0x100"), std::string::npos);

  Space t = express_space(0);
  t.u32(0x100, 0x0001 | (1u << 16) | (0x040u << 20));  // next below 0x100
  d = t.decode();
  EXPECT_EQ(d.extended_capabilities.size(), 1u);
  EXPECT_NE(d.problems.at(0).find("outside 0x100..0xfff"), std::string::npos);

  // A space cut short at 0x120: the pointer to 0x200 is past what we have.
  std::vector<uint8_t> cut = express_space(0).bytes();
  cut[0x100] = 0x01;
  cut[0x103] = 0x20;  // next = 0x200
  cut.resize(0x120);
  d = decode_config(cut);
  EXPECT_EQ(d.extended_capabilities.size(), 1u);
  EXPECT_FALSE(d.problems.empty());
}

TEST(ConfigDecoder, ShortAndEmptySpaces) {
  auto d = decode_config(std::span<const uint8_t>{});
  EXPECT_EQ(d.vendor_id, 0xffff);
  EXPECT_FALSE(d.problems.empty());
  EXPECT_FALSE(render_config_text(d).empty());
  EXPECT_FALSE(config_to_json(d).dump().empty());

  std::vector<uint8_t> eight = {0x34, 0x12, 0xe8, 0x11, 0, 0, 0, 0};
  d = decode_config(eight);
  EXPECT_EQ(d.vendor_id, 0x1234);
  EXPECT_EQ(d.device_id, 0x11e8);
  EXPECT_TRUE(d.bars.empty());

  // A capability list in a space just long enough for the header plus a bit.
  Space s = edu_space();
  s.bytes().resize(0x44);
  d = s.decode();
  ASSERT_EQ(d.capabilities.size(), 1u);
  EXPECT_TRUE(d.capabilities[0].truncated);
}

TEST(ConfigDecoder, OtherHeaderTypes) {
  Space bridge;
  bridge.u16(0x00, 0x8086).u32(0x08, 0x06040000).u8(0x0e, 0x81);
  bridge.u32(0x10, 0xfe000000).u32(0x18, 0xffffffff);  // bus numbers, not a BAR
  auto d = bridge.decode();
  EXPECT_EQ(d.header_type, 1);
  EXPECT_TRUE(d.multifunction);
  EXPECT_EQ(d.bars.size(), 1u);
  EXPECT_EQ(pci_class_name(d.class_code), "PCI bridge");
  Space weird;
  weird.u8(0x0e, 0x7f);
  d = weird.decode();
  EXPECT_FALSE(d.problems.empty());
}

TEST(ConfigDecoder, Names) {
  EXPECT_EQ(pci_class_name(0x020000), "Ethernet controller");
  EXPECT_EQ(pci_class_name(0x0c0330), "USB controller");
  EXPECT_EQ(pci_class_name(0x0b4000), "Processor");
  EXPECT_EQ(pci_class_name(0xff0000), "Unassigned class");
  EXPECT_EQ(pci_class_name(0x550000), "Class 5500");
  EXPECT_EQ(pci_capability_name(0x10), "Express");
  EXPECT_EQ(pci_capability_name(0x11), "MSI-X");
  EXPECT_EQ(pci_ext_capability_name(0x10), "Single Root I/O Virtualization");
  EXPECT_EQ(pci_ext_capability_name(0x7777), "Unknown (0x7777)");
  EXPECT_EQ(pcie_port_type_name(4), "Root Port (Slot-)");
  EXPECT_EQ(pci_vendor_name(0x1234), "");
}

// Random bytes must never hang or crash the decoder or its renderers (run under ASan too).
TEST(ConfigDecoder, RandomSpacesNeverHangOrCrash) {
  std::mt19937 rng(12345);
  for (int round = 0; round < 2000; ++round) {
    const size_t size = round % 3 == 0 ? 4096 : round % 3 == 1 ? 256 : rng() % 300;
    std::vector<uint8_t> b(size);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (size >= 8) b[6] |= 0x10;  // usually walk the capability list
    const auto d = decode_config(b);
    EXPECT_LE(d.capabilities.size(), 48u);
    EXPECT_LE(d.extended_capabilities.size(), 960u);
    (void)render_config_text(d);
    (void)config_to_json(d).dump();
  }
}

}  // namespace
}  // namespace uvfio::tools
