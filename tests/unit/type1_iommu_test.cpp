// The type1 backend through its ioctls: 6.12's vfio_iommu_type1.c argument checks and errno,
// v1/v2 unmap rules, UNMAP_ALL, the GET_INFO capability chain, dirty-page tracking and the
// reserved ranges and aperture that attaching a group brings.
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "test_util.h"
#include "uvfio/iommu/access.h"
#include "vfio/group.h"
#include "vfio/host.h"
#include "vfio/iommu_backend.h"

using namespace uvfio;
using namespace uvfio::vfio;
using namespace uvfio::test;

namespace {

constexpr uint32_t kRd = VFIO_DMA_MAP_FLAG_READ;
constexpr uint32_t kWr = VFIO_DMA_MAP_FLAG_WRITE;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kAperture = (uint64_t{1} << 48) - 1;  // HostOptions' default
constexpr uint64_t kMsiFirst = 0xfee00000, kMsiLast = 0xfeefffff;

unsigned long uptr(const void* p) {
  return reinterpret_cast<unsigned long>(p);
}
uint64_t addr(const void* p) {
  return reinterpret_cast<uintptr_t>(p);
}

std::unique_ptr<IommuBackend> open_type1(Host& host, unsigned long type,
                                         const Credentials& creds = {}) {
  auto be = type1_backend_driver().open(host, type, creds);
  EXPECT_TRUE(be.ok()) << errno_name(be.error());
  return be.ok() ? std::move(*be) : nullptr;
}

// A host, one IOMMU group of it, and a type1 container with the group attached.
struct Fixture {
  explicit Fixture(unsigned long type = VFIO_TYPE1v2_IOMMU, HostOptions opts = {},
                   const Credentials& creds = {})
      : host(std::move(opts)), group(std::make_shared<Group>(host, 0, GroupType::kIommu)) {
    be = open_type1(host, type, creds);
    if (be) {
      EXPECT_EQ(be->attach_group(*group), 0);
    }
  }
  long ioctl(unsigned long req, const void* arg) const { return be->ioctl(req, uptr(arg)); }

  long map(uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t flags = kRd | kWr) {
    vfio_iommu_type1_dma_map m{};
    m.argsz = sizeof m;
    m.flags = flags;
    m.vaddr = vaddr;
    m.iova = iova;
    m.size = size;
    return ioctl(VFIO_IOMMU_MAP_DMA, &m);
  }
  long map(const Buffer& b, uint64_t iova, uint64_t off = 0, uint64_t size = 0) {
    return map(addr(b.bytes() + off), iova, size ? size : b.size() - off);
  }
  // UNMAP_DMA; `*unmapped` gets the size field afterwards (written back on success only).
  long unmap(uint64_t iova, uint64_t size, uint32_t flags = 0, uint64_t* unmapped = nullptr) {
    vfio_iommu_type1_dma_unmap u{};
    u.argsz = sizeof u;
    u.flags = flags;
    u.iova = iova;
    u.size = size;
    long rc = ioctl(VFIO_IOMMU_UNMAP_DMA, &u);
    if (unmapped) *unmapped = u.size;
    return rc;
  }
  long dirty(uint32_t flags, uint32_t argsz = 8) {
    vfio_iommu_type1_dirty_bitmap d{};
    d.argsz = argsz;
    d.flags = flags;
    return ioctl(VFIO_IOMMU_DIRTY_PAGES, &d);
  }
  uint32_t avail();
  std::vector<iommu::IovaRange> iova_ranges();

