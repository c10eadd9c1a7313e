// ConfigSpace: the function's registers under vfio-pci's per-bit table (Linux 6.12
// vfio_pci_config.c): header, BAR sizing, capability list, PM, MSI, MSI-X, PCIe, extended space,
// access splitting and range checks, reset/enable/disable.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "pci/config_function.h"
#include "pci/config_permissions.h"
#include "pci/config_space.h"
#include "test_util.h"

namespace uvfio::pci {
namespace {

// --- layouts ---

/// QEMU's edu: one 1 MiB BAR, MSI with one vector and a 64-bit address.
DeviceLayout edu_layout() {
  DeviceLayout l;
  l.vendor_id = 0x1234;
  l.device_id = 0x11e8;
  l.revision = 0x10;
  l.class_code = 0x00ff00;
  l.bars[0] = {BarType::kMem32, 1 << 20};
  l.capabilities.emplace_back(MsiSpec{.vectors = 1, .address64 = true, .per_vector_mask = false});
  return l;
}

constexpr uint8_t kPm = 0x40;    // 8 bytes
constexpr uint8_t kMsi = 0x48;   // 24 bytes: 64-bit with per-vector masking
constexpr uint8_t kMsix = 0x60;  // 12 bytes
constexpr uint8_t kExp = 0x6c;   // 0x32 bytes

/// Every kind of BAR and capability: PM, MSI (4 vectors, masking), MSI-X (8 vectors in BAR 4),
/// PCIe endpoint with FLR.
DeviceLayout full_layout(bool no_soft_reset = false, bool flr = true) {
  DeviceLayout l;
  l.vendor_id = 0x8086;
  l.device_id = 0x1234;
  l.revision = 2;
  l.class_code = 0x010802;
  l.subsystem_vendor_id = 0xabcd;
  l.subsystem_id = 0x0042;
  l.bars[0] = {BarType::kMem32, 4096};
  l.bars[1] = {BarType::kIo, 32};
  l.bars[2] = {BarType::kMem64, 16384, /*prefetchable=*/true};
  l.bars[4] = {BarType::kMem32, 8192};
  l.rom_size = 64 * 1024;
  l.capabilities.emplace_back(PmSpec{.no_soft_reset = no_soft_reset});
  l.capabilities.emplace_back(MsiSpec{.vectors = 4, .address64 = true, .per_vector_mask = true});
  l.capabilities.emplace_back(
      MsixSpec{.vectors = 8, .table_bar = 4, .table_offset = 0, .pba_bar = 4, .pba_offset = 0x800});
  l.capabilities.emplace_back(ExpressSpec{.port_type = PCI_EXP_TYPE_ENDPOINT, .flr = flr});
  return l;
}

// --- access helpers ---

struct Cfg {
  explicit Cfg(const DeviceLayout& l) {
    auto r = ConfigSpace::create(l);
    EXPECT_TRUE(r.ok()) << "create: " << r.error();
    if (r.ok()) cs = std::move(*r);
  }
  uint32_t rd(uint64_t pos, unsigned n) const {
    uint8_t b[4] = {};
    EXPECT_EQ(cs->read(b, n, pos), static_cast<ssize_t>(n)) << "read at " << pos;
    uint32_t v = 0;
    for (unsigned i = 0; i < n; ++i) v |= uint32_t{b[i]} << (8 * i);
    return v;
  }
  void wr(uint64_t pos, unsigned n, uint32_t v) const {
    uint8_t b[4];
    for (unsigned i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
    EXPECT_EQ(cs->write(b, n, pos), static_cast<ssize_t>(n)) << "write at " << pos;
  }
  uint32_t r32(uint64_t pos) const { return rd(pos, 4); }
  uint16_t r16(uint64_t pos) const { return static_cast<uint16_t>(rd(pos, 2)); }
  uint8_t r8(uint64_t pos) const { return static_cast<uint8_t>(rd(pos, 1)); }
  void w32(uint64_t pos, uint32_t v) const { wr(pos, 4, v); }
  void w16(uint64_t pos, uint16_t v) const { wr(pos, 2, v); }
  void w8(uint64_t pos, uint8_t v) const { wr(pos, 1, v); }

  std::unique_ptr<ConfigSpace> cs;
};

// Records every event ConfigSpace fires.
struct Events {
  void attach(ConfigSpace& cs) {
    ConfigEvents ev;
    ev.command_changed = [this](uint16_t o, uint16_t n) { commands.emplace_back(o, n); };
    ev.flr = [this] { ++flr; };
    ev.power_state_changed = [this](unsigned o, unsigned n) { power.emplace_back(o, n); };
    ev.msi_mask_changed = [this] { ++msi_mask; };
    ev.msix_function_mask_changed = [this] { ++msix_fm; };
    cs.set_events(std::move(ev));
  }
  std::vector<std::pair<uint16_t, uint16_t>> commands;
  std::vector<std::pair<unsigned, unsigned>> power;
  int flr = 0;
  int msi_mask = 0;
  int msix_fm = 0;
};

// --- the function layer on its own ---

TEST(ConfigFunction, WritableRoAndW1cBits) {
  ConfigFunction f(256);
  f.define(0x10, 2, 0x00f0, /*writable=*/0x000f, /*w1c=*/0xf000);
  f.write(0x10, 2, 0x0fff);  // RO bits 4-7 keep their value, writable bits take it
  EXPECT_EQ(f.read(0x10, 2), 0x00ffU);
  f.update(0x10, 2, 0xf000, 0xf000);  // the device reports errors
  EXPECT_EQ(f.read(0x10, 2), 0xf0ffU);
  f.write(0x10, 2, 0x000f);  // writing 0 to W1C bits leaves them
  EXPECT_EQ(f.read(0x10, 2), 0xf0ffU);
  f.write(0x10, 2, 0x500f);  // 1s clear exactly those bits
  EXPECT_EQ(f.read(0x10, 2), 0xa0ffU);
  f.write(0x11, 1, 0xa0);
  EXPECT_EQ(f.read(0x10, 2), 0x00ffU);
  f.power_on_reset();
  EXPECT_EQ(f.read(0x10, 2), 0x00f0U);
}

TEST(ConfigFunction, RestoreKeepsOnlyWritableNonW1cBits) {
  ConfigFunction f(256);
  f.define(0x20, 2, 0, 0x00ff, 0xff00);
  f.write(0x20, 1, 0x5a);
  f.update(0x20, 2, 0xff00, 0x1200);
  auto saved = f.save();
  f.power_on_reset();
  f.restore(saved);
  EXPECT_EQ(f.read(0x20, 2), 0x005aU);  // error bits are not restored
}

TEST(ConfigPermissions, OwnersAndChunks) {
  ConfigPermissions p(256);
  p.claim(0, 64, ConfigPermissions::kBasic);
  p.claim(0x40, 10, PCI_CAP_ID_MSI);
  p.claim(0x4c, 8, PCI_CAP_ID_PM);
  EXPECT_EQ(p.cap_start(0x10), 0U);
  EXPECT_EQ(p.cap_start(0x49), 0x40U);
  EXPECT_EQ(p.cap_start(0x50), 0x4cU);
  EXPECT_EQ(p.owner(0x4a), ConfigPermissions::kUnassigned);
  EXPECT_EQ(p.remaining_in_dword(0x48), 2U);  // MSI ends at 0x4a
  EXPECT_EQ(p.remaining_in_dword(0x4a), 2U);  // gap to the dword end
  EXPECT_EQ(p.remaining_in_dword(0x41), 3U);
}

// --- creation and validation ---

TEST(ConfigSpaceCreate, SizesFollowExpress) {
  Cfg edu(edu_layout());
  EXPECT_EQ(edu.cs->size(), 256U);
  Cfg full(full_layout());
  EXPECT_EQ(full.cs->size(), 4096U);
}

TEST(ConfigSpaceCreate, RejectsImpossibleLayouts) {
  auto bad = [](auto mutate) {
    DeviceLayout l = full_layout();
    mutate(l);
    return ConfigSpace::create(l).error();
  };
  EXPECT_EQ(bad([](DeviceLayout&) {}), 0);
  EXPECT_EQ(bad([](DeviceLayout& l) { l.bars[0].size = 3000; }), EINVAL);
  EXPECT_EQ(bad([](DeviceLayout& l) { l.bars[0].size = 8; }), EINVAL);  // < 16 for memory
  EXPECT_EQ(bad([](DeviceLayout& l) { l.bars[1].size = 2; }), EINVAL);  // < 4 for I/O
  EXPECT_EQ(bad([](DeviceLayout& l) { l.bars[3] = {BarType::kMem32, 4096}; }), EINVAL);
  EXPECT_EQ(bad([](DeviceLayout& l) { l.bars[5] = {BarType::kMem64, 4096}; }), EINVAL);
  EXPECT_EQ(bad([](DeviceLayout& l) { l.rom_size = 1024; }), EINVAL);
  EXPECT_EQ(bad([](DeviceLayout& l) { l.rom_size = 3 * 4096; }), EINVAL);
  EXPECT_EQ(bad([](DeviceLayout& l) { l.interrupt_pin = 5; }), EINVAL);
  EXPECT_EQ(bad([](DeviceLayout& l) {
              l.bars[0] = {BarType::kMem32, uint64_t{4} << 30};
            }),
            EINVAL);  // no 32-bit window holds 4 GiB
  EXPECT_EQ(bad([](DeviceLayout& l) { l.capabilities.emplace_back(PmSpec{}); }), EINVAL);
  EXPECT_EQ(bad([](DeviceLayout& l) { l.capabilities[1] = MsiSpec{.vectors = 3}; }), EINVAL);
  EXPECT_EQ(bad([](DeviceLayout& l) { l.capabilities[1] = MsiSpec{.vectors = 64}; }), EINVAL);
  EXPECT_EQ(bad([](DeviceLayout& l) { l.capabilities[1] = MsiSpec{.vectors = 0}; }), EINVAL);
  auto msix = [&](MsixSpec m) { return bad([&](DeviceLayout& l) { l.capabilities[2] = m; }); };
  EXPECT_EQ(msix({.vectors = 0, .table_bar = 4}), EINVAL);
  EXPECT_EQ(msix({.vectors = 2049, .table_bar = 4}), EINVAL);
  EXPECT_EQ(msix({.vectors = 8, .table_bar = 1, .pba_bar = 4, .pba_offset = 0x800}),
            EINVAL);  // I/O BAR
  EXPECT_EQ(msix({.vectors = 8, .table_bar = 3, .pba_bar = 4, .pba_offset = 0x800}),
            EINVAL);  // upper half of a 64-bit BAR
  EXPECT_EQ(msix({.vectors = 8, .table_bar = 6}), EINVAL);
  EXPECT_EQ(
      msix({.vectors = 8, .table_bar = 4, .table_offset = 4, .pba_bar = 4, .pba_offset = 0x800}),
      EINVAL);  // not 8-byte aligned
  EXPECT_EQ(msix({.vectors = 8,
                  .table_bar = 4,
                  .table_offset = 8192 - 64,
                  .pba_bar = 4,
                  .pba_offset = 0x800}),
            EINVAL);  // table runs past the BAR
  EXPECT_EQ(
      msix({.vectors = 8, .table_bar = 4, .table_offset = 0, .pba_bar = 4, .pba_offset = 0x40}),
      EINVAL);  // PBA overlaps the table
  EXPECT_EQ(
      msix({.vectors = 8, .table_bar = 4, .table_offset = 0, .pba_bar = 4, .pba_offset = 0x80}),
      0);  // right after the table is fine
  EXPECT_EQ(bad([](DeviceLayout& l) { l.capabilities[3] = ExpressSpec{.port_type = 4}; }),
            EINVAL);  // a root port is not a function uvfio emulates
}

// --- standard header ---

TEST(ConfigHeader, IdentityIsReadOnly) {
  Cfg c(full_layout());
  EXPECT_EQ(c.r32(PCI_VENDOR_ID), 0x12348086U);
  EXPECT_EQ(c.r32(PCI_CLASS_REVISION), 0x01080202U);
  EXPECT_EQ(c.r16(PCI_SUBSYSTEM_VENDOR_ID), 0xabcd);
  EXPECT_EQ(c.r16(PCI_SUBSYSTEM_ID), 0x0042);
  EXPECT_EQ(c.r8(PCI_HEADER_TYPE), 0);
  EXPECT_EQ(c.r8(PCI_INTERRUPT_PIN), 1);
  c.w32(PCI_VENDOR_ID, 0xffffffff);
  c.w32(PCI_CLASS_REVISION, 0);
  c.w16(PCI_SUBSYSTEM_ID, 0);
  c.w8(PCI_HEADER_TYPE, 0x80);
  c.w8(PCI_INTERRUPT_PIN, 4);
  c.w8(PCI_CAPABILITY_LIST, 0x80);
  EXPECT_EQ(c.r32(PCI_VENDOR_ID), 0x12348086U);
  EXPECT_EQ(c.r32(PCI_CLASS_REVISION), 0x01080202U);
  EXPECT_EQ(c.r16(PCI_SUBSYSTEM_ID), 0x0042);
  EXPECT_EQ(c.r8(PCI_HEADER_TYPE), 0);
  EXPECT_EQ(c.r8(PCI_INTERRUPT_PIN), 1);
  EXPECT_EQ(c.r8(PCI_CAPABILITY_LIST), kPm);
}

TEST(ConfigHeader, NoInterruptPinReadsZero) {
  DeviceLayout l = edu_layout();
  l.interrupt_pin = 0;
  Cfg c(l);
  EXPECT_EQ(c.r8(PCI_INTERRUPT_PIN), 0);
}

TEST(ConfigHeader, CommandDecodeOnAtOpenAndWritesPassThrough) {
  Cfg c(full_layout());
  // pci_enable_device turned on the decoders the function has; no Bus Master.
  EXPECT_EQ(c.r16(PCI_COMMAND), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
  Cfg edu(edu_layout());
  EXPECT_EQ(edu.r16(PCI_COMMAND), PCI_COMMAND_MEMORY);
  EXPECT_TRUE(edu.cs->memory_enabled());
  EXPECT_FALSE(edu.cs->bus_master());

  Events ev;
  ev.attach(*c.cs);
  c.w16(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR);
  EXPECT_TRUE(c.cs->bus_master());
  EXPECT_TRUE(c.cs->memory_enabled());
  EXPECT_EQ(c.r16(PCI_COMMAND), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR);
  ASSERT_EQ(ev.commands.size(), 1U);
  EXPECT_EQ(ev.commands[0].first, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
  EXPECT_EQ(ev.commands[0].second, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR);
  // Bits the function does not implement (special cycles, MWI, VGA snoop, fast back-to-back)
  // stay 0; rewriting the same value fires no event.
  c.w16(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR |
                         PCI_COMMAND_SPECIAL | PCI_COMMAND_INVALIDATE | PCI_COMMAND_VGA_PALETTE |
                         PCI_COMMAND_FAST_BACK);
  EXPECT_EQ(c.r16(PCI_COMMAND), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR);
  EXPECT_EQ(ev.commands.size(), 1U);
  // A byte write at offset 5 reaches INTx Disable.
  c.w8(PCI_COMMAND + 1, PCI_COMMAND_INTX_DISABLE >> 8);
  EXPECT_TRUE(c.cs->intx_disabled());
  ASSERT_EQ(ev.commands.size(), 2U);
  EXPECT_EQ(ev.commands[1].second & PCI_COMMAND_INTX_DISABLE, PCI_COMMAND_INTX_DISABLE);
  c.w16(PCI_COMMAND, 0);
  EXPECT_FALSE(c.cs->memory_enabled());
  EXPECT_FALSE(c.cs->intx_disabled());
  EXPECT_EQ(c.cs->command(), 0);
}

TEST(ConfigHeader, IntxDisableIsVirtualized) {
  Cfg c(edu_layout());
  c.w16(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
  EXPECT_TRUE(c.cs->intx_disabled());
  EXPECT_EQ(c.r16(PCI_COMMAND), PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
  // Memory and Bus Master are the function's; INTx Disable survives a function reset (vconfig).
  c.cs->reset();
  EXPECT_TRUE(c.cs->intx_disabled());
  // A new open starts with it clear (vfio_pci_core_enable clears it on the function too).
  c.cs->enable();
  EXPECT_FALSE(c.cs->intx_disabled());
}

TEST(ConfigHeader, StatusIsReadOnlyThroughVfio) {
  Cfg c(full_layout());
  EXPECT_EQ(c.r16(PCI_STATUS), PCI_STATUS_CAP_LIST);
  c.cs->set_interrupt_status(true);
  EXPECT_EQ(c.r16(PCI_STATUS), PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT);
  // Kernel parity: Status has no writable bits in vfio-pci's table, so neither the interrupt
  // bit nor the write-1-to-clear error bits change on a driver write.
  c.w16(PCI_STATUS, 0xffff);
  c.w16(PCI_STATUS, 0);
  EXPECT_EQ(c.r16(PCI_STATUS), PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT);
  c.cs->set_interrupt_status(false);
  EXPECT_EQ(c.r16(PCI_STATUS), PCI_STATUS_CAP_LIST);
  // Without capabilities the list bit is clear.
  DeviceLayout l = edu_layout();
  l.capabilities.clear();
  Cfg bare(l);
  EXPECT_EQ(bare.r16(PCI_STATUS), 0);
  EXPECT_EQ(bare.r8(PCI_CAPABILITY_LIST), 0);
}

TEST(ConfigHeader, CacheLineLatencyBist) {
  Cfg edu(edu_layout());
  edu.w8(PCI_CACHE_LINE_SIZE, 0x10);
  edu.w8(PCI_LATENCY_TIMER, 0x40);
  edu.w8(PCI_BIST, PCI_BIST_START);
  EXPECT_EQ(edu.r8(PCI_CACHE_LINE_SIZE), 0x10);
  EXPECT_EQ(edu.r8(PCI_LATENCY_TIMER), 0x40);
  EXPECT_EQ(edu.r8(PCI_BIST), 0);  // not BIST capable
  Cfg pcie(full_layout());
  pcie.w8(PCI_LATENCY_TIMER, 0x40);
  EXPECT_EQ(pcie.r8(PCI_LATENCY_TIMER), 0);  // hardwired on PCIe
}

TEST(ConfigHeader, InterruptLineIsVirtualizedAndWritable) {
  Cfg c(edu_layout());
  EXPECT_EQ(c.r8(PCI_INTERRUPT_LINE), 0);
  c.w8(PCI_INTERRUPT_LINE, 0x0b);
  EXPECT_EQ(c.r8(PCI_INTERRUPT_LINE), 0x0b);
  c.cs->reset();  // the driver's view survives a function reset
  EXPECT_EQ(c.r8(PCI_INTERRUPT_LINE), 0x0b);
  c.cs->enable();  // a new open reads the function again: the write never reached it
  EXPECT_EQ(c.r8(PCI_INTERRUPT_LINE), 0);
}

// --- BARs ---

TEST(ConfigBars, HostAddressesAtOpen) {
  Cfg c(full_layout());
  // Placed as firmware would: 32-bit memory largest first (ROM, BAR4, BAR0), 64-bit above 4 GiB,
  // I/O in port space; the type bits are the function's.
  EXPECT_EQ(c.r32(PCI_ROM_ADDRESS), 0x80000000U);  // not enabled
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_4), 0x80010000U);
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_0), 0x80012000U);
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_1), 0x1001U);
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_2), 0x0000000cU);  // 64-bit, prefetchable
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_3), 0x80U);        // 1 << 39
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_5), 0U);
}

