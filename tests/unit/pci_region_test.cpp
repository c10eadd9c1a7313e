// vfio-pci regions of the core: GET_REGION_INFO for every index with its capability chain and the
// too-small-argsz dance, BAR access split into naturally aligned pieces, memory-backed BARs shared
// between read/write, the model and mmap, mmap refusals, the MSI-X carve-out, Memory decode off,
// the ROM and the VGA region (Linux 6.12 vfio_pci_core.c / vfio_pci_rdwr.c).
#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/mman.h>

#include <cstring>
#include <vector>

#include "pci/msix_table.h"
#include "pci/region_info.h"
#include "pci_test_model.h"
#include "test_util.h"
#include "uvfio/vfio/vfio_system.h"

using namespace uvfio;
using namespace uvfio::pci;
using uvfio::test::CoreUnderTest;
using uvfio::test::region;
using uvfio::test::TestModel;

namespace {

constexpr uint64_t kPage = 4096;

// BAR0 MMIO 4 KiB; BAR1 memory-backed 8 KiB; BAR2 64-bit memory-backed 16 KiB holding the MSI-X
// table (page 1) and PBA (page 3); BAR4 I/O 32 bytes; BAR5 none; a 4 KiB ROM; PM.
DeviceLayout full_layout() {
  DeviceLayout l = uvfio::test::simple_layout();
  l.bars[2] = {BarType::kMem64, 4 * kPage, true, true};
  l.bars[4] = {BarType::kIo, 32, false, false};
  l.rom_size = 4096;
  l.capabilities = {MsiSpec{}, PmSpec{},
                    MsixSpec{.vectors = 8,
                             .table_bar = 2,
                             .table_offset = 0x1000,
                             .pba_bar = 2,
                             .pba_offset = 0x3000}};
  return l;
}

struct Region : ::testing::Test {
  Region() : t(full_layout()) { EXPECT_EQ(t.open(), 0); }
  ~Region() override { t.core->close_device(); }
  ssize_t rd(unsigned index, uint64_t off, void* buf, size_t n) {
    return t.core->read(buf, n, region(index) + off);
  }
  ssize_t wr(unsigned index, uint64_t off, const void* buf, size_t n) {
    return t.core->write(buf, n, region(index) + off);
  }
  uint64_t rd_value(unsigned index, uint64_t off, unsigned n) {
    uint64_t v = 0;
    EXPECT_EQ(rd(index, off, &v, n), n);
    return v;
  }
  CoreUnderTest t;
};

// ------------------------------------------------------------------------- region info

TEST_F(Region, InfoOfEveryIndex) {
  struct Want {
    uint64_t size;
    uint32_t index;
    uint32_t flags;
  };
  constexpr uint32_t RW = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
  const Want want[] = {
      {4096, VFIO_PCI_BAR0_REGION_INDEX, RW},  // MMIO: no mmap (accesses could not be trapped)
      {8192, VFIO_PCI_BAR1_REGION_INDEX, RW | VFIO_REGION_INFO_FLAG_MMAP},
      {4 * kPage, VFIO_PCI_BAR2_REGION_INDEX,
       RW | VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS},
      {0, VFIO_PCI_BAR3_REGION_INDEX, 0},  // the upper half of BAR2
      {32, VFIO_PCI_BAR4_REGION_INDEX, RW},
      {0, VFIO_PCI_BAR5_REGION_INDEX, 0},
      {4096, VFIO_PCI_ROM_REGION_INDEX, VFIO_REGION_INFO_FLAG_READ},
      {256, VFIO_PCI_CONFIG_REGION_INDEX, RW},
  };
  for (const Want& w : want) {
    long rc = 0;
    // A big enough argsz, so capabilities are copied.
    auto buf = t.region_info_raw(w.index, 256, &rc);
    ASSERT_EQ(rc, 0) << w.index;
    vfio_region_info ri{};
    std::memcpy(&ri, buf.data(), sizeof ri);
    EXPECT_EQ(ri.index, w.index);
    EXPECT_EQ(ri.size, w.size) << w.index;
    EXPECT_EQ(ri.flags, w.flags) << w.index;
    EXPECT_EQ(ri.offset, uint64_t{w.index} << 40) << w.index;
    EXPECT_EQ(ri.argsz, 256u) << w.index;
  }
  long rc = 0;
  t.region_info(VFIO_PCI_VGA_REGION_INDEX, &rc);
  EXPECT_RC(rc, EINVAL);  // not a VGA device (vfio_pci_ioctl_get_region_info: !has_vga)
  t.region_info(VFIO_PCI_NUM_REGIONS, &rc);
  EXPECT_RC(rc, EINVAL);
  t.region_info(0xffffffff, &rc);
  EXPECT_RC(rc, EINVAL);
  t.region_info_raw(0, sizeof(vfio_region_info) - 1, &rc);
  EXPECT_RC(rc, EINVAL);
  EXPECT_RC(t.core->ioctl(VFIO_DEVICE_GET_REGION_INFO, 0), EFAULT);
}

TEST_F(Region, PcieFunctionHas4KiBConfig) {
  DeviceLayout l = uvfio::test::simple_layout();
  l.capabilities.emplace_back(ExpressSpec{});
  CoreUnderTest p(l);
  long rc = 0;
  auto ri = p.region_info(VFIO_PCI_CONFIG_REGION_INDEX, &rc);
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(ri.size, 4096u);
}

TEST_F(Region, SparseMmapCapabilityBytes) {
  long rc = 0;
  auto buf = t.region_info_raw(VFIO_PCI_BAR2_REGION_INDEX, 256, &rc);
  ASSERT_EQ(rc, 0);
  vfio_region_info ri{};
  std::memcpy(&ri, buf.data(), sizeof ri);
  ASSERT_EQ(ri.cap_offset, sizeof(vfio_region_info));
  // header {id 1, version 1, next 0}, nr_areas 2, reserved 0, then the areas around the table
  // page (0x1000) and the PBA page (0x3000): [0, 0x1000) and [0x2000, 0x3000).
  struct {
    uint16_t id, version;
    uint32_t next, nr_areas, reserved;
    uint64_t area[2][2];
  } want{VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, 0, 2, 0, {{0, 0x1000}, {0x2000, 0x1000}}};
  static_assert(sizeof want == 48);
  EXPECT_EQ(std::memcmp(buf.data() + ri.cap_offset, &want, sizeof want), 0);
  // Nothing written past the capability.
  EXPECT_EQ(buf[ri.cap_offset + sizeof want], 0xcc);
}

TEST_F(Region, TooSmallArgszGetsTheSizeBack) {
  long rc = 0;
  // The kernel's dance: FLAG_CAPS, argsz = needed, cap_offset 0, no capability copied.
  auto buf = t.region_info_raw(VFIO_PCI_BAR2_REGION_INDEX, sizeof(vfio_region_info), &rc);
  ASSERT_EQ(rc, 0);
  vfio_region_info ri{};
  std::memcpy(&ri, buf.data(), sizeof ri);
  EXPECT_EQ(ri.argsz, sizeof(vfio_region_info) + 48);
  EXPECT_EQ(ri.cap_offset, 0u);
  EXPECT_TRUE(ri.flags & VFIO_REGION_INFO_FLAG_CAPS);
  EXPECT_EQ(ri.size, 4 * kPage);
  EXPECT_EQ(buf[sizeof ri], 0xcc);  // nothing past the struct
  // One byte short is still too small.
  buf = t.region_info_raw(VFIO_PCI_BAR2_REGION_INDEX, ri.argsz - 1, &rc);
  std::memcpy(&ri, buf.data(), sizeof ri);
  EXPECT_EQ(ri.cap_offset, 0u);
  // Exactly the size asked for: the chain follows the struct.
  buf = t.region_info_raw(VFIO_PCI_BAR2_REGION_INDEX, sizeof(vfio_region_info) + 48, &rc);
  ASSERT_EQ(rc, 0);
  std::memcpy(&ri, buf.data(), sizeof ri);
  EXPECT_EQ(ri.cap_offset, sizeof(vfio_region_info));
  EXPECT_EQ(ri.argsz, sizeof(vfio_region_info) + 48);
}

TEST_F(Region, NoCapabilitiesLeaveCapOffsetAlone) {
  // vfio_pci_ioctl_get_region_info copies the user's struct in and writes it back whole, so a
  // region without capabilities returns whatever cap_offset the caller passed.
  std::vector<uint8_t> buf(64);
  vfio_region_info ri{};
  ri.argsz = sizeof ri;
  ri.index = VFIO_PCI_BAR0_REGION_INDEX;
  ri.cap_offset = 0x1234;
  std::memcpy(buf.data(), &ri, sizeof ri);
  ASSERT_EQ(t.core->ioctl(VFIO_DEVICE_GET_REGION_INFO, reinterpret_cast<unsigned long>(buf.data())),
            0);
  std::memcpy(&ri, buf.data(), sizeof ri);
  EXPECT_EQ(ri.cap_offset, 0x1234u);
  EXPECT_EQ(ri.flags & VFIO_REGION_INFO_FLAG_CAPS, 0u);
}

TEST(InfoCapChain, LinksAlignsAndShifts) {
  InfoCapChain chain;
  add_msix_mappable_cap(chain);               // 8 bytes
  add_region_type_cap(chain, 0x80001234, 7);  // 16 bytes
  const vfio_region_sparse_mmap_area areas[] = {{0, 0x1000}};
  add_sparse_mmap_cap(chain, areas);                       // 16 + 16 bytes
  chain.add(0x55, 2, std::as_bytes(std::span("abc", 3)));  // 8 + 3 -> 16 bytes
  ASSERT_EQ(chain.size(), 8u + 16 + 32 + 16);
  auto placed = chain.placed_at(32);
  auto header = [&](size_t at) {
    vfio_info_cap_header h{};
    std::memcpy(&h, placed.data() + at, sizeof h);
    return h;
  };
  EXPECT_EQ(header(0).id, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE);
  EXPECT_EQ(header(0).version, 1);
  EXPECT_EQ(header(0).next, 32u + 8);
  EXPECT_EQ(header(8).id, VFIO_REGION_INFO_CAP_TYPE);
  EXPECT_EQ(header(8).next, 32u + 24);
  uint32_t type[2];
  std::memcpy(type, placed.data() + 8 + 8, sizeof type);
  EXPECT_EQ(type[0], 0x80001234u);
  EXPECT_EQ(type[1], 7u);
  EXPECT_EQ(header(24).id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
  EXPECT_EQ(header(24).next, 32u + 56);
  EXPECT_EQ(header(56).id, 0x55);
  EXPECT_EQ(header(56).version, 2);
  EXPECT_EQ(header(56).next, 0u);                                     // the tail
  EXPECT_EQ(std::memcmp(placed.data() + 64, "abc\0\0\0\0\0", 8), 0);  // zero padding
  // Unshifted, the offsets are relative to the chain.
  auto raw = chain.placed_at(0);
  vfio_info_cap_header h{};
  std::memcpy(&h, raw.data(), sizeof h);
  EXPECT_EQ(h.next, 8u);
}

// -------------------------------------------------------------------------- BAR access

TEST_F(Region, MmioAccessIsSplitIntoNaturallyAlignedPieces) {
  t.model->take_log();
  for (uint64_t off = 0; off < 16; ++off) {
    for (size_t len = 1; len <= 16; ++len) {
      std::vector<uint8_t> got(len);
      ASSERT_EQ(rd(0, 0x100 + off, got.data(), len), static_cast<ssize_t>(len));
      auto log = t.model->take_log();
      uint64_t at = 0x100 + off;
      for (const auto& a : log) {
        EXPECT_FALSE(a.write);
        EXPECT_EQ(a.offset, at) << "off " << off << " len " << len;
        EXPECT_EQ(a.offset % a.size, 0u) << "unaligned piece";
        EXPECT_TRUE(a.size == 1 || a.size == 2 || a.size == 4 || a.size == 8);
        at += a.size;
      }
      EXPECT_EQ(at, 0x100 + off + len);
      // The widest piece that fits is used: a read of 8 at an 8-aligned offset is one access.
      if (off % 8 == 0 && len == 8) {
        EXPECT_EQ(log.size(), 1u);
      }
      for (size_t i = 0; i < len; ++i) {
        EXPECT_EQ(got[i], static_cast<uint8_t>((0x100 + off + i) ^ 0x5a));
      }
    }
  }
  // Writes split the same way and carry the right bytes.
  const uint8_t data[7] = {1, 2, 3, 4, 5, 6, 7};
  ASSERT_EQ(wr(0, 0x201, data, sizeof data), 7);
  auto log = t.model->take_log();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0], (TestModel::Access{0, 0x201, 1, 0x01, true}));
  EXPECT_EQ(log[1], (TestModel::Access{0, 0x202, 2, 0x0302, true}));
  EXPECT_EQ(log[2], (TestModel::Access{0, 0x204, 4, 0x07060504, true}));
  EXPECT_EQ(rd_value(0, 0x200, 8), 0x070605040302015au);  // byte 0x200 is still 0x200 ^ 0x5a
}