  Host host;
  std::shared_ptr<Group> group;
  std::unique_ptr<IommuBackend> be;
};

// A header struct followed by a payload struct, as the uAPI lays them out (the headers end in
// flexible arrays, so they cannot be members of one struct).
template <class Hdr, class Payload>
struct Packed {
  Packed(const Hdr& h, const Payload& p) {
    std::memcpy(buf, &h, sizeof h);
    std::memcpy(buf + sizeof h, &p, sizeof p);
  }
  Hdr hdr() const {
    Hdr h;
    std::memcpy(&h, buf, sizeof h);
    return h;
  }
  alignas(8) unsigned char buf[sizeof(Hdr) + sizeof(Payload)];
};

struct DirtyArgs {
  uint64_t iova, size, pgsize, bm_size;
  uint64_t* data;
  uint32_t argsz = 48;
};
long get_bitmap(Fixture& c, const DirtyArgs& a) {
  vfio_iommu_type1_dirty_bitmap d{};
  d.argsz = a.argsz;
  d.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
  vfio_iommu_type1_dirty_bitmap_get g{};
  g.iova = a.iova;
  g.size = a.size;
  g.bitmap.pgsize = a.pgsize;
  g.bitmap.size = a.bm_size;
  g.bitmap.data = reinterpret_cast<__u64*>(a.data);
  Packed p(d, g);
  return c.ioctl(VFIO_IOMMU_DIRTY_PAGES, p.buf);
}

long unmap_dirty(Fixture& c, const DirtyArgs& a, uint64_t* unmapped = nullptr,
                 uint32_t extra_flags = 0) {
  vfio_iommu_type1_dma_unmap u{};
  u.argsz = a.argsz;
  u.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | extra_flags;
  u.iova = a.iova;
  u.size = a.size;
  vfio_bitmap b{};
  b.pgsize = a.pgsize;
  b.size = a.bm_size;
  b.data = reinterpret_cast<__u64*>(a.data);
  Packed p(u, b);
  long rc = c.ioctl(VFIO_IOMMU_UNMAP_DMA, p.buf);
  if (unmapped) *unmapped = p.hdr().size;
  return rc;
}

// The capability chain of a GET_INFO answer, by id.
struct Info {
  vfio_iommu_type1_info info{};
  std::vector<std::pair<uint16_t, size_t>> caps;  // id, offset
  std::vector<unsigned char> buf;
  template <class T>
  T cap(size_t off) const {
    T t;
    std::memcpy(&t, buf.data() + off, sizeof t);
    return t;
  }
};
Info get_info(Fixture& c, uint32_t argsz = 4096) {
  Info out;
  out.buf.assign(std::max<size_t>(argsz, sizeof(vfio_iommu_type1_info)), 0xee);
  vfio_iommu_type1_info in{};
  in.argsz = argsz;
  std::memcpy(out.buf.data(), &in, sizeof in);
  EXPECT_RC(c.ioctl(VFIO_IOMMU_GET_INFO, out.buf.data()), 0);
  std::memcpy(&out.info, out.buf.data(), sizeof out.info);
  if (out.info.flags & VFIO_IOMMU_INFO_CAPS) {
    for (size_t off = out.info.cap_offset; off != 0;) {
      auto h = out.cap<vfio_info_cap_header>(off);
      EXPECT_EQ(h.version, 1);
      out.caps.emplace_back(h.id, off);
      EXPECT_TRUE(h.next == 0 || h.next > off) << "chain must go forward";
      off = h.next;
    }
  }
  return out;
}

uint32_t Fixture::avail() {
  Info i = get_info(*this);
  for (auto [id, off] : i.caps) {
    if (id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
      return i.cap<vfio_iommu_type1_info_dma_avail>(off).avail;
    }
  }
  ADD_FAILURE() << "no DMA_AVAIL capability";
  return 0;
}

std::vector<iommu::IovaRange> Fixture::iova_ranges() {
  Info i = get_info(*this);
  for (auto [id, off] : i.caps) {
    if (id != VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) continue;
    auto hdr = i.cap<vfio_iommu_type1_info_cap_iova_range>(off);
    std::vector<iommu::IovaRange> r;
    for (size_t k = 0; k < hdr.nr_iovas; ++k) {
      auto v = i.cap<vfio_iova_range>(off + sizeof hdr + k * sizeof(vfio_iova_range));
      r.push_back({v.start, v.end});
    }
    return r;
  }
  ADD_FAILURE() << "no IOVA_RANGE capability";
  return {};
}

std::vector<uint64_t> set_bits(const std::vector<uint64_t>& bm) {
  std::vector<uint64_t> out;
  for (uint64_t i = 0; i < bm.size() * 64; ++i) {
    if (bm[i / 64] >> (i % 64) & 1) out.push_back(i);
  }
  return out;
}
using Bits = std::vector<uint64_t>;
using Ranges = std::vector<iommu::IovaRange>;

}  // namespace

// ---------------------------------------------------------------------------------------------
// CHECK_EXTENSION and SET_IOMMU (open)

TEST(Type1, CheckExtensionWithoutAndWithInstance) {
  Host host;
  auto drv = type1_backend_driver();
  Fixture c;
  auto ext = [&](unsigned long e) { return drv.check_extension(host, e); };
  for (unsigned long e :
       {VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_NESTING_IOMMU, VFIO_UNMAP_ALL}) {
    EXPECT_EQ(ext(e), 1) << e;
    EXPECT_EQ(c.be->ioctl(VFIO_CHECK_EXTENSION, e), 1) << e;
  }
  for (unsigned long e :
       {VFIO_UPDATE_VADDR, VFIO_DMA_CC_IOMMU, VFIO_NOIOMMU_IOMMU, 2, 5, 7, 11, 12345}) {
    EXPECT_EQ(ext(e), 0) << e;
    EXPECT_EQ(c.be->ioctl(VFIO_CHECK_EXTENSION, e), 0) << e;
  }
  EXPECT_FALSE(drv.noiommu);
}