TEST(ConfigBars, SizingProbe32) {
  Cfg c(edu_layout());
  const uint32_t orig = c.r32(PCI_BASE_ADDRESS_0);
  EXPECT_EQ(orig, 0x80000000U);
  c.w32(PCI_BASE_ADDRESS_0, 0xffffffff);
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_0), 0xfff00000U);  // 1 MiB, 32-bit, non-prefetchable
  c.w32(PCI_BASE_ADDRESS_0, 0xfebc1234);              // address bits below the size drop
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_0), 0xfeb00000U);
  c.w32(PCI_BASE_ADDRESS_0, orig);
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_0), orig);
  // Byte writes are fixed up the same way.
  c.w8(PCI_BASE_ADDRESS_0, 0xff);
  c.w8(PCI_BASE_ADDRESS_0 + 2, 0xff);
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_0), 0x80f00000U);
  // Unimplemented BARs read 0 whatever is written.
  for (uint32_t bar = PCI_BASE_ADDRESS_1; bar <= PCI_BASE_ADDRESS_5; bar += 4) {
    c.w32(bar, 0xffffffff);
    EXPECT_EQ(c.r32(bar), 0U) << bar;
  }
}

TEST(ConfigBars, SizingProbePrefetchable64BothHalves) {
  Cfg c(full_layout());
  c.w32(PCI_BASE_ADDRESS_2, 0xffffffff);
  c.w32(PCI_BASE_ADDRESS_3, 0xffffffff);
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_2), 0xffffc00cU);  // 16 KiB, 64-bit, prefetchable
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_3), 0xffffffffU);
  c.w32(PCI_BASE_ADDRESS_2, 0x12345678);
  c.w32(PCI_BASE_ADDRESS_3, 0x9abcdef0);
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_2), 0x1234400cU);
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_3), 0x9abcdef0U);

  DeviceLayout l = edu_layout();
  l.bars[0] = {BarType::kMem64, uint64_t{8} << 30};  // 8 GiB: the size shows in the upper half
  Cfg big(l);
  big.w32(PCI_BASE_ADDRESS_0, 0xffffffff);
  big.w32(PCI_BASE_ADDRESS_1, 0xffffffff);
  EXPECT_EQ(big.r32(PCI_BASE_ADDRESS_0), 0x00000004U);
  EXPECT_EQ(big.r32(PCI_BASE_ADDRESS_1), 0xfffffffeU);
}