TEST_F(Region, AccessesClipAtTheEndAndFailPastIt) {
  uint64_t v = 0;
  EXPECT_EQ(rd(0, 4096 - 4, &v, 8), 4);  // count = min(count, end - pos)
  EXPECT_RC(rd(0, 4096, &v, 4), EINVAL);
  EXPECT_RC(wr(0, 4096, &v, 4), EINVAL);
  EXPECT_RC(rd(VFIO_PCI_BAR5_REGION_INDEX, 0, &v, 4), EINVAL);  // no BAR
  EXPECT_RC(rd(VFIO_PCI_BAR3_REGION_INDEX, 0, &v, 4), EINVAL);  // 64-bit BAR's upper half
  EXPECT_RC(rd(VFIO_PCI_VGA_REGION_INDEX, 0x3c0, &v, 1), EINVAL);
  EXPECT_RC(rd(VFIO_PCI_NUM_REGIONS, 0, &v, 4), EINVAL);
  EXPECT_RC(t.core->read(&v, 4, ~uint64_t{0}), EINVAL);
  // Zero bytes succeed before any check, as vfio_pci_core_read/write.
  EXPECT_EQ(t.core->read(&v, 0, region(VFIO_PCI_NUM_REGIONS) + 5), 0);
  EXPECT_EQ(t.core->write(&v, 0, region(VFIO_PCI_ROM_REGION_INDEX)), 0);
}