TEST(Type1, OpenTypes) {
  Host host;
  auto drv = type1_backend_driver();
  for (unsigned long t : {0, 2, 4, VFIO_NOIOMMU_IOMMU, 9}) {
    auto r = drv.open(host, t, {});
    EXPECT_ERRNO(r, EINVAL);
  }
  // v1 has no dirty tracking (EACCES); v2 and NESTING (as v2) do.
  Fixture v1(VFIO_TYPE1_IOMMU), v2(VFIO_TYPE1v2_IOMMU), nest(VFIO_TYPE1_NESTING_IOMMU);
  EXPECT_RC(v1.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START), EACCES);
  EXPECT_RC(v2.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
  EXPECT_RC(nest.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
  // The emulated devices' IOAS.
  ASSERT_NE(v2.be->ioas(), nullptr);
  EXPECT_EQ(v2.be->ioas()->page_size(), kPage);
  EXPECT_EQ(v2.be->ioas()->max_areas(), 65535u);
}

TEST(Type1, UnknownIoctlIsEnotty) {
  Fixture c;
  EXPECT_RC(c.be->ioctl(VFIO_IOMMU_ENABLE, 0), ENOTTY);
  EXPECT_RC(c.be->ioctl(VFIO_IOMMU_DISABLE, 0), ENOTTY);
  EXPECT_RC(c.be->ioctl(VFIO_GET_API_VERSION, 0), ENOTTY);
}

// ---------------------------------------------------------------------------------------------
// GET_INFO

TEST(Type1GetInfo, CapabilityChain) {
  Fixture c;
  Info i = get_info(c);
  EXPECT_EQ(i.info.argsz, 4096u);  // unchanged when large enough
  EXPECT_EQ(i.info.flags, uint32_t{VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS});
  EXPECT_EQ(i.info.iova_pgsizes, kPage | (uint64_t{1} << 21) | (uint64_t{1} << 30));
  EXPECT_EQ(i.info.cap_offset, 24u);
  ASSERT_EQ(i.caps.size(), 3u);
  // Kernel order and layout: MIGRATION at 24 (32 bytes), DMA_AVAIL at 56 (16), IOVA_RANGE at 72.
  EXPECT_EQ(i.caps[0], (std::pair<uint16_t, size_t>{VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 24}));
  EXPECT_EQ(i.caps[1], (std::pair<uint16_t, size_t>{VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 56}));
  EXPECT_EQ(i.caps[2], (std::pair<uint16_t, size_t>{VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 72}));

  auto mig = i.cap<vfio_iommu_type1_info_cap_migration>(24);
  EXPECT_EQ(mig.flags, 0u);
  EXPECT_EQ(mig.pgsize_bitmap, kPage);  // the smallest page only
  EXPECT_EQ(mig.max_dirty_bitmap_size, 268435456u);
  // Padding inside the chain is zero.
  EXPECT_EQ(i.buf[24 + 12], 0);
  EXPECT_EQ(i.buf[56 + 12], 0);

  EXPECT_EQ(i.cap<vfio_iommu_type1_info_dma_avail>(56).avail, 65535u);

  auto iova = i.cap<vfio_iommu_type1_info_cap_iova_range>(72);
  ASSERT_EQ(iova.nr_iovas, 2u);
  EXPECT_EQ(iova.reserved, 0u);
  EXPECT_EQ(c.iova_ranges(), (Ranges{{0, kMsiFirst - 1}, {kMsiLast + 1, kAperture}}));
  // Nothing past the chain (88 + 16*2 = 120 bytes) was written.
  EXPECT_EQ(i.buf[120], 0xee);
}

TEST(Type1GetInfo, ArgszRules) {
  Fixture c;
  constexpr uint32_t kFull = 24 + 32 + 16 + 16 + 2 * 16;  // 88 + 16n
  EXPECT_RC(c.be->ioctl(VFIO_IOMMU_GET_INFO, 0), EFAULT);
  {
    vfio_iommu_type1_info in{};
    in.argsz = 15;
    EXPECT_RC(c.ioctl(VFIO_IOMMU_GET_INFO, &in), EINVAL);
  }
  // argsz 16: only argsz/flags/iova_pgsizes are written; argsz says what is needed.
  {
    std::vector<unsigned char> b(64, 0xee);
    vfio_iommu_type1_info in{};
    in.argsz = 16;
    std::memcpy(b.data(), &in, 16);
    ASSERT_RC(c.ioctl(VFIO_IOMMU_GET_INFO, b.data()), 0);
    vfio_iommu_type1_info out;
    std::memcpy(&out, b.data(), sizeof out);
    EXPECT_EQ(out.argsz, kFull);
    EXPECT_EQ(out.flags, uint32_t{VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS});
    EXPECT_EQ(b[16], 0xee);  // cap_offset not written
  }
  // argsz 20: cap_offset written (0), the padding after it is not.
  {
    std::vector<unsigned char> b(64, 0xee);
    vfio_iommu_type1_info in{};
    in.argsz = 20;
    std::memcpy(b.data(), &in, 16);
    ASSERT_RC(c.ioctl(VFIO_IOMMU_GET_INFO, b.data()), 0);
    vfio_iommu_type1_info out;
    std::memcpy(&out, b.data(), 20);
    EXPECT_EQ(out.argsz, kFull);
    EXPECT_EQ(out.cap_offset, 0u);
    EXPECT_EQ(b[20], 0xee);
  }
  // One byte short of the chain: no caps copied, cap_offset 0, the needed size reported.
  {
    Info i = get_info(c, kFull - 1);
    EXPECT_EQ(i.info.argsz, kFull);
    EXPECT_EQ(i.info.cap_offset, 0u);
    EXPECT_TRUE(i.caps.empty());
    EXPECT_EQ(i.info.flags & VFIO_IOMMU_INFO_CAPS, uint32_t{VFIO_IOMMU_INFO_CAPS});
    EXPECT_EQ(i.buf[24], 0xee);
  }
  // Exactly enough.
  {
    Info i = get_info(c, kFull);
    EXPECT_EQ(i.info.argsz, kFull);
    EXPECT_EQ(i.info.cap_offset, 24u);
    EXPECT_EQ(i.caps.size(), 3u);
  }
}

TEST(Type1GetInfo, PageSizesFollowTheIommuPage) {
  Fixture big(VFIO_TYPE1v2_IOMMU, HostOptions{.iommu_page_size = uint64_t{1} << 21});
  Info i = get_info(big);
  EXPECT_EQ(i.info.iova_pgsizes, (uint64_t{1} << 21) | (uint64_t{1} << 30));
  EXPECT_EQ(i.cap<vfio_iommu_type1_info_cap_migration>(24).pgsize_bitmap, uint64_t{1} << 21);

  Fixture small(VFIO_TYPE1v2_IOMMU, HostOptions{.iommu_page_size = 2048});
  Info j = get_info(small);
  EXPECT_EQ(j.info.iova_pgsizes, 2048 | (uint64_t{1} << 21) | (uint64_t{1} << 30));
  Buffer b(4 * kPage);
  EXPECT_RC(small.map(addr(b.bytes() + 2048), 0x10800, 2048), 0);
}

// ---------------------------------------------------------------------------------------------
// MAP_DMA

TEST(Type1Map, ArgumentChecks) {
  Fixture c;
  Buffer b(16 * kPage);
  const uint64_t va = addr(b.data());
  EXPECT_RC(c.be->ioctl(VFIO_IOMMU_MAP_DMA, 0), EFAULT);
  {
    vfio_iommu_type1_dma_map m{};
    m.argsz = 31;
    m.flags = kRd;
    m.vaddr = va;
    m.iova = 0x100000;
    m.size = kPage;
    EXPECT_RC(c.ioctl(VFIO_IOMMU_MAP_DMA, &m), EINVAL);
    m.argsz = 32;  // minsz: enough
    EXPECT_RC(c.ioctl(VFIO_IOMMU_MAP_DMA, &m), 0);
  }
  EXPECT_RC(c.map(va, 0x200000, kPage, kRd | kWr | (1u << 3)), EINVAL);  // unknown flag
  // uvfio does not do vaddr update: VADDR is refused.
  EXPECT_RC(c.map(va, 0x200000, kPage, VFIO_DMA_MAP_FLAG_VADDR), EINVAL);
  EXPECT_RC(c.map(va, 0x100000, kPage, VFIO_DMA_MAP_FLAG_VADDR), EINVAL);
  EXPECT_RC(c.map(va, 0x200000, kPage, 0), EINVAL);                       // no permission
  EXPECT_RC(c.map(va, 0x200000, 0), EINVAL);                              // size 0
  EXPECT_RC(c.map(va, 0x200000, kPage + 1), EINVAL);                      // unaligned size
  EXPECT_RC(c.map(va, 0x200800, kPage), EINVAL);                          // unaligned iova
  EXPECT_RC(c.map(va + 16, 0x200000, kPage), EINVAL);                     // unaligned vaddr
  EXPECT_RC(c.map(va, UINT64_MAX - kPage + 1, 2 * kPage), EINVAL);        // iova wraps
  EXPECT_RC(c.map(UINT64_MAX - kPage + 1, 0x200000, 2 * kPage), EINVAL);  // vaddr wraps
  EXPECT_RC(c.map(va, 0x200000, kPage, kRd), 0);
  EXPECT_RC(c.map(va, 0x201000, kPage, kWr), 0);
}

TEST(Type1Map, OverlapReservedAndAperture) {
  Fixture c;
  Buffer b(16 * kPage);
  const uint64_t va = addr(b.data());
  ASSERT_RC(c.map(va, 0x100000, 4 * kPage), 0);
  EXPECT_RC(c.map(va, 0x100000, 4 * kPage), EEXIST);
  EXPECT_RC(c.map(va, 0x0ff000, 2 * kPage), EEXIST);  // overlaps the start
  EXPECT_RC(c.map(va, 0x103000, 2 * kPage), EEXIST);  // overlaps the end
  EXPECT_RC(c.map(va, 0x0fe000, 8 * kPage), EEXIST);  // covers it
  EXPECT_RC(c.map(va, 0x104000, kPage), 0);           // adjacent: fine (not merged)
  EXPECT_RC(c.map(va, 0x0ff000, kPage), 0);
  // The group's MSI window and the IOMMU's aperture.
  EXPECT_RC(c.map(va, kMsiFirst, kPage), EINVAL);
  EXPECT_RC(c.map(va, kMsiFirst - kPage, 2 * kPage), EINVAL);
  EXPECT_RC(c.map(va, kMsiLast + 1 - kPage, 2 * kPage), EINVAL);
  EXPECT_RC(c.map(va, kMsiFirst - kPage, kPage), 0);
  EXPECT_RC(c.map(va, kMsiLast + 1, kPage), 0);
  EXPECT_RC(c.map(va, kAperture + 1 - kPage, kPage), 0);
  EXPECT_RC(c.map(va, kAperture + 1 - kPage, 2 * kPage), EEXIST);  // EEXIST comes first
  EXPECT_RC(c.map(va, kAperture + 1, kPage), EINVAL);
  EXPECT_RC(c.map(va, kAperture + 1 - 2 * kPage, 2 * kPage), EEXIST);
  EXPECT_RC(c.map(va, uint64_t{1} << 60, kPage), EINVAL);
  // Unmapped process memory faults.
  void* hole = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(hole, MAP_FAILED);
  ::munmap(hole, kPage);
  EXPECT_RC(c.map(addr(hole), 0x400000, kPage), EFAULT);
}

TEST(Type1Map, EntryLimitAndDmaAvail) {
  Fixture c(VFIO_TYPE1v2_IOMMU, HostOptions{.dma_entry_limit = 2});
  Buffer b(8 * kPage);
  const uint64_t va = addr(b.data());
  EXPECT_EQ(c.avail(), 2u);
  ASSERT_RC(c.map(va, 0x100000, kPage), 0);
  EXPECT_EQ(c.avail(), 1u);
  ASSERT_RC(c.map(va, 0x101000, kPage), 0);
  EXPECT_EQ(c.avail(), 0u);
  EXPECT_RC(c.map(va, 0x102000, kPage), ENOSPC);
  EXPECT_RC(c.map(va, 0x101000, kPage), EEXIST);   // overlap is checked first
  EXPECT_RC(c.map(va, kMsiFirst, kPage), ENOSPC);  // then the limit, then the IOVA range
  EXPECT_RC(c.map(va, 0x102001, kPage), EINVAL);   // argument checks before all of them
  ASSERT_RC(c.unmap(0x100000, kPage), 0);
  EXPECT_EQ(c.avail(), 1u);
  EXPECT_RC(c.map(va, 0x102000, kPage), 0);
}

TEST(Type1Map, ZeroEntryLimit) {
  Fixture c(VFIO_TYPE1v2_IOMMU, HostOptions{.dma_entry_limit = 0});
  Buffer b(kPage);
  EXPECT_EQ(c.avail(), 0u);
  EXPECT_RC(c.map(b, 0x100000), ENOSPC);
  EXPECT_RC(c.map(addr(b.data()), 0x100000, kPage, 0), EINVAL);
  EXPECT_RC(c.map(addr(b.data()), 0x100100, kPage), EINVAL);
}

TEST(Type1Map, LockedMemoryLimit) {
  HostOptions opts;
  opts.memlock_limit = 4 * kPage;
  Buffer b(8 * kPage);
  {
    Fixture c(VFIO_TYPE1v2_IOMMU, opts);
    EXPECT_RC(c.map(b, 0x100000, 0, 8 * kPage), ENOMEM);
    EXPECT_EQ(c.avail(), 65535u);  // nothing half-mapped
    EXPECT_RC(c.map(b, 0x100000, 0, 4 * kPage), 0);
    EXPECT_RC(c.map(b, 0x200000, 4 * kPage, kPage), ENOMEM);
    // The same pages mapped again are not charged twice.
    EXPECT_RC(c.map(b, 0x300000, 0, 4 * kPage), 0);
    EXPECT_RC(c.unmap(0x100000, 4 * kPage), 0);
    EXPECT_RC(c.unmap(0x300000, 4 * kPage), 0);
    EXPECT_RC(c.map(b, 0x200000, 4 * kPage, 4 * kPage), 0);
  }
  // CAP_IPC_LOCK: no limit.
  Credentials priv;
  priv.cap_ipc_lock = true;
  Fixture c(VFIO_TYPE1v2_IOMMU, opts, priv);
  EXPECT_RC(c.map(b, 0x100000, 0, 8 * kPage), 0);
}

// ---------------------------------------------------------------------------------------------
// UNMAP_DMA

TEST(Type1Unmap, ArgumentChecks) {
  Fixture c;
  Buffer b(4 * kPage);
  ASSERT_RC(c.map(b, 0x100000), 0);
  EXPECT_RC(c.be->ioctl(VFIO_IOMMU_UNMAP_DMA, 0), EFAULT);
  {
    vfio_iommu_type1_dma_unmap u{};
    u.argsz = 23;
    u.iova = 0x100000;
    u.size = 4 * kPage;
    EXPECT_RC(c.ioctl(VFIO_IOMMU_UNMAP_DMA, &u), EINVAL);
  }
  uint64_t sz = 77;
  EXPECT_RC(c.unmap(0x100000, 4 * kPage, 1u << 3, &sz), EINVAL);  // unknown flag
  EXPECT_EQ(sz, 4 * kPage);                                       // not written back on error
  EXPECT_RC(c.unmap(0x100000, 4 * kPage, VFIO_DMA_UNMAP_FLAG_VADDR), EINVAL);  // no vaddr update
  EXPECT_RC(c.unmap(0x100800, 4 * kPage), EINVAL);                             // unaligned iova
  EXPECT_RC(c.unmap(0x100000, 0), EINVAL);
  EXPECT_RC(c.unmap(0x100000, 4 * kPage - 1), EINVAL);
  EXPECT_RC(c.unmap(UINT64_MAX - kPage + 1, 2 * kPage), EINVAL);  // wraps
  EXPECT_EQ(c.avail(), 65534u);
  sz = 0;
  EXPECT_RC(c.unmap(0x100000, 4 * kPage, 0, &sz), 0);
  EXPECT_EQ(sz, 4 * kPage);
  // Only argsz/flags/iova/size (24 bytes) are written back.
  {
    alignas(8) unsigned char buf[40];
    std::memset(buf, 0xee, sizeof buf);
    vfio_iommu_type1_dma_unmap u{};
    u.argsz = 40;
    u.iova = 0x100000;
    u.size = kPage;
    std::memcpy(buf, &u, sizeof u);
    EXPECT_RC(c.ioctl(VFIO_IOMMU_UNMAP_DMA, buf), 0);
    std::memcpy(&u, buf, sizeof u);
    EXPECT_EQ(u.size, 0u);
    EXPECT_EQ(buf[24], 0xee);
  }
}

TEST(Type1Unmap, V2MustNotSplitAMapping) {
  Fixture c(VFIO_TYPE1v2_IOMMU);
  Buffer b(16 * kPage);
  ASSERT_RC(c.map(b, 0x100000, 0, 4 * kPage), 0);          // [0x100000, 0x104000)
  ASSERT_RC(c.map(b, 0x108000, 4 * kPage, 4 * kPage), 0);  // [0x108000, 0x10c000)
  ASSERT_RC(c.map(b, 0x10c000, 8 * kPage, 2 * kPage), 0);  // adjacent: [0x10c000, 0x10e000)
  uint64_t sz = 1;
  EXPECT_RC(c.unmap(0x101000, kPage, 0, &sz), EINVAL);  // inside
  EXPECT_RC(c.unmap(0x100000, kPage), EINVAL);          // splits the end
  EXPECT_RC(c.unmap(0x0ff000, 2 * kPage), EINVAL);      // covers only the start
  EXPECT_RC(c.unmap(0x100000, 0x9000), EINVAL);         // second one split
  EXPECT_RC(c.unmap(0x10b000, 2 * kPage), EINVAL);      // across two, both split
  EXPECT_EQ(c.avail(), 65532u);
  EXPECT_RC(c.unmap(0x104000, 4 * kPage, 0, &sz), 0);  // a hole: success, 0 bytes
  EXPECT_EQ(sz, 0u);
  EXPECT_RC(c.unmap(0x0f0000, 0x1c000, 0, &sz), 0);  // two mappings and holes
  EXPECT_EQ(sz, 8 * kPage);
  EXPECT_RC(c.unmap(0x10c000, 2 * kPage, 0, &sz), 0);
  EXPECT_EQ(sz, 2 * kPage);
  EXPECT_EQ(c.avail(), 65535u);
}

TEST(Type1Unmap, V1RemovesWholeMappingsStartingInTheRange) {
  Fixture c(VFIO_TYPE1_IOMMU);
  Buffer b(16 * kPage);
  ASSERT_RC(c.map(b, 0x100000, 0, 4 * kPage), 0);
  ASSERT_RC(c.map(b, 0x108000, 4 * kPage, 4 * kPage), 0);
  uint64_t sz = 1;
  // Begins inside the first mapping: the walk stops at once, success with 0 bytes, and the
  // second mapping (inside the range) is not touched.
  EXPECT_RC(c.unmap(0x101000, 0x10000, 0, &sz), 0);
  EXPECT_EQ(sz, 0u);
  EXPECT_EQ(c.avail(), 65533u);
  // Covers the first page of a mapping: the whole mapping goes, more than asked for.
  EXPECT_RC(c.unmap(0x100000, kPage, 0, &sz), 0);
  EXPECT_EQ(sz, 4 * kPage);
  EXPECT_RC(c.unmap(0x104000, 0x5000, 0, &sz), 0);
  EXPECT_EQ(sz, 4 * kPage);
  EXPECT_EQ(c.avail(), 65535u);
  EXPECT_RC(c.unmap(0x100000, 0x10000, 0, &sz), 0);
  EXPECT_EQ(sz, 0u);
}

TEST(Type1Unmap, UnmapAll) {
  for (unsigned long type : {VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU}) {
    Fixture c(type);
    Buffer b(16 * kPage);
    uint64_t sz = 1;
    EXPECT_RC(c.unmap(0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz), 0);  // nothing mapped: fine
    EXPECT_EQ(sz, 0u);
    ASSERT_RC(c.map(b, 0x100000, 0, 4 * kPage), 0);
    ASSERT_RC(c.map(b, 0x200000, 4 * kPage, 8 * kPage), 0);
    ASSERT_RC(c.map(b, kAperture + 1 - kPage, 0, kPage), 0);
    EXPECT_RC(c.unmap(kPage, 0, VFIO_DMA_UNMAP_FLAG_ALL), EINVAL);
    EXPECT_RC(c.unmap(0, kPage, VFIO_DMA_UNMAP_FLAG_ALL), EINVAL);
    EXPECT_RC(c.unmap(0x800, 0, VFIO_DMA_UNMAP_FLAG_ALL), EINVAL);
    EXPECT_RC(c.unmap(0, 0, VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP),
              EINVAL);
    EXPECT_RC(c.unmap(0, 0, VFIO_DMA_UNMAP_FLAG_ALL, &sz), 0);
    EXPECT_EQ(sz, 13 * kPage);
    EXPECT_EQ(c.avail(), 65535u);
  }
}

TEST(Type1Unmap, PinnedPagesAreReleasedFirst) {
  // An emulated device's pins (the kernel's vfio_pin_pages): the unmap asks the device to let go
  // (its dma_unmap callback, with the whole mapping) and then removes the mapping.
  Fixture c;
  Buffer b(4 * kPage);
  ASSERT_RC(c.map(b, 0x100000), 0);
  std::shared_ptr<iommu::Access> dev;
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  dev = iommu::Access::create([&](uint64_t iova, uint64_t length) {
    calls.emplace_back(iova, length);
    EXPECT_TRUE(dev->unpin(0x101000, kPage).ok());
  });
  ASSERT_OK(dev->attach(c.be->ioas()));
  ASSERT_OK(dev->pin(0x101000, kPage, iommu::kAccessWrite));
  uint64_t sz = 0;
  EXPECT_RC(c.unmap(0x100000, 4 * kPage, 0, &sz), 0);
  EXPECT_EQ(sz, 4 * kPage);
  EXPECT_EQ(calls, (std::vector<std::pair<uint64_t, uint64_t>>{{0x100000, 4 * kPage}}));
  EXPECT_EQ(dev->pin_count(), 0u);
  ASSERT_OK(dev->detach());
}

// ---------------------------------------------------------------------------------------------
// Dirty pages

TEST(Type1Dirty, FlagChecks) {
  Fixture c;
  EXPECT_RC(c.be->ioctl(VFIO_IOMMU_DIRTY_PAGES, 0), EFAULT);
  EXPECT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START, 7), EINVAL);
  EXPECT_RC(c.dirty(0), EINVAL);
  EXPECT_RC(c.dirty(1u << 3), EINVAL);
  EXPECT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START | VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP), EINVAL);
  EXPECT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP | VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP),
            EINVAL);
  EXPECT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP), 0);  // not tracking: fine
  EXPECT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
  EXPECT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);  // again: fine
  EXPECT_TRUE(c.be->ioas()->dirty_tracking());
  EXPECT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP), 0);
  EXPECT_FALSE(c.be->ioas()->dirty_tracking());
  // v1: EACCES before anything else, even a bad pointer.
  Fixture v1(VFIO_TYPE1_IOMMU);
  EXPECT_RC(v1.be->ioctl(VFIO_IOMMU_DIRTY_PAGES, 0), EACCES);
  EXPECT_RC(v1.dirty(0), EACCES);
}