TEST(ConfigBars, SizingProbeIo) {
  Cfg c(full_layout());
  c.w32(PCI_BASE_ADDRESS_1, 0xffffffff);
  // The kernel's fix-up masks all 32 bits with the size and forces the I/O space bit.
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_1), 0xffffffe1U);
  c.w32(PCI_BASE_ADDRESS_1, 0xc040);
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_1), 0xc041U);
}

TEST(ConfigBars, SizingProbeRom) {
  Cfg c(full_layout());
  c.w32(PCI_ROM_ADDRESS, 0xffffffff);
  EXPECT_EQ(c.r32(PCI_ROM_ADDRESS), 0xffff0001U);  // 64 KiB, enable bit kept
  c.w32(PCI_ROM_ADDRESS, 0xfffff800);
  EXPECT_EQ(c.r32(PCI_ROM_ADDRESS), 0xffff0000U);
  c.w32(PCI_ROM_ADDRESS, 0xfe000001);
  EXPECT_EQ(c.r32(PCI_ROM_ADDRESS), 0xfe000001U);
  Cfg norom(edu_layout());
  norom.w32(PCI_ROM_ADDRESS, 0xffffffff);
  EXPECT_EQ(norom.r32(PCI_ROM_ADDRESS), 0U);
}

TEST(ConfigBars, WritesNeverReachTheFunction) {
  Cfg c(full_layout());
  c.w32(PCI_BASE_ADDRESS_0, 0xfe000000);
  c.w32(PCI_ROM_ADDRESS, 0xfd000001);
  c.cs->reset();
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_0), 0xfe000000U);  // kept across a function reset
  c.cs->enable();
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_0), 0x80012000U);  // the function still has the host's
  EXPECT_EQ(c.r32(PCI_ROM_ADDRESS), 0x80000000U);
}