TEST_F(Region, IoBarGoesToTheModel) {
  t.model->take_log();
  EXPECT_EQ(rd_value(VFIO_PCI_BAR4_REGION_INDEX, 4, 4), 0x5d5c5f5eu);  // bytes i ^ 0x5a
  auto log = t.model->take_log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].bar, 4u);
  EXPECT_EQ(log[0].offset, 4u);
  uint64_t v = 0;
  EXPECT_RC(rd(VFIO_PCI_BAR4_REGION_INDEX, 32, &v, 1), EINVAL);
}

TEST_F(Region, MemoryBackedBarIsOneSetOfBytes) {
  std::byte* mem = t.model->bus()->bar_memory(1);
  ASSERT_NE(mem, nullptr);
  EXPECT_EQ(t.model->bus()->bar_memory(0), nullptr);  // MMIO
  EXPECT_EQ(t.model->bus()->bar_memory(6), nullptr);
  // A region write lands in the memory the model sees, without an MMIO callback.
  const char msg[] = "hello, BAR1";
  t.model->take_log();
  ASSERT_EQ(wr(1, 0x1003, msg, sizeof msg), static_cast<ssize_t>(sizeof msg));
  EXPECT_EQ(std::memcmp(mem + 0x1003, msg, sizeof msg), 0);
  EXPECT_TRUE(t.model->take_log().empty());
  // The model's writes are what the region reads.
  std::memcpy(mem + 0x40, "model", 5);
  char back[5];
  ASSERT_EQ(rd(1, 0x40, back, 5), 5);
  EXPECT_EQ(std::memcmp(back, "model", 5), 0);
  // An mmap of the region shares the same bytes, both ways.
  void* p = t.core->mmap(8192, PROT_READ | PROT_WRITE, MAP_SHARED, region(1));
  ASSERT_FALSE(vfio::VfioSystem::mmap_failed(p));
  auto* m = static_cast<char*>(p);
  EXPECT_EQ(std::memcmp(m + 0x1003, msg, sizeof msg), 0);
  std::memcpy(m + 0x1ff0, "mapped", 7);
  ASSERT_EQ(rd(1, 0x1ff0, back, 5), 5);
  EXPECT_EQ(std::memcmp(back, "mappe", 5), 0);
  EXPECT_EQ(std::memcmp(mem + 0x1ff0, "mapped", 6), 0);
  // A mapping of the second page alone sees the same page.
  void* q = t.core->mmap(4096, PROT_READ, MAP_SHARED, region(1) + 4096);
  ASSERT_FALSE(vfio::VfioSystem::mmap_failed(q));
  EXPECT_EQ(std::memcmp(static_cast<char*>(q) + 0xff0, "mapped", 6), 0);
  ::munmap(q, 4096);
  ::munmap(p, 8192);
}