TEST(Type1Dirty, GetBitmapChecks) {
  Fixture c;
  Buffer b(16 * kPage);
  ASSERT_RC(c.map(b, 0x100000, 0, 4 * kPage), 0);
  ASSERT_RC(c.map(b, 0x104000, 4 * kPage, 4 * kPage), 0);
  std::vector<uint64_t> bm(4);
  const DirtyArgs ok{0x100000, 8 * kPage, kPage, 8, bm.data()};
  EXPECT_RC(get_bitmap(c, ok), EINVAL);  // not tracking
  ASSERT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
  EXPECT_RC(get_bitmap(c, ok), 0);

  auto with = [&](auto f) {
    DirtyArgs a = ok;
    f(a);
    return get_bitmap(c, a);
  };
  EXPECT_RC(with([](DirtyArgs& a) { a.argsz = 47; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.argsz = 8; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.argsz = 64; }), 0);                          // larger is fine
  EXPECT_RC(with([](DirtyArgs& a) { a.iova = UINT64_MAX - kPage + 1; }), EINVAL);  // wraps
  EXPECT_RC(with([](DirtyArgs& a) { a.data = reinterpret_cast<uint64_t*>(uint64_t{1} << 47); }),
            EINVAL);  // not a user address
  EXPECT_RC(with([](DirtyArgs& a) { a.bm_size = 0; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.bm_size = 7; }), EINVAL);  // needs a whole u64
  EXPECT_RC(with([](DirtyArgs& a) { a.bm_size = (uint64_t{1} << 28) + 8; }), EINVAL);  // > max
  EXPECT_RC(with([](DirtyArgs& a) { a.size = 0; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.pgsize = 0; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.pgsize = 2 * kPage; }), EINVAL);  // smallest page only
  EXPECT_RC(with([](DirtyArgs& a) { a.pgsize = 2048; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.iova += 0x800; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.size += 0x800; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.iova += kPage; }), EINVAL);  // bisects the first mapping
  EXPECT_RC(with([](DirtyArgs& a) { a.size -= kPage; }), EINVAL);  // bisects the second
  EXPECT_RC(with([](DirtyArgs& a) { a.size = 4 * kPage; }), 0);    // the first alone
  // 65 pages need two words.
  EXPECT_RC(with([](DirtyArgs& a) {
              a.size = 65 * kPage;
              a.bm_size = 8;
            }),
            EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) {
              a.size = 65 * kPage;
              a.bm_size = 16;
            }),
            0);
  // A null bitmap faults only if there is something to write.
  EXPECT_RC(with([](DirtyArgs& a) { a.data = nullptr; }), EFAULT);
  EXPECT_RC(with([](DirtyArgs& a) {
              a.data = nullptr;
              a.iova = 0x200000;
            }),
            0);
  ASSERT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP), 0);
  EXPECT_RC(get_bitmap(c, ok), EINVAL);
}