// --- capability list ---

TEST(ConfigCaps, ListWalk) {
  Cfg c(full_layout());
  std::vector<std::pair<uint8_t, uint8_t>> found;  // (offset, id)
  for (uint8_t pos = c.r8(PCI_CAPABILITY_LIST); pos != 0 && found.size() < 48;
       pos = c.r8(pos + PCI_CAP_LIST_NEXT)) {
    EXPECT_EQ(pos % 4, 0) << int{pos};
    EXPECT_GE(pos, 0x40);
    found.emplace_back(pos, c.r8(pos));
  }
  const std::vector<std::pair<uint8_t, uint8_t>> want = {{kPm, PCI_CAP_ID_PM},
                                                         {kMsi, PCI_CAP_ID_MSI},
                                                         {kMsix, PCI_CAP_ID_MSIX},
                                                         {kExp, PCI_CAP_ID_EXP}};
  EXPECT_EQ(found, want);
  EXPECT_EQ(c.cs->find_capability(PCI_CAP_ID_PM), kPm);
  EXPECT_EQ(c.cs->find_capability(PCI_CAP_ID_MSI), kMsi);
  EXPECT_EQ(c.cs->find_capability(PCI_CAP_ID_MSIX), kMsix);
  EXPECT_EQ(c.cs->find_capability(PCI_CAP_ID_EXP), kExp);
  EXPECT_EQ(c.cs->find_capability(PCI_CAP_ID_VPD), std::nullopt);
  // ID and next read together as a word; next pointers are read-only.
  EXPECT_EQ(c.r16(kMsix), PCI_CAP_ID_MSIX | kExp << 8);
  c.w8(kPm + PCI_CAP_LIST_NEXT, 0);
  c.w8(kMsix + PCI_CAP_LIST_NEXT, 0);
  c.w8(kMsix, 0x99);
  EXPECT_EQ(c.r8(kPm + PCI_CAP_LIST_NEXT), kMsi);
  EXPECT_EQ(c.r16(kMsix), PCI_CAP_ID_MSIX | kExp << 8);
}

TEST(ConfigCaps, EduHasMsiAt0x40) {
  Cfg c(edu_layout());
  EXPECT_EQ(c.r8(PCI_CAPABILITY_LIST), 0x40);
  EXPECT_EQ(c.r8(0x40), PCI_CAP_ID_MSI);
  EXPECT_EQ(c.r8(0x41), 0);
  EXPECT_EQ(c.r16(0x42), PCI_MSI_FLAGS_64BIT);  // 1 vector, 64-bit, no masking
}

TEST(ConfigCaps, GapsAfterACapabilityAreRawFunctionSpace) {
  Cfg c(edu_layout());  // MSI 64-bit without masking ends at 0x4e
  c.w16(0x4e, 0xffff);
  EXPECT_EQ(c.r16(0x4e), 0);
  c.w32(0x80, 0xffffffff);
  EXPECT_EQ(c.r32(0x80), 0U);
  EXPECT_EQ(c.r32(0xfc), 0U);
}

// --- MSI ---

TEST(ConfigMsi, EnableOnlySticksWhileSetIrqsEnabledIt) {
  Cfg c(full_layout());
  const uint32_t flags = kMsi + PCI_MSI_FLAGS;
  // 4 vectors (MMC 2), 64-bit, per-vector masking.
  EXPECT_EQ(c.r16(flags), 2 << 1 | PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);
  c.w16(flags, c.r16(flags) | PCI_MSI_FLAGS_ENABLE);
  EXPECT_EQ(c.r16(flags) & PCI_MSI_FLAGS_ENABLE, 0);
  EXPECT_FALSE(c.cs->msi_enabled());

  c.cs->set_msi_enabled(true, 3);
  EXPECT_TRUE(c.cs->msi_enabled());
  // vconfig's Enable is the driver's: SET_IRQS alone does not show it.
  EXPECT_EQ(c.r16(flags) & PCI_MSI_FLAGS_ENABLE, 0);
  c.w16(flags, c.r16(flags) | PCI_MSI_FLAGS_ENABLE);
  EXPECT_EQ(c.r16(flags) & PCI_MSI_FLAGS_ENABLE, PCI_MSI_FLAGS_ENABLE);

  // Kernel parity: the write goes through to the function, so clearing Enable while MSI is
  // in use turns the function's MSI off.
  c.w16(flags, c.r16(flags) & ~PCI_MSI_FLAGS_ENABLE);
  EXPECT_FALSE(c.cs->msi_enabled());
  c.cs->set_msi_enabled(false, 0);
  c.w16(flags, c.r16(flags) | PCI_MSI_FLAGS_ENABLE);
  EXPECT_EQ(c.r16(flags) & PCI_MSI_FLAGS_ENABLE, 0);
}