TEST_F(Region, MmapRefusals) {
  auto mm = [&](size_t len, int flags, uint64_t off) {
    void* p = t.core->mmap(len, PROT_READ | PROT_WRITE, flags, off);
    if (!vfio::VfioSystem::mmap_failed(p)) ::munmap(p, len);
    return vfio::VfioSystem::mmap_failed(p) ? static_cast<long>(reinterpret_cast<intptr_t>(p)) : 0;
  };
  EXPECT_RC(mm(4096, MAP_SHARED, region(0)), EINVAL);                           // MMIO BAR
  EXPECT_RC(mm(4096, MAP_PRIVATE, region(1)), EINVAL);                          // private mapping
  EXPECT_RC(mm(4096, MAP_SHARED, region(VFIO_PCI_BAR4_REGION_INDEX)), EINVAL);  // I/O
  EXPECT_RC(mm(4096, MAP_SHARED, region(VFIO_PCI_BAR5_REGION_INDEX)), EINVAL);  // none
  EXPECT_RC(mm(4096, MAP_SHARED, region(VFIO_PCI_ROM_REGION_INDEX)), EINVAL);
  EXPECT_RC(mm(4096, MAP_SHARED, region(VFIO_PCI_CONFIG_REGION_INDEX)), EINVAL);
  EXPECT_RC(mm(4096, MAP_SHARED, region(VFIO_PCI_VGA_REGION_INDEX)), EINVAL);
  EXPECT_RC(mm(4096, MAP_SHARED, region(VFIO_PCI_NUM_REGIONS)), EINVAL);
  EXPECT_RC(mm(0, MAP_SHARED, region(1)), EINVAL);                 // no length
  EXPECT_RC(mm(4096, MAP_SHARED, region(1) + 100), EINVAL);        // unaligned offset
  EXPECT_RC(mm(size_t{3} * 4096, MAP_SHARED, region(1)), EINVAL);  // past the end
  EXPECT_RC(mm(4096, MAP_SHARED, region(1) + 8192), EINVAL);       // starts at the end
  EXPECT_RC(mm(~size_t{0} - 10, MAP_SHARED, region(1)), EINVAL);   // length overflows
  // BAR2: the MSI-X table page (1) and PBA page (3) never map; pages 0 and 2 do.
  EXPECT_RC(mm(4096, MAP_SHARED, region(2) + 0x1000), EINVAL);
  EXPECT_RC(mm(4096, MAP_SHARED, region(2) + 0x3000), EINVAL);
  EXPECT_RC(mm(size_t{2} * 4096, MAP_SHARED, region(2)), EINVAL);  // covers the table page
  EXPECT_RC(mm(size_t{4} * 4096, MAP_SHARED, region(2)), EINVAL);
  EXPECT_EQ(mm(4096, MAP_SHARED, region(2)), 0);
  EXPECT_EQ(mm(4096, MAP_SHARED, region(2) + 0x2000), 0);
  EXPECT_EQ(mm(100, MAP_SHARED | MAP_POPULATE, region(1)), 0);  // rounded up to a page
}