TEST(Type1Dirty, DeviceWritesAreReportedAndCleared) {
  Fixture c;
  Buffer b(256 * kPage);
  const uint64_t base = 0x1000000;
  ASSERT_RC(c.map(b, base, 0, 100 * kPage), 0);                         // pages 0..99
  ASSERT_RC(c.map(b, base + 130 * kPage, 130 * kPage, 10 * kPage), 0);  // pages 130..139
  auto dev = iommu::Access::create();
  ASSERT_OK(dev->attach(c.be->ioas()));
  ASSERT_OK(dev->write(base, "a", 1));  // before tracking: not reported
  ASSERT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
  ASSERT_OK(dev->write(base + 3 * kPage, "b", 1));
  ASSERT_OK(dev->write(base + 64 * kPage - 1, "cd", 2));  // pages 63 and 64
  ASSERT_OK(dev->write(base + 99 * kPage, "e", 1));
  ASSERT_OK(dev->write(base + 135 * kPage, "f", 1));
  uint8_t r;
  ASSERT_OK(dev->read(base + 5 * kPage, &r, 1));  // reads do not dirty

  std::vector<uint64_t> bm(3, 0);
  ASSERT_RC(get_bitmap(c, {base, 140 * kPage, kPage, 24, bm.data()}), 0);
  EXPECT_EQ(set_bits(bm), (Bits{3, 63, 64, 99, 135}));
  std::fill(bm.begin(), bm.end(), 0);
  ASSERT_RC(get_bitmap(c, {base, 140 * kPage, kPage, 24, bm.data()}), 0);
  EXPECT_TRUE(set_bits(bm).empty());  // cleared by the first read

  // The kernel writes whole u64 words from the one holding a mapping's first bit to the one
  // holding its last: bits below the mapping in its first word survive, the rest of those words
  // is overwritten, words holding no mapping are not touched.
  ASSERT_OK(dev->write(base + 131 * kPage, "g", 1));
  const uint64_t garbage = 0xa5a5a5a5a5a5a5a5;
  std::vector<uint64_t> g(4, garbage);
  ASSERT_RC(get_bitmap(c, {base - 64 * kPage, 204 * kPage, kPage, 32, g.data()}), 0);
  EXPECT_EQ(g[0], garbage);  // bits for [base-64p, base): no mapping
  EXPECT_EQ(g[1], 0u);       // pages 0..63: clean
  EXPECT_EQ(g[2], 0u);       // pages 64..99 then zeros to the word's end
  // Pages 130..139 are bits 194..203: word 3 keeps bits 0..1 (pages 128, 129), gets bit 3.
  EXPECT_EQ(g[3], (garbage & 0x3) | (uint64_t{1} << 3));

  // Dirty bits after STOP/START start afresh.
  ASSERT_OK(dev->write(base, "h", 1));
  ASSERT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP), 0);
  ASSERT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
  std::fill(bm.begin(), bm.end(), 0);
  ASSERT_RC(get_bitmap(c, {base, 140 * kPage, kPage, 24, bm.data()}), 0);
  EXPECT_TRUE(set_bits(bm).empty());
  ASSERT_OK(dev->detach());
}

