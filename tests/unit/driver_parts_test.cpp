// The driver API's self-contained parts: target parsing, error texts, the IOVA allocator, the
// region-info and capability-chain parsers (malformed input included) and DmaBuffer.
#include <gtest/gtest.h>
#include <linux/vfio.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "driver/dma_iova_allocator.h"
#include "driver/region_info_query.h"
#include "driver_test_util.h"
#include "test_util.h"
#include "uvfio/driver/driver.h"

namespace uvfio::driver {
namespace {

using test::error_of;

TEST(DriverError, MessageNamesOperationTargetAndErrno) {
  const Error e("VFIO_DEVICE_SET_IRQS", "emu:edu", EINVAL);
  EXPECT_STREQ(e.what(), "VFIO_DEVICE_SET_IRQS on emu:edu: EINVAL (Invalid argument)");
  EXPECT_EQ(e.op(), "VFIO_DEVICE_SET_IRQS");
  EXPECT_EQ(e.target(), "emu:edu");
  EXPECT_EQ(e.error(), EINVAL);
  const Error d("mmap", "", ENOMEM, "no huge pages");
  EXPECT_STREQ(d.what(), "mmap: ENOMEM (Cannot allocate memory): no huge pages");
  EXPECT_EQ(d.detail(), "no huge pages");
  const std::runtime_error& base = d;  // catchable as a standard exception
  EXPECT_NE(std::string(base.what()).find("ENOMEM"), std::string::npos);
}

TEST(DriverTarget, ParsesSchemeNameAndOptions) {
  Target t = Target::parse("emu:edu,iommu=type1,dma_mask=0xffffffff,empty=");
  EXPECT_EQ(t.text, "emu:edu,iommu=type1,dma_mask=0xffffffff,empty=");
  EXPECT_EQ(t.scheme, "emu");
  EXPECT_EQ(t.name, "edu");
  EXPECT_EQ(t.options, (std::map<std::string, std::string>{
                           {"iommu", "type1"}, {"dma_mask", "0xffffffff"}, {"empty", ""}}));
  Target p = Target::parse("pci:0000:00:02.0");
  EXPECT_EQ(p.scheme, "pci");
  EXPECT_EQ(p.name, "0000:00:02.0");  // the first ':' ends the scheme; BDF colons stay
  EXPECT_TRUE(p.options.empty());
  Target u = Target::parse("vfio-user:/run/edu.sock");
  EXPECT_EQ(u.scheme, "vfio-user");
  EXPECT_EQ(u.name, "/run/edu.sock");
}

TEST(DriverTarget, RejectsMalformedTargets) {
  struct Case {
    const char* text;
    const char* why;
  } cases[] = {
      {"edu", "expected SCHEME:NAME[,key=value...]"},
      {":edu", "expected SCHEME:NAME"},
      {"emu:", "empty name after 'emu:'"},
      {"emu:,iommu=type1", "empty name"},
      {"emu:edu,iommu", "option 'iommu' is not key=value"},
      {"emu:edu,=1", "option '=1' has no key"},
      {"emu:edu,", "option '' is not key=value"},
      {"emu:edu,a=1,,b=2", "option '' is not key=value"},
      {"emu:edu,a=1,a=2", "option 'a' given twice"},
  };
  for (const auto& c : cases) {
    const Error e = error_of([&] { (void)Target::parse(c.text); });
    EXPECT_EQ(e.error(), EINVAL) << c.text;
    EXPECT_EQ(e.op(), "parse target");
    EXPECT_EQ(e.target(), c.text);
    EXPECT_NE(std::string(e.what()).find(c.why), std::string::npos) << e.what();
  }
}

TEST(DriverTarget, SchemesAndHelp) {
  auto schemes = target_schemes();
  ASSERT_EQ(schemes.size(), 3u);
  EXPECT_EQ(schemes[0].scheme, "emu");
  EXPECT_TRUE(schemes[0].implemented);
  EXPECT_EQ(schemes[1].scheme, "vfio-user");
  EXPECT_TRUE(schemes[1].implemented);
  EXPECT_EQ(schemes[2].scheme, "pci");
  EXPECT_TRUE(schemes[2].implemented);
  EXPECT_EQ(transport_option_help().size(), 3u);
}

TEST(DriverIovaAllocator, FirstFitAlignedInsideRangesAndLimit) {
  detail::DmaIovaAllocator a;
  const std::vector<iommu::IovaRange> r = {{0, 0xfedfffff}, {0xfef00000, 0xffffffff}};
  EXPECT_EQ(a.find(r, 0x1000, 0x1000, UINT64_MAX), std::optional<uint64_t>(0x1000));  // never 0
  a.insert(0x1000, 0x3000);
  EXPECT_EQ(a.find(r, 0x1000, 0x1000, UINT64_MAX), std::optional<uint64_t>(0x4000));
  EXPECT_EQ(a.find(r, 0x1000, 0x200000, UINT64_MAX), std::optional<uint64_t>(0x200000));
  a.insert(0x5000, 0x1000);
  EXPECT_EQ(a.find(r, 0x2000, 0x1000, UINT64_MAX), std::optional<uint64_t>(0x6000));
  EXPECT_EQ(a.find(r, 0x1000, 0x1000, UINT64_MAX), std::optional<uint64_t>(0x4000));  // the hole
  // Too big for the first range below its end: continues in the second one.
  EXPECT_EQ(a.find(r, 0x200000, 0x1000, 0xffffffff), std::optional<uint64_t>(0x6000));
  const std::vector<iommu::IovaRange> r2 = {{0xfee00000 - 0x2000, 0xfedfffff},
                                            {0xfef00000, 0xffffffff}};
  EXPECT_EQ(a.find(r2, 0x200000, 0x1000, UINT64_MAX), std::optional<uint64_t>(0xfef00000));
  // The limit caps the end, not just the start.
  EXPECT_EQ(a.find(r, 0x2000, 0x1000, 0x6fff), std::nullopt);
  EXPECT_EQ(a.find(r, 0x1000, 0x1000, 0x4fff), std::optional<uint64_t>(0x4000));
  a.erase(0x1000);
  EXPECT_EQ(a.find(r, 0x3000, 0x1000, 0x4fff), std::optional<uint64_t>(0x1000));
  // Degenerate requests.
  EXPECT_EQ(a.find(r, 0, 0x1000, UINT64_MAX), std::nullopt);
  EXPECT_EQ(a.find(r, 0x1000, 0x1800, UINT64_MAX), std::nullopt);  // not a power of two
  EXPECT_EQ(a.find(std::vector<iommu::IovaRange>{}, 0x1000, 0x1000, UINT64_MAX), std::nullopt);
}

TEST(DriverIovaAllocator, TopOfTheAddressSpaceDoesNotWrap) {
  detail::DmaIovaAllocator a;
  const std::vector<iommu::IovaRange> all = {{0, UINT64_MAX}};
  const uint64_t top = UINT64_MAX - 0xfff;
  a.insert(0x1000, top - 0x1000);  // everything but page 0 and the last page
  EXPECT_EQ(a.find(all, 0x1000, 0x1000, UINT64_MAX), std::optional<uint64_t>(top));
  a.insert(top, 0x1000);
  EXPECT_EQ(a.find(all, 0x1000, 0x1000, UINT64_MAX), std::nullopt);
}

/// A GET_REGION_INFO answer with a capability chain written by hand.
struct InfoBuf {
  std::vector<uint8_t> b = std::vector<uint8_t>(256, 0);
  vfio_region_info* ri() { return reinterpret_cast<vfio_region_info*>(b.data()); }
  void cap(size_t off, uint16_t id, uint32_t next) {
    vfio_info_cap_header h{id, 1, next};
    std::memcpy(b.data() + off, &h, sizeof h);
  }
  template <class T>
  void put(size_t off, const T& v) {
    std::memcpy(b.data() + off, &v, sizeof v);
  }
};

TEST(DriverRegionInfoParser, ParsesEveryKnownCapability) {
  InfoBuf ib;
  const size_t base = sizeof(vfio_region_info);
  ib.ri()->argsz = 256;
  ib.ri()->flags =
      VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
  ib.ri()->index = 2;
  ib.ri()->size = 0x4000;
  ib.ri()->offset = uint64_t{2} << 40;
  ib.ri()->cap_offset = base;
  // SPARSE_MMAP (2 areas) -> TYPE -> MSIX_MAPPABLE -> an unknown id 99.
  const size_t sp = base, ty = sp + 16 + 32, mx = ty + 16, unk = mx + 8;
  ib.cap(sp, VFIO_REGION_INFO_CAP_SPARSE_MMAP, ty);
  ib.put<uint32_t>(sp + 8, 2);
  ib.put<uint64_t>(sp + 16, 0);
  ib.put<uint64_t>(sp + 24, 0x1000);
  ib.put<uint64_t>(sp + 32, 0x3000);
  ib.put<uint64_t>(sp + 40, 0x1000);
  ib.cap(ty, VFIO_REGION_INFO_CAP_TYPE, mx);
  ib.put<uint32_t>(ty + 8, 0x80000000u);
  ib.put<uint32_t>(ty + 12, 7);
  ib.cap(mx, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, unk);
  ib.cap(unk, 99, 0);
  RegionInfo info = detail::parse_region_info(ib.b.data(), ib.b.size());
  EXPECT_EQ(info.index, 2u);
  EXPECT_EQ(info.size, 0x4000u);
  EXPECT_EQ(info.offset, uint64_t{2} << 40);
  EXPECT_EQ(info.capability_ids, (std::vector<uint16_t>{1, 2, 3, 99}));
  ASSERT_TRUE(info.sparse_areas);
  EXPECT_EQ(*info.sparse_areas, (std::vector<SparseArea>{{0, 0x1000}, {0x3000, 0x1000}}));
  ASSERT_TRUE(info.type);
  EXPECT_EQ(info.type->type, 0x80000000u);
  EXPECT_EQ(info.type->subtype, 7u);
  EXPECT_TRUE(info.msix_mappable);
  EXPECT_FALSE(info.writable());
}

TEST(DriverRegionInfoParser, MalformedChainsAreCutShort) {
  const size_t base = sizeof(vfio_region_info);
  {  // a capability pointing at itself: one entry, no hang
    InfoBuf ib;
    ib.ri()->flags = VFIO_REGION_INFO_FLAG_CAPS;
    ib.ri()->cap_offset = base;
    ib.cap(base, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, base);
    EXPECT_EQ(detail::parse_region_info(ib.b.data(), ib.b.size()).capability_ids.size(), 1u);
  }
  {  // a backwards link into the fixed structure
    InfoBuf ib;
    ib.ri()->flags = VFIO_REGION_INFO_FLAG_CAPS;
    ib.ri()->cap_offset = 8;
    EXPECT_TRUE(detail::parse_region_info(ib.b.data(), ib.b.size()).capability_ids.empty());
  }
  {  // cap_offset beyond the buffer
    InfoBuf ib;
    ib.ri()->flags = VFIO_REGION_INFO_FLAG_CAPS;
    ib.ri()->cap_offset = 4096;
    EXPECT_TRUE(detail::parse_region_info(ib.b.data(), ib.b.size()).capability_ids.empty());
  }
  {  // a sparse capability claiming more areas than fit: only the ones inside are read
    InfoBuf ib;
    ib.ri()->flags = VFIO_REGION_INFO_FLAG_CAPS;
    ib.ri()->cap_offset = base;
    ib.cap(base, VFIO_REGION_INFO_CAP_SPARSE_MMAP, 0);
    ib.put<uint32_t>(base + 8, 1000000);
    const size_t len = base + size_t{16} + 2 * size_t{16};  // room for two areas
    auto info = detail::parse_region_info(ib.b.data(), len);
    ASSERT_TRUE(info.sparse_areas);
    EXPECT_EQ(info.sparse_areas->size(), 2u);
  }
  {  // CAPS flag clear: the chain is ignored
    InfoBuf ib;
    ib.ri()->cap_offset = base;
    ib.cap(base, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 0);
    EXPECT_FALSE(detail::parse_region_info(ib.b.data(), ib.b.size()).msix_mappable);
  }
}

TEST(DriverCapabilityWalk, StandardAndExtendedLists) {
  std::vector<uint8_t> c(4096, 0);
  c[0x06] = 0x10;  // Status.Capabilities List
  c[0x34] = 0x43;  // low bits reserved: masked to 0x40
  c[0x40] = 0x01;  // PM -> 0x50
  c[0x41] = 0x50;
  c[0x50] = 0x05;  // MSI -> 0x60
  c[0x51] = 0x60;
  c[0x60] = 0x10;  // Express -> end
  auto put32 = [&](size_t off, uint32_t v) { std::memcpy(c.data() + off, &v, 4); };
  put32(0x100, 0x0001 | (1u << 16) | (0x140u << 20));  // AER v1 -> 0x140
  put32(0x140, 0x000b | (2u << 16));                   // vendor-specific v2, end
  auto caps = walk_capabilities(c);
  EXPECT_EQ(caps, (std::vector<CapabilityRef>{{0x01, 0x40, false, 0},
                                              {0x05, 0x50, false, 0},
                                              {0x10, 0x60, false, 0},
                                              {0x0001, 0x100, true, 1},
                                              {0x000b, 0x140, true, 2}}));
  // Only 256 bytes: no extended walk.
  EXPECT_EQ(walk_capabilities(std::span(c).first(256)).size(), 3u);
}

TEST(DriverCapabilityWalk, LoopsAndBadPointersTerminate) {
  std::vector<uint8_t> c(4096, 0);
  c[0x06] = 0x10;
  c[0x34] = 0x40;
  c[0x40] = 0x05;
  c[0x41] = 0x40;                          // points at itself
  uint32_t ext = 0x0001 | (0x100u << 20);  // extended loop
  std::memcpy(c.data() + 0x100, &ext, 4);
  auto caps = walk_capabilities(c);
  ASSERT_EQ(caps.size(), 2u);
  EXPECT_EQ(caps[0].offset, 0x40);
  EXPECT_EQ(caps[1].offset, 0x100);
  c[0x34] = 0x20;  // into the header: not a capability
  EXPECT_EQ(walk_capabilities(std::span(c).first(256)).size(), 0u);
  c[0x34] = 0x40;
  c[0x06] = 0;  // no capability list
  EXPECT_EQ(walk_capabilities(std::span(c).first(256)).size(), 0u);
  std::memset(c.data() + 0x100, 0xff, 4);  // no extended space
  EXPECT_EQ(walk_capabilities(c).size(), 0u);
  // A 2-element ring: each visited once.
  c[0x06] = 0x10;
  c[0x41] = 0x80;
  c[0x80] = 0x09;
  c[0x81] = 0x40;
  EXPECT_EQ(walk_capabilities(std::span(c).first(256)).size(), 2u);
  EXPECT_TRUE(walk_capabilities({}).empty());
}

TEST(DriverDmaBuffer, MemfdBackedPageAlignedZeroed) {
  DmaBuffer b = DmaBuffer::allocate(1);
  ASSERT_TRUE(b.valid());
  EXPECT_EQ(b.size(), static_cast<size_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(b.page_size(), b.size());
  EXPECT_FALSE(b.hugepages());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % b.page_size(), 0u);
  for (std::byte x : b.span()) ASSERT_EQ(x, std::byte{0});
  // The fd is a memfd holding the same bytes (what a vfio-user server would map).
  ASSERT_GE(b.fd(), 0);
  std::memcpy(b.data(), "shared", 7);
  char back[7] = {};
  ASSERT_EQ(::pread(b.fd(), back, sizeof back, 0), 7);
  EXPECT_STREQ(back, "shared");
  char link[64] = {};
  const std::string fdpath = "/proc/self/fd/" + std::to_string(b.fd());
  ASSERT_GT(::readlink(fdpath.c_str(), link, sizeof link - 1), 0);
  EXPECT_NE(std::string(link).find("memfd:uvfio-dma"), std::string::npos) << link;
  DmaBuffer moved = std::move(b);
  EXPECT_FALSE(b.valid());  // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_EQ(moved.size(), static_cast<size_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(DmaBuffer::allocate(5000).size(), 8192u);
}

TEST(DriverDmaBuffer, BadSizesAreRefused) {
  const Error e = error_of([] { (void)DmaBuffer::allocate(0); });
  EXPECT_EQ(e.error(), EINVAL);
  EXPECT_STREQ(e.what(), "DmaBuffer::allocate: EINVAL (Invalid argument): size 0");
  DmaBufferOptions o;
  o.hugepages = true;
  o.hugepage_size = 3 << 20;
  const Error h = error_of([&] { (void)DmaBuffer::allocate(4096, o); });
  EXPECT_EQ(h.error(), EINVAL);
  EXPECT_NE(std::string(h.what()).find("not a power of two"), std::string::npos) << h.what();
}

uint64_t free_hugepages() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t v = 0;
  while (in >> key) {
    if (key == "HugePages_Free:") {
      in >> v;
      return v;
    }
    std::getline(in, key);
  }
  return 0;
}

TEST(DriverDmaBuffer, HugepagesWorkOrFailClearly) {
  DmaBufferOptions o;
  o.hugepages = true;
  if (free_hugepages() > 0) {
    DmaBuffer b = DmaBuffer::allocate(4096, o);
    EXPECT_TRUE(b.hugepages());
    EXPECT_GE(b.page_size(), 2u << 20);
    EXPECT_EQ(b.size(), b.page_size());
    return;
  }
  // No huge pages reserved on this machine: a clear error, never a silent small-page buffer.
  const Error e = error_of([&] { (void)DmaBuffer::allocate(4096, o); });
  EXPECT_NE(e.error(), 0);
  const std::string what = e.what();
  EXPECT_TRUE(what.find("nr_hugepages") != std::string::npos ||
              what.find("MFD_HUGETLB") != std::string::npos)
      << what;
}

}  // namespace
}  // namespace uvfio::driver