TEST(RegionLayout, SubPageMemoryBarMapsItsPage) {
  DeviceLayout l = uvfio::test::simple_layout();
  l.bars[1] = {BarType::kMem32, 64, false, true};
  CoreUnderTest t(l);
  ASSERT_EQ(t.open(), 0);
  long rc = 0;
  auto ri = t.region_info(VFIO_PCI_BAR1_REGION_INDEX, &rc);
  EXPECT_EQ(ri.size, 64u);
  EXPECT_TRUE(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
  void* p = t.core->mmap(4096, PROT_READ | PROT_WRITE, MAP_SHARED, region(1));
  ASSERT_FALSE(vfio::VfioSystem::mmap_failed(p));
  static_cast<char*>(p)[10] = 'x';
  char c = 0;
  EXPECT_EQ(t.core->read(&c, 1, region(1) + 10), 1);
  EXPECT_EQ(c, 'x');
  ::munmap(p, 4096);
  EXPECT_TRUE(vfio::VfioSystem::mmap_failed(
      t.core->mmap(8192, PROT_READ, MAP_SHARED, region(1))));  // past the page
}

TEST(RegionLayout, BarThatIsAllMsixHasNoMmap) {
  DeviceLayout l = uvfio::test::simple_layout();
  l.bars[1] = {BarType::kMem32, 4096, false, true};
  l.capabilities = {
      MsixSpec{.vectors = 4, .table_bar = 1, .table_offset = 0, .pba_bar = 1, .pba_offset = 0x800}};
  CoreUnderTest t(l);
  ASSERT_EQ(t.open(), 0);
  long rc = 0;
  auto ri = t.region_info(VFIO_PCI_BAR1_REGION_INDEX, &rc);
  ASSERT_EQ(rc, 0);
  EXPECT_EQ(ri.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
}

TEST_F(Region, MsixTableAndPbaAreCarvedOut) {
  MsixTable* msix = t.core->msix();
  ASSERT_NE(msix, nullptr);
  std::byte* mem = t.model->bus()->bar_memory(2);
  std::memset(mem + 0x1000, 0xab, 0x100);
  // Vector Control of entry 0 reads the emulated table (masked at power-on), not the memory.
  EXPECT_EQ(rd_value(2, 0x1000 + 12, 4), 1u);
  // A 16-byte write of entry 1 is split into table accesses.
  const uint32_t entry[4] = {0xfee01000, 0, 0x4041, 0};
  ASSERT_EQ(wr(2, 0x1010, entry, sizeof entry), 16);
  EXPECT_EQ(msix->table_read(0x10, 4), 0xfee01000u);
  EXPECT_EQ(msix->table_read(0x18, 4), 0x4041u);
  EXPECT_FALSE(msix->masked(1));
  EXPECT_EQ(rd_value(2, 0x1018, 4), 0x4041u);
  EXPECT_EQ(static_cast<uint8_t>(mem[0x1010]), 0xab);  // the memory behind is untouched
  // The PBA reads the emulated pending bits; writes are ignored.
  EXPECT_EQ(rd_value(2, 0x3000, 8), 0u);
  const uint64_t ones = ~uint64_t{0};
  EXPECT_EQ(wr(2, 0x3000, &ones, 8), 8);
  EXPECT_EQ(rd_value(2, 0x3000, 8), 0u);
  // An access across the table's end is split at the edge: the table part goes to the table,
  // the rest is the BAR's memory.
  std::memset(mem + 0x1080, 0x11, 16);
  uint8_t buf[16];
  ASSERT_EQ(rd(2, 0x1078, buf, 16), 16);
  EXPECT_EQ(buf[8], 0x11);
  EXPECT_EQ(buf[15], 0x11);
  uint32_t ctl7 = 0;
  std::memcpy(&ctl7, buf + 4, 4);
  EXPECT_EQ(ctl7, 1u);  // entry 7's Vector Control
}

TEST(RegionLayout, MsixInAnMmioBarStaysOutOfTheModel) {
  DeviceLayout l = uvfio::test::simple_layout();
  l.capabilities = {MsixSpec{
      .vectors = 2, .table_bar = 0, .table_offset = 0x800, .pba_bar = 0, .pba_offset = 0x900}};
  CoreUnderTest t(l);
  ASSERT_EQ(t.open(), 0);
  t.model->take_log();
  std::vector<uint8_t> buf(0x200);
  ASSERT_EQ(t.core->read(buf.data(), buf.size(), region(0) + 0x7f8), 0x200);
  for (const auto& a : t.model->take_log()) {
    // The table is [0x800, 0x820), the PBA [0x900, 0x908).
    EXPECT_FALSE(a.offset + a.size > 0x800 && a.offset < 0x820) << a.offset;
    EXPECT_FALSE(a.offset + a.size > 0x900 && a.offset < 0x908) << a.offset;
  }
  uint32_t ctl = 0;
  std::memcpy(&ctl, buf.data() + 8 + 12, 4);
  EXPECT_EQ(ctl, 1u);
}

TEST_F(Region, MemoryDecodeOffMeansEio) {
  uint64_t v = 0;
  t.command_clear(PCI_COMMAND_MEMORY);
  EXPECT_RC(rd(0, 0, &v, 4), EIO);
  EXPECT_RC(wr(0, 0, &v, 4), EIO);
  EXPECT_RC(rd(1, 0, &v, 4), EIO);
  EXPECT_RC(rd(2, 0x1000, &v, 4), EIO);   // uvfio: the emulated table too (documented)
  EXPECT_RC(rd(0, 4096, &v, 4), EINVAL);  // range is checked first, as the kernel
  // Not the I/O BAR (the kernel does not check I/O decode), not the ROM, not config space.
  EXPECT_EQ(rd(VFIO_PCI_BAR4_REGION_INDEX, 0, &v, 4), 4);
  EXPECT_EQ(rd(VFIO_PCI_ROM_REGION_INDEX, 0, &v, 4), 4);
  t.command_set(PCI_COMMAND_MEMORY);
  EXPECT_EQ(rd(0, 0, &v, 4), 4);
}

TEST_F(Region, D3hotMeansEio) {
  auto pm = t.core->config().find_capability(PCI_CAP_ID_PM);
  ASSERT_TRUE(pm.has_value());
  uint64_t v = 0;
  t.cfg_write(*pm + PCI_PM_CTRL, 2, 3);  // D3hot
  ASSERT_EQ(t.core->config().power_state(), 3u);
  EXPECT_RC(rd(0, 0, &v, 4), EIO);
  t.cfg_write(*pm + PCI_PM_CTRL, 2, 0);
  EXPECT_EQ(rd(0, 0, &v, 4), 4);
}

TEST_F(Region, RomReadsAsFfAndRefusesWrites) {
  std::vector<uint8_t> buf(64, 0);
  EXPECT_EQ(rd(VFIO_PCI_ROM_REGION_INDEX, 4096 - 16, buf.data(), buf.size()), 16);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(buf[i], 0xff);
  EXPECT_EQ(buf[16], 0);
  EXPECT_RC(rd(VFIO_PCI_ROM_REGION_INDEX, 4096, buf.data(), 1), EINVAL);
  EXPECT_RC(wr(VFIO_PCI_ROM_REGION_INDEX, 0, buf.data(), 4), EINVAL);
}

TEST(RegionLayout, NoRom) {
  CoreUnderTest t(uvfio::test::simple_layout());
  ASSERT_EQ(t.open(), 0);
  long rc = 0;
  auto ri = t.region_info(VFIO_PCI_ROM_REGION_INDEX, &rc);
  EXPECT_EQ(ri.size, 0u);
  EXPECT_EQ(ri.flags, 0u);
  uint8_t b = 0;
  EXPECT_RC(t.core->read(&b, 1, region(VFIO_PCI_ROM_REGION_INDEX)), EINVAL);
}

}  // namespace