TEST(Type1Dirty, PagesPinnedForWritingStayDirty) {
  Fixture c;
  Buffer b(8 * kPage);
  ASSERT_RC(c.map(b, 0x100000), 0);
  auto dev = iommu::Access::create([](uint64_t, uint64_t) {});
  ASSERT_OK(dev->attach(c.be->ioas()));
  ASSERT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
  ASSERT_OK(dev->pin(0x102000, kPage, iommu::kAccessWrite));
  ASSERT_OK(dev->pin(0x104000, kPage, 0));  // read-only pins do not dirty
  for (int round = 0; round < 2; ++round) {
    std::vector<uint64_t> bm(1, 0);
    ASSERT_RC(get_bitmap(c, {0x100000, 8 * kPage, kPage, 8, bm.data()}), 0);
    EXPECT_EQ(set_bits(bm), (Bits{2})) << "round " << round;
  }
  ASSERT_OK(dev->unpin(0x102000, kPage));
  ASSERT_OK(dev->unpin(0x104000, kPage));
  ASSERT_OK(dev->detach());
}

TEST(Type1Dirty, UnmapWithBitmap) {
  Fixture c;
  Buffer b(64 * kPage);
  const uint64_t base = 0x1000000;
  ASSERT_RC(c.map(b, base, 0, 8 * kPage), 0);
  ASSERT_RC(c.map(b, base + 10 * kPage, 8 * kPage, 8 * kPage), 0);
  auto dev = iommu::Access::create();
  ASSERT_OK(dev->attach(c.be->ioas()));
  std::vector<uint64_t> bm(1, 0);
  const DirtyArgs ok{base, 18 * kPage, kPage, 8, bm.data()};
  EXPECT_RC(unmap_dirty(c, ok), EINVAL);  // not tracking
  ASSERT_RC(c.dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START), 0);
  ASSERT_OK(dev->write(base + kPage, "x", 1));
  ASSERT_OK(dev->write(base + 17 * kPage, "y", 1));

  auto with = [&](auto f, uint32_t flags = 0) {
    DirtyArgs a = ok;
    f(a);
    return unmap_dirty(c, a, nullptr, flags);
  };
  EXPECT_RC(with([](DirtyArgs& a) { a.argsz = 47; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.argsz = 24; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs&) {}, VFIO_DMA_UNMAP_FLAG_VADDR), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.bm_size = 0; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.bm_size = 4; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.size = 65 * kPage; }), EINVAL);  // bitmap too small
  EXPECT_RC(with([](DirtyArgs& a) { a.pgsize = 0; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.pgsize = 2 * kPage; }), EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.data = reinterpret_cast<uint64_t*>(UINT64_MAX - 4); }),
            EINVAL);
  EXPECT_RC(with([](DirtyArgs& a) { a.size -= kPage; }), EINVAL);  // bisects
  EXPECT_RC(with([](DirtyArgs& a) { a.data = nullptr; }), EFAULT);
  EXPECT_EQ(c.avail(), 65533u);  // nothing was unmapped

  bm[0] = 0xff00000000000000;
  uint64_t sz = 0;
  ASSERT_RC(unmap_dirty(c, ok, &sz), 0);
  EXPECT_EQ(sz, 16 * kPage);
  EXPECT_EQ(bm[0], (uint64_t{1} << 1) | (uint64_t{1} << 17));
  EXPECT_EQ(c.avail(), 65535u);
  // An empty range: success, 0 bytes, nothing written (a null bitmap does not fault).
  DirtyArgs empty = ok;
  empty.data = nullptr;
  ASSERT_RC(unmap_dirty(c, empty, &sz), 0);
  EXPECT_EQ(sz, 0u);
  ASSERT_OK(dev->detach());
}