TEST(ConfigMsi, QsizeClampedToWhatSetIrqsAllocated) {
  Cfg c(full_layout());
  const uint32_t flags = kMsi + PCI_MSI_FLAGS;
  const uint16_t base = c.r16(flags);
  c.w16(flags, base | PCI_MSI_FLAGS_QSIZE);
  EXPECT_EQ(c.r16(flags) & PCI_MSI_FLAGS_QSIZE, 0);  // msi_qmax starts at 0
  c.cs->set_msi_enabled(true, 3);                    // 3 vectors: log2 rounded up = 2
  c.w16(flags, base | PCI_MSI_FLAGS_QSIZE);
  EXPECT_EQ(c.r16(flags) & PCI_MSI_FLAGS_QSIZE, 2 << 4);
  c.w16(flags, base | 1 << 4);
  EXPECT_EQ(c.r16(flags) & PCI_MSI_FLAGS_QSIZE, 1 << 4);
  // msi_qmax outlives the disable, as in the kernel.
  c.cs->set_msi_enabled(false, 0);
  c.w16(flags, base | PCI_MSI_FLAGS_QSIZE);
  EXPECT_EQ(c.r16(flags) & PCI_MSI_FLAGS_QSIZE, 2 << 4);
}

TEST(ConfigMsi, CapableBitsSitInTheVirtualizedByte) {
  // Kernel quirk: the whole low byte of Message Control is virtualized and writable, so even
  // Multiple Message Capable and 64-bit read back what the driver wrote.
  Cfg c(full_layout());
  const uint32_t flags = kMsi + PCI_MSI_FLAGS;
  c.w8(flags, 0);
  EXPECT_EQ(c.r16(flags), PCI_MSI_FLAGS_MASKBIT);  // the high byte is the function's
  c.w8(flags, 0xff);
  EXPECT_EQ(c.r16(flags), 0x8e | PCI_MSI_FLAGS_MASKBIT);  // Enable and QSIZE fixed up
  c.cs->enable();
  EXPECT_EQ(c.r16(flags), 2 << 1 | PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);
}

TEST(ConfigMsi, AddressAndDataAreVirtualized) {
  Cfg c(full_layout());
  c.w32(kMsi + PCI_MSI_ADDRESS_LO, 0xfee00003);
  c.w32(kMsi + PCI_MSI_ADDRESS_HI, 0x12);
  c.w16(kMsi + PCI_MSI_DATA_64, 0x4041);
  EXPECT_EQ(c.r32(kMsi + PCI_MSI_ADDRESS_LO), 0xfee00003U);  // vconfig keeps every bit
  EXPECT_EQ(c.r32(kMsi + PCI_MSI_ADDRESS_HI), 0x12U);
  EXPECT_EQ(c.r16(kMsi + PCI_MSI_DATA_64), 0x4041);
  c.cs->enable();
  EXPECT_EQ(c.r32(kMsi + PCI_MSI_ADDRESS_LO), 0U);
  EXPECT_EQ(c.r16(kMsi + PCI_MSI_DATA_64), 0);
}

TEST(ConfigMsi, PerVectorMaskAndPending) {
  Cfg c(full_layout());
  Events ev;
  ev.attach(*c.cs);
  const uint32_t mask = kMsi + PCI_MSI_MASK_64;
  const uint32_t pend = kMsi + PCI_MSI_PENDING_64;
  c.w32(mask, 0xffffffff);
  EXPECT_EQ(c.r32(mask), 0xfU);  // 4 vectors implemented
  EXPECT_EQ(ev.msi_mask, 1);
  EXPECT_TRUE(c.cs->msi_vector_masked(0));
  EXPECT_TRUE(c.cs->msi_vector_masked(3));
  EXPECT_FALSE(c.cs->msi_vector_masked(4));
  c.w32(mask, 0xf);  // no change, no event
  EXPECT_EQ(ev.msi_mask, 1);
  c.w8(mask, 0x5);
  EXPECT_EQ(ev.msi_mask, 2);
  EXPECT_TRUE(c.cs->msi_vector_masked(0));
  EXPECT_FALSE(c.cs->msi_vector_masked(1));

  c.cs->set_msi_pending(2, true);
  c.cs->set_msi_pending(9, true);  // out of range: ignored
  EXPECT_EQ(c.r32(pend), 0x4U);
  EXPECT_TRUE(c.cs->msi_pending(2));
  c.w32(pend, 0);  // pending bits belong to the device
  EXPECT_EQ(c.r32(pend), 0x4U);
  c.cs->set_msi_pending(2, false);
  EXPECT_EQ(c.r32(pend), 0U);
}

TEST(ConfigMsi, SetIrqsEnableMasksUnusedVectorsAndDisableUnmasks) {
  Cfg c(full_layout());
  c.cs->set_msi_enabled(true, 2);
  EXPECT_EQ(c.r32(kMsi + PCI_MSI_MASK_64), 0xcU);
  c.cs->set_msi_pending(1, true);
  c.cs->set_msi_enabled(false, 0);
  EXPECT_EQ(c.r32(kMsi + PCI_MSI_MASK_64), 0U);
  EXPECT_FALSE(c.cs->msi_pending(1));
}

TEST(ConfigMsi, ThirtyTwoBitLayoutWithMasking) {
  DeviceLayout l = edu_layout();
  l.capabilities = {MsiSpec{.vectors = 32, .address64 = false, .per_vector_mask = true}, PmSpec{}};
  Cfg c(l);
  EXPECT_EQ(c.r16(0x40 + PCI_MSI_FLAGS), 5 << 1 | PCI_MSI_FLAGS_MASKBIT);
  EXPECT_EQ(c.r8(0x41), 0x54);  // 20 bytes, the next capability dword aligned after it
  c.w16(0x40 + PCI_MSI_DATA_32, 0xbeef);
  EXPECT_EQ(c.r16(0x40 + PCI_MSI_DATA_32), 0xbeef);
  c.w32(0x40 + PCI_MSI_MASK_32, 0xffffffff);
  EXPECT_EQ(c.r32(0x40 + PCI_MSI_MASK_32), 0xffffffffU);
  EXPECT_TRUE(c.cs->msi_vector_masked(31));
  c.cs->set_msi_pending(31, true);
  EXPECT_EQ(c.r32(0x40 + PCI_MSI_PENDING_32), 0x80000000U);
}