// ---------------------------------------------------------------------------------------------
// Groups: reserved ranges and aperture

TEST(Type1Groups, AttachConflictsAndDetach) {
  // The first host's groups reserve nothing and reach every IOVA; the second's have the MSI
  // window and a 48-bit aperture.
  HostOptions open_opts;
  open_opts.group_reserved = {};
  open_opts.aperture_last = UINT64_MAX;
  Fixture c(VFIO_TYPE1v2_IOMMU, open_opts);
  Host strict;
  Group g2(strict, 1, GroupType::kIommu);
  Buffer b(4 * kPage);
  EXPECT_EQ(c.iova_ranges(), (Ranges{{0, UINT64_MAX}}));
  ASSERT_RC(c.map(b, kMsiFirst + 0x10000, 0, kPage), 0);
  ASSERT_RC(c.map(b, uint64_t{1} << 50, 0, kPage), 0);

  EXPECT_RC(c.be->attach_group(g2), EINVAL);              // a mapping in the MSI window
  EXPECT_EQ(c.iova_ranges(), (Ranges{{0, UINT64_MAX}}));  // nothing stayed added
  ASSERT_RC(c.unmap(kMsiFirst + 0x10000, kPage), 0);
  EXPECT_RC(c.be->attach_group(g2), EINVAL);  // a mapping past its aperture
  EXPECT_EQ(c.iova_ranges(), (Ranges{{0, UINT64_MAX}}));
  ASSERT_RC(c.unmap(uint64_t{1} << 50, kPage), 0);
  ASSERT_RC(c.map(b, kMsiFirst - kPage, 0, kPage), 0);  // next to the window: fine
  ASSERT_RC(c.be->attach_group(g2), 0);
  EXPECT_RC(c.be->attach_group(g2), EINVAL);  // already attached
  EXPECT_EQ(c.iova_ranges(), (Ranges{{0, kMsiFirst - 1}, {kMsiLast + 1, kAperture}}));
  EXPECT_RC(c.map(b, kMsiFirst, 0, kPage), EINVAL);
  EXPECT_RC(c.map(b, uint64_t{1} << 50, 0, kPage), EINVAL);

  // Detaching removes exactly what the group added.
  c.be->detach_group(g2);
  EXPECT_EQ(c.iova_ranges(), (Ranges{{0, UINT64_MAX}}));
  EXPECT_RC(c.map(b, uint64_t{1} << 50, 0, kPage), 0);
  EXPECT_EQ(c.be->ioas()->area_count(), 2u);
  // The last group leaving takes the mappings with it.
  c.be->detach_group(*c.group);
  EXPECT_EQ(c.be->ioas()->area_count(), 0u);
}

TEST(Type1Groups, SharedReservedRangesStayWhileAnyGroupNeedsThem) {
  Fixture c;  // group 0 of the default host: MSI window, 48-bit aperture
  Group g1(c.host, 1, GroupType::kIommu);
  ASSERT_RC(c.be->attach_group(g1), 0);
  const Ranges two{{0, kMsiFirst - 1}, {kMsiLast + 1, kAperture}};
  EXPECT_EQ(c.iova_ranges(), two);
  c.be->detach_group(g1);
  EXPECT_EQ(c.iova_ranges(), two);  // group 0 still reserves the same ranges
  Buffer b(kPage);
  EXPECT_RC(c.map(b, kMsiFirst), EINVAL);
  EXPECT_RC(c.map(b, 0x100000), 0);
  EXPECT_EQ(c.be->ioas()->area_count(), 1u);  // not the last group: mappings stay
}

TEST(Type1Groups, NoIommuGroupAndNoUsableIova) {
  Fixture c;
  Group noiommu(c.host, 5, GroupType::kNoIommu);
  EXPECT_RC(c.be->attach_group(noiommu), EINVAL);

  // A group that leaves no usable IOVA at all cannot be attached.
  HostOptions all;
  all.group_reserved = {{0, UINT64_MAX}};
  Host h(all);
  Group greedy(h, 1, GroupType::kIommu);
  const Ranges before = c.iova_ranges();
  EXPECT_RC(c.be->attach_group(greedy), EINVAL);
  EXPECT_EQ(c.iova_ranges(), before);
}