TEST(ConfigMsi, WriteToNextPointerReappliesControl) {
  // Kernel quirk: vfio_msi_config_write's range test also matches a write ending right before
  // Message Control, so a write to the next pointer re-derives (and re-writes) it.
  Cfg c(full_layout());
  c.cs->set_msi_enabled(true, 4);
  c.w16(kMsi + PCI_MSI_FLAGS, c.r16(kMsi + PCI_MSI_FLAGS) | PCI_MSI_FLAGS_ENABLE);
  c.cs->set_msi_enabled(false, 0);  // SET_IRQS disabled MSI; vconfig still says enabled
  EXPECT_EQ(c.r16(kMsi + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_ENABLE, PCI_MSI_FLAGS_ENABLE);
  c.w8(kMsi + PCI_CAP_LIST_NEXT, 0);
  EXPECT_EQ(c.r16(kMsi + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_ENABLE, 0);
}

// --- MSI-X ---

TEST(ConfigMsix, ControlTableAndPba) {
  Cfg c(full_layout());
  Events ev;
  ev.attach(*c.cs);
  const uint32_t flags = kMsix + PCI_MSIX_FLAGS;
  EXPECT_EQ(c.r16(flags), 7);  // table size N-1
  EXPECT_EQ(c.r32(kMsix + PCI_MSIX_TABLE), 4U);
  EXPECT_EQ(c.r32(kMsix + PCI_MSIX_PBA), 0x804U);
  c.w32(kMsix + PCI_MSIX_TABLE, 0);
  c.w32(kMsix + PCI_MSIX_PBA, 0);
  EXPECT_EQ(c.r32(kMsix + PCI_MSIX_TABLE), 4U);
  EXPECT_EQ(c.r32(kMsix + PCI_MSIX_PBA), 0x804U);

  // Enable and the table size are read-only; Enable follows SET_IRQS.
  c.w16(flags, PCI_MSIX_FLAGS_ENABLE | 0x3ff);
  EXPECT_EQ(c.r16(flags), 7);
  EXPECT_FALSE(c.cs->msix_enabled());
  c.cs->set_msix_enabled(true);
  EXPECT_EQ(c.r16(flags), PCI_MSIX_FLAGS_ENABLE | 7);
  EXPECT_TRUE(c.cs->msix_enabled());
  c.w16(flags, 0);
  EXPECT_TRUE(c.cs->msix_enabled());

  // Function Mask is writable (uvfio's deliberate difference) and tells the listener.
  c.w16(flags, PCI_MSIX_FLAGS_MASKALL);
  EXPECT_TRUE(c.cs->msix_function_masked());
  EXPECT_EQ(c.r16(flags), PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | 7);
  EXPECT_EQ(ev.msix_fm, 1);
  c.w8(flags + 1, PCI_MSIX_FLAGS_MASKALL >> 8);  // same value: no event
  EXPECT_EQ(ev.msix_fm, 1);
  c.w16(flags, 0);
  EXPECT_FALSE(c.cs->msix_function_masked());
  EXPECT_EQ(ev.msix_fm, 2);
  c.cs->set_msix_enabled(false);
  EXPECT_EQ(c.r16(flags), 7);
  // Enabling through SET_IRQS leaves the Function Mask clear (msix_capability_init).
  c.w16(flags, PCI_MSIX_FLAGS_MASKALL);
  c.cs->set_msix_enabled(true);
  EXPECT_FALSE(c.cs->msix_function_masked());
}

// --- PM ---

TEST(ConfigPm, PowerStateTransitions) {
  Cfg c(full_layout());
  Events ev;
  ev.attach(*c.cs);
  const uint32_t ctrl = kPm + PCI_PM_CTRL;
  EXPECT_EQ(c.r16(kPm + PCI_PM_PMC), 3);  // PM 1.2, no D1/D2, no PME
  EXPECT_EQ(c.r16(ctrl), 0);
  c.w16(ctrl, 3);
  EXPECT_EQ(c.cs->power_state(), 3U);
  EXPECT_EQ(c.r16(ctrl) & PCI_PM_CTRL_STATE_MASK, 3);
  c.w16(ctrl, 1);  // D1 and D2 are not supported: nothing happens
  c.w16(ctrl, 2);
  EXPECT_EQ(c.cs->power_state(), 3U);
  c.w16(ctrl, 0);
  EXPECT_EQ(c.cs->power_state(), 0U);
  const std::vector<std::pair<unsigned, unsigned>> want = {{0, 3}, {3, 0}};
  EXPECT_EQ(ev.power, want);
  // A byte write at PMCSR works; one at its upper byte does not request a state.
  c.w8(ctrl, 3);
  EXPECT_EQ(c.cs->power_state(), 3U);
  c.w8(ctrl + 1, 0);
  EXPECT_EQ(c.cs->power_state(), 3U);
  // PME_En and PME_Status are virtualized and not writable.
  c.w16(ctrl, PCI_PM_CTRL_PME_ENABLE | PCI_PM_CTRL_PME_STATUS);
  EXPECT_EQ(c.r16(ctrl), 0);
  EXPECT_EQ(c.cs->power_state(), 0U);
}

TEST(ConfigPm, NoSoftResetDecidesWhatD3hotKeeps) {
  for (bool nsr : {false, true}) {
    Cfg c(full_layout(nsr));
    const uint32_t ctrl = kPm + PCI_PM_CTRL;
    EXPECT_EQ(c.r16(ctrl) & PCI_PM_CTRL_NO_SOFT_RESET, nsr ? PCI_PM_CTRL_NO_SOFT_RESET : 0);
    c.w16(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    c.cs->set_interrupt_status(true);
    c.w16(ctrl, 3);
    c.w16(PCI_COMMAND, PCI_COMMAND_MEMORY);  // changed while in D3hot
    c.w16(ctrl, 0);
    if (nsr) {
      // No_Soft_Reset: D3hot -> D0 keeps everything.
      EXPECT_EQ(c.cs->command(), PCI_COMMAND_MEMORY);
      EXPECT_EQ(c.r16(PCI_STATUS) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
    } else {
      // The function reset itself; vfio-pci restored the state saved at D3hot entry.
      EXPECT_EQ(c.cs->command(), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
      EXPECT_EQ(c.r16(PCI_STATUS) & PCI_STATUS_INTERRUPT, 0);
    }
  }
}

TEST(ConfigPm, MemoryGateIsTheDriversBitAfterD3hotRestore) {
  Cfg c(full_layout());  // No_Soft_Reset clear
  c.w16(kPm + PCI_PM_CTRL, 3);
  c.w16(PCI_COMMAND, 0);
  c.w16(kPm + PCI_PM_CTRL, 0);
  // The function got its pre-D3hot Command back, but vfio-pci gates BAR access on the Memory
  // bit the driver last wrote.
  EXPECT_EQ(c.cs->command() & PCI_COMMAND_MEMORY, PCI_COMMAND_MEMORY);
  EXPECT_FALSE(c.cs->memory_enabled());
  c.w16(PCI_COMMAND, PCI_COMMAND_MEMORY);
  EXPECT_TRUE(c.cs->memory_enabled());
}

// --- PCI Express ---

TEST(ConfigExpress, RegistersOfAnEndpoint) {
  Cfg c(full_layout());
  EXPECT_EQ(c.r16(kExp + PCI_EXP_FLAGS), 2 | PCI_EXP_TYPE_ENDPOINT << 4);
  EXPECT_EQ(c.r32(kExp + PCI_EXP_DEVCAP) & PCI_EXP_DEVCAP_FLR, PCI_EXP_DEVCAP_FLR);
  EXPECT_EQ(c.r16(kExp + PCI_EXP_DEVCTL), 0x2810);
  EXPECT_EQ(c.r16(kExp + PCI_EXP_LNKSTA), 0x11);  // 2.5 GT/s x1
  EXPECT_EQ(c.r32(kExp + PCI_EXP_LNKCAP2), PCI_EXP_LNKCAP2_SLS_2_5GB);
  // LnkSta2 is past the length vfio-pci gives a v2 endpoint: raw function space.
  EXPECT_EQ(c.r16(kExp + PCI_EXP_LNKSTA2), 0);
  EXPECT_EQ(c.r8(kExp + PCI_CAP_LIST_NEXT), 0);

  Cfg no_flr(full_layout(false, false));
  EXPECT_EQ(no_flr.r32(kExp + PCI_EXP_DEVCAP) & PCI_EXP_DEVCAP_FLR, 0U);
}

TEST(ConfigExpress, InitiateFlrFiresAndReadsZero) {
  Cfg c(full_layout());
  Events ev;
  ev.attach(*c.cs);
  const uint32_t devctl = kExp + PCI_EXP_DEVCTL;
  c.w16(devctl, c.r16(devctl) | PCI_EXP_DEVCTL_BCR_FLR);
  EXPECT_EQ(ev.flr, 1);
  EXPECT_EQ(c.r16(devctl) & PCI_EXP_DEVCTL_BCR_FLR, 0);
  c.w8(devctl + 1, PCI_EXP_DEVCTL_BCR_FLR >> 8);
  EXPECT_EQ(ev.flr, 2);
  Cfg no_flr(full_layout(false, false));
  Events ev2;
  ev2.attach(*no_flr.cs);
  no_flr.w16(devctl, PCI_EXP_DEVCTL_BCR_FLR);
  EXPECT_EQ(ev2.flr, 0);
  EXPECT_EQ(no_flr.r16(devctl) & PCI_EXP_DEVCTL_BCR_FLR, 0);
}

TEST(ConfigExpress, DeviceControlPermissions) {
  Cfg c(full_layout());
  const uint32_t devctl = kExp + PCI_EXP_DEVCTL;
  // MPS and MRRS are virtualized, phantom functions are not writable, Extended Tag and Aux
  // Power reach a function that does not implement them.
  c.w16(devctl, PCI_EXP_DEVCTL_PAYLOAD_4096B | PCI_EXP_DEVCTL_READRQ_128B | PCI_EXP_DEVCTL_PHANTOM |
                    PCI_EXP_DEVCTL_EXT_TAG | PCI_EXP_DEVCTL_AUX_PME | PCI_EXP_DEVCTL_URRE);
  EXPECT_EQ(c.r16(devctl), PCI_EXP_DEVCTL_PAYLOAD_4096B | PCI_EXP_DEVCTL_URRE);
  // Device Control 2: writable except ARI, but the function has no optional features.
  c.w16(kExp + PCI_EXP_DEVCTL2, 0xffff);
  EXPECT_EQ(c.r16(kExp + PCI_EXP_DEVCTL2), 0);
  // A new open shows the function's own MPS: the driver's never reached it.
  c.cs->enable();
  EXPECT_EQ(c.r16(devctl) & PCI_EXP_DEVCTL_PAYLOAD, 0);
  EXPECT_EQ(c.r16(devctl) & PCI_EXP_DEVCTL_URRE, PCI_EXP_DEVCTL_URRE);
  EXPECT_EQ(c.r16(devctl) & PCI_EXP_DEVCTL_READRQ, PCI_EXP_DEVCTL_READRQ_128B);
}

TEST(ConfigExpress, ReadOnlyRegistersAndDevStatus) {
  Cfg c(full_layout());
  c.w32(kExp + PCI_EXP_DEVCAP, 0);
  c.w32(kExp + PCI_EXP_LNKCAP, 0);
  c.w16(kExp + PCI_EXP_LNKCTL, PCI_EXP_LNKCTL_CCC);  // not writable through vfio-pci
  c.w16(kExp + PCI_EXP_DEVSTA, 0xffff);
  EXPECT_NE(c.r32(kExp + PCI_EXP_DEVCAP), 0U);
  EXPECT_EQ(c.r32(kExp + PCI_EXP_LNKCAP), 0x11U);
  EXPECT_EQ(c.r16(kExp + PCI_EXP_LNKCTL), 0);
  EXPECT_EQ(c.r16(kExp + PCI_EXP_DEVSTA), 0);
}

TEST(ConfigExpress, IntegratedEndpointHasNoLink) {
  DeviceLayout l = edu_layout();
  l.capabilities = {ExpressSpec{.port_type = PCI_EXP_TYPE_RC_END}, MsiSpec{}};
  Cfg c(l);
  EXPECT_EQ(c.r16(0x40 + PCI_EXP_FLAGS), 2 | PCI_EXP_TYPE_RC_END << 4);
  EXPECT_EQ(c.r32(0x40 + PCI_EXP_LNKCAP), 0U);
  EXPECT_EQ(c.r8(0x41), 0x40 + 0x2c);  // 0x2c bytes
}

// --- extended config space ---

TEST(ConfigExtended, EmptyListAndRawZeros) {
  Cfg c(full_layout());
  EXPECT_EQ(c.r32(0x100), 0U);  // no extended capabilities: the header dword is 0
  c.w32(0x100, 0xffffffff);
  c.w32(0xffc, 0xffffffff);
  EXPECT_EQ(c.r32(0x100), 0U);
  EXPECT_EQ(c.r32(0xffc), 0U);
  std::vector<uint8_t> ext(4096 - 256, 0xaa);
  ASSERT_EQ(c.cs->read(ext.data(), ext.size(), 256), static_cast<ssize_t>(ext.size()));
  EXPECT_EQ(std::count(ext.begin(), ext.end(), 0), static_cast<long>(ext.size()));
}

// --- access sizes, alignment, range ---

TEST(ConfigAccess, EverySizeAndAlignmentMatchesTheSnapshot) {
  Cfg c(full_layout());
  c.cs->set_interrupt_status(true);
  const std::vector<uint8_t> snap = c.cs->snapshot();
  ASSERT_EQ(snap.size(), 4096U);
  for (size_t pos = 0; pos < 0x120; ++pos) {
    for (size_t n = 1; n <= 8; ++n) {
      uint8_t buf[8];
      ASSERT_EQ(c.cs->read(buf, n, pos), static_cast<ssize_t>(n)) << pos << "+" << n;
      EXPECT_EQ(std::memcmp(buf, &snap[pos], n), 0) << pos << "+" << n;
    }
  }
  std::vector<uint8_t> all(4096);
  ASSERT_EQ(c.cs->read(all.data(), all.size(), 0), 4096);
  EXPECT_EQ(all, snap);
}

TEST(ConfigAccess, UnalignedWritesSplitLikeTheKernel) {
  Cfg c(full_layout());
  // A 4-byte write at 0x3b goes as 0x3b (reserved), 0x3c-0x3d (Line, Pin), 0x3e (Min_Gnt).
  const uint8_t data[4] = {0x11, 0x22, 0x33, 0x44};
  ASSERT_EQ(c.cs->write(data, 4, 0x3b), 4);
  EXPECT_EQ(c.r8(PCI_INTERRUPT_LINE), 0x22);  // writable, virtualized
  EXPECT_EQ(c.r8(PCI_INTERRUPT_PIN), 1);      // read-only
  // A write spanning two capabilities: the end of MSI-X (PBA offset, RO) and the start of PCIe.
  const uint8_t span[8] = {0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
  ASSERT_EQ(c.cs->write(span, 8, kMsix + 8), 8);
  EXPECT_EQ(c.r32(kMsix + PCI_MSIX_PBA), 0x804U);
  EXPECT_EQ(c.r16(kExp), PCI_CAP_ID_EXP);
  // A long write covering Command and the BARs goes through each register's rules.
  std::vector<uint8_t> hdr(64, 0xff);
  ASSERT_EQ(c.cs->write(hdr.data(), hdr.size(), 0), 64);
  EXPECT_EQ(c.r32(PCI_VENDOR_ID), 0x12348086U);
  EXPECT_EQ(c.r32(PCI_BASE_ADDRESS_0), 0xfffff000U);
  EXPECT_EQ(c.r16(PCI_COMMAND), PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                                    PCI_COMMAND_PARITY | PCI_COMMAND_SERR |
                                    PCI_COMMAND_INTX_DISABLE);
}

TEST(ConfigAccess, OutOfRangeIsEfaultAndDoesNothing) {
  Cfg conv(edu_layout());
  uint8_t buf[16] = {};
  EXPECT_RC(conv.cs->read(buf, 1, 256), EFAULT);
  EXPECT_RC(conv.cs->read(buf, 4, 254), EFAULT);
  EXPECT_RC(conv.cs->read(buf, 4, uint64_t{1} << 40), EFAULT);
  EXPECT_RC(conv.cs->read(buf, 4, ~uint64_t{0}), EFAULT);
  EXPECT_RC(conv.cs->read(buf, ~size_t{0}, 4), EFAULT);
  EXPECT_RC(conv.cs->read(nullptr, 4, 0), EFAULT);
  EXPECT_RC(conv.cs->write(nullptr, 4, 0), EFAULT);
  EXPECT_EQ(conv.cs->read(buf, 0, 4096), 0);  // nothing to do
  EXPECT_EQ(conv.cs->write(buf, 0, 4096), 0);
  Cfg pcie(full_layout());
  EXPECT_EQ(pcie.cs->read(buf, 4, 4092), 4);
  EXPECT_RC(pcie.cs->read(buf, 8, 4092), EFAULT);
  // A write running off the end changes nothing, not even its first bytes.
  const uint8_t ones[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  EXPECT_RC(conv.cs->write(ones, 8, 252), EFAULT);
  const uint8_t line[4] = {0x0b, 0, 0, 0};
  EXPECT_RC(conv.cs->write(line, 300, PCI_INTERRUPT_LINE), EFAULT);
  EXPECT_EQ(conv.r8(PCI_INTERRUPT_LINE), 0);
}

// --- reset, enable, disable ---

TEST(ConfigReset, FunctionResetKeepsTheDriversViewAndClearsTheRest) {
  Cfg c(full_layout());
  c.w16(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
  c.w32(PCI_BASE_ADDRESS_0, 0xfe001000);
  c.w8(PCI_INTERRUPT_LINE, 10);
  c.w8(PCI_CACHE_LINE_SIZE, 0x10);
  c.w32(kMsi + PCI_MSI_ADDRESS_LO, 0xfee00000);
  c.w16(kMsi + PCI_MSI_DATA_64, 0x41);
  c.cs->set_msi_enabled(true, 4);
  c.w16(kMsi + PCI_MSI_FLAGS, c.r16(kMsi + PCI_MSI_FLAGS) | PCI_MSI_FLAGS_ENABLE | 2 << 4);
  c.w32(kMsi + PCI_MSI_MASK_64, 0x3);
  c.w16(kExp + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_PAYLOAD_256B | PCI_EXP_DEVCTL_READRQ_1024B);
  c.cs->set_msix_enabled(true);
  c.w16(kMsix + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_MASKALL);
  c.w16(kPm + PCI_PM_CTRL, 3);  // a reset starts by bringing the function back to D0
  const std::vector<uint8_t> before = c.cs->snapshot();
  // What the function reports on its own goes away with the reset.
  c.cs->set_interrupt_status(true);
  c.cs->set_msi_pending(1, true);

  c.cs->reset();
  EXPECT_EQ(c.cs->power_state(), 0U);
  EXPECT_FALSE(c.cs->msi_pending(1));
  EXPECT_FALSE(c.cs->msix_function_masked());
  EXPECT_TRUE(c.cs->msix_enabled());  // restored like pci_restore_msix_state
  EXPECT_TRUE(c.cs->msi_enabled());
  std::vector<uint8_t> after = c.cs->snapshot();
  EXPECT_EQ(after[PCI_STATUS] & PCI_STATUS_INTERRUPT, 0);
  // Everything else reads as before, except the power state (D0 now) and the Function Mask.
  std::vector<uint8_t> want = before;
  want[kPm + PCI_PM_CTRL] &= static_cast<uint8_t>(~PCI_PM_CTRL_STATE_MASK);
  want[kMsix + PCI_MSIX_FLAGS + 1] &= static_cast<uint8_t>(~(PCI_MSIX_FLAGS_MASKALL >> 8));
  EXPECT_EQ(after, want);
}

TEST(ConfigReset, EnableStartsAFreshViewAndDisableRestoresOpenState) {
  Cfg c(full_layout());
  const std::vector<uint8_t> fresh = c.cs->snapshot();
  c.w16(PCI_COMMAND, PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE | PCI_COMMAND_SERR);
  c.w32(PCI_BASE_ADDRESS_2, 0xffffffff);
  c.w8(PCI_INTERRUPT_LINE, 5);
  c.w8(PCI_CACHE_LINE_SIZE, 0x20);
  c.w32(kMsi + PCI_MSI_MASK_64, 0xf);
  c.w16(kExp + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_URRE);
  c.cs->set_interrupt_status(true);
  c.cs->set_msi_enabled(true, 1);
  c.w16(kPm + PCI_PM_CTRL, 3);
  c.cs->set_msi_enabled(false, 0);  // the IRQ side tears down before the core closes
  c.cs->disable();
  EXPECT_EQ(c.cs->power_state(), 0U);
  EXPECT_FALSE(c.cs->bus_master());
  c.cs->enable();
  EXPECT_EQ(c.cs->snapshot(), fresh);
  EXPECT_EQ(c.r16(PCI_COMMAND), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
}

// --- events ---

TEST(ConfigEventsTest, ListenersMayCallBackIn) {
  Cfg c(full_layout());
  uint16_t seen = 0;
  int flr = 0;
  ConfigEvents ev;
  ev.command_changed = [&](uint16_t, uint16_t) { seen = c.cs->command(); };
  ev.flr = [&] {
    ++flr;
    c.cs->reset();  // the core resets from its FLR listener
  };
  c.cs->set_events(std::move(ev));
  c.w16(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
  EXPECT_EQ(seen, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
  c.w16(kExp + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR);
  EXPECT_EQ(flr, 1);
}

}  // namespace
}  // namespace uvfio::pci
