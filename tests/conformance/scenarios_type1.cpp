// type1 scenarios: vfio_iommu_type1.c (vfio_dma_do_map, vfio_dma_do_unmap,
// vfio_iommu_type1_get_info, vfio_iommu_type1_dirty_pages).
#include "steps.h"

namespace uvfio::conformance {

using namespace steps;

namespace {

constexpr uint32_t kRW = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;

// GET_INFO with `argsz`; returns what `pick` extracts from the answer.
Step get_info(uint32_t argsz, long expect, std::function<long(vfio_iommu_type1_info*)> pick,
              std::string what) {
  return custom(
      "VFIO_IOMMU_GET_INFO(argsz " + std::to_string(argsz) + "): " + what,
      [=](Env& e) -> long {
        auto* info = static_cast<vfio_iommu_type1_info*>(e.buffer("info", 4096));
        std::memset(info, 0, 4096);
        info->argsz = argsz;
        long r = e.ioctl("container", VFIO_IOMMU_GET_INFO, info);
        return r < 0 ? r : pick(info);
      },
      expect);
}

// Finds capability `id` in a GET_INFO answer (offsets from the start of the struct).
const vfio_info_cap_header* find_cap(const vfio_iommu_type1_info* info, uint16_t id) {
  if (!(info->flags & VFIO_IOMMU_INFO_CAPS) || info->cap_offset == 0) return nullptr;
  const auto* base = reinterpret_cast<const char*>(info);
  for (uint32_t off = info->cap_offset; off != 0 && off < info->argsz;) {
    const auto* h = reinterpret_cast<const vfio_info_cap_header*>(base + off);
    if (h->id == id) return h;
    off = h->next;
  }
  return nullptr;
}

long dma_avail(vfio_iommu_type1_info* info) {
  const auto* c = find_cap(info, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL);
  return c ? static_cast<long>(reinterpret_cast<const vfio_iommu_type1_info_dma_avail*>(c)->avail)
           : -1;
}

Step dirty(uint32_t flags, long expect, uint32_t argsz = sizeof(vfio_iommu_type1_dirty_bitmap)) {
  return custom(
      "VFIO_IOMMU_DIRTY_PAGES(flags " + std::to_string(flags) + ")",
      [=](Env& e) {
        vfio_iommu_type1_dirty_bitmap d{};
        d.argsz = argsz;
        d.flags = flags;
        return e.ioctl("container", VFIO_IOMMU_DIRTY_PAGES, &d);
      },
      expect);
}

Step get_bitmap(uint64_t iova, uint64_t size, uint64_t pgsize, long expect) {
  return custom(
      "DIRTY_PAGES GET_BITMAP(iova " + std::to_string(iova) + ")",
      [=](Env& e) {
        // The header with its flexible tail, then the GET_BITMAP range.
        auto* raw = static_cast<unsigned char*>(e.buffer("dirty_req", 4096));
        std::memset(raw, 0, 4096);
        auto* d = reinterpret_cast<vfio_iommu_type1_dirty_bitmap*>(raw);
        auto* g = reinterpret_cast<vfio_iommu_type1_dirty_bitmap_get*>(raw + sizeof *d);
        auto* bits = static_cast<uint64_t*>(e.buffer("bitmap", 4096));
        d->argsz = sizeof *d + sizeof *g;
        d->flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
        g->iova = iova;
        g->size = size;
        g->bitmap.pgsize = pgsize;
        g->bitmap.size = 4096;
        g->bitmap.data = reinterpret_cast<__u64*>(bits);
        return e.ioctl("container", VFIO_IOMMU_DIRTY_PAGES, raw);
      },
      expect);
}

}  // namespace

void add_type1_scenarios(std::vector<Scenario>& out) {
  const auto S = Setup::kViableGroup;
  const auto v2 = [] { return legacy_setup(VFIO_TYPE1v2_IOMMU); };
  const auto v1 = [] { return legacy_setup(VFIO_TYPE1_IOMMU); };
  using V = std::vector<Step>;

  out.push_back({"type1: map and unmap one page", "vfio_dma_do_map", S,
                 v2() + V{map_dma("container", 0x100000, 4096, 0),
                          unmap_dma("container", 0x100000, 4096, 4096)}});
  out.push_back({"type1: overlapping map is EEXIST", "vfio_dma_do_map", S,
                 v2() + V{map_dma("container", 0x100000, 0x4000, 0),
                          map_dma("container", 0x100000, 0x4000, err(EEXIST)),
                          map_dma("container", 0x103000, 0x2000, err(EEXIST)),
                          map_dma("container", 0xff000, 0x2000, err(EEXIST)),
                          map_dma("container", 0x104000, 0x1000, 0)}});
  out.push_back({"type1: unaligned iova, size or vaddr is EINVAL", "vfio_dma_do_map", S,
                 v2() + V{map_dma("container", 0x100800, 4096, err(EINVAL)),
                          map_dma("container", 0x100000, 2048, err(EINVAL)),
                          map_dma("container", 0x100000, 4096, err(EINVAL), kRW, 512),
                          map_dma("container", 0x100000, 0, err(EINVAL))}});
  out.push_back({"type1: map without READ or WRITE is EINVAL", "vfio_dma_do_map", S,
                 v2() + V{map_dma("container", 0x100000, 4096, err(EINVAL), 0)}});
  out.push_back({"type1: map with an unknown flag is EINVAL", "vfio_iommu_type1_map_dma", S,
                 v2() + V{map_dma("container", 0x100000, 4096, err(EINVAL), kRW | (1u << 5))}});
  out.push_back({"type1: map with a short argsz is EINVAL", "vfio_iommu_type1_map_dma", S,
                 v2() + V{map_dma("container", 0x100000, 4096, err(EINVAL), kRW, 0, 16)}});
  out.push_back({"type1: map wrapping past 2^64 is EINVAL", "vfio_dma_do_map", S,
                 v2() + V{map_dma("container", 0xfffffffffffff000ull, 0x2000, err(EINVAL))}});
  out.push_back({"type1: map in the MSI window is EINVAL", "vfio_iommu_iova_dma_valid", S,
                 v2() + V{map_dma("container", 0xfee00000, 4096, err(EINVAL))}});
  out.push_back({"type1: map beyond the IOMMU aperture is EINVAL", "vfio_iommu_iova_dma_valid", S,
                 v2() + V{map_dma("container", 1ull << 56, 4096, err(EINVAL))}});
  out.push_back({"type1: read-only mapping", "vfio_dma_do_map", S,
                 v2() + V{map_dma("container", 0x100000, 4096, 0, VFIO_DMA_MAP_FLAG_READ)}});
  out.push_back({"type1 v2: unmap of nothing succeeds with size 0", "vfio_dma_do_unmap", S,
                 v2() + V{unmap_dma("container", 0x100000, 4096, 0)}});
  out.push_back({"type1 v2: unmap that splits a mapping is EINVAL", "vfio_dma_do_unmap", S,
                 v2() + V{map_dma("container", 0x100000, 0x4000, 0),
                          unmap_dma("container", 0x101000, 0x3000, err(EINVAL)),
                          unmap_dma("container", 0x100000, 0x1000, err(EINVAL)),
                          unmap_dma("container", 0xff000, 0x2000, err(EINVAL)),
                          unmap_dma("container", 0x100000, 0x4000, 0x4000)}});
  out.push_back({"type1 v2: unmap over several mappings and holes", "vfio_dma_do_unmap", S,
                 v2() + V{map_dma("container", 0x100000, 0x1000, 0),
                          map_dma("container", 0x102000, 0x2000, 0),
                          unmap_dma("container", 0x0, 0x200000, 0x3000)}});
  out.push_back({"type1 v1: unmap inside a mapping unmaps nothing", "vfio_dma_do_unmap", S,
                 v1() + V{map_dma("container", 0x100000, 0x4000, 0),
                          unmap_dma("container", 0x101000, 0x1000, 0),
                          map_dma("container", 0x100000, 0x1000, err(EEXIST))}});
  out.push_back({"type1 v1: unmap covering a mapping's start takes all of it", "vfio_dma_do_unmap",
                 S,
                 v1() + V{map_dma("container", 0x100000, 0x4000, 0),
                          unmap_dma("container", 0x100000, 0x1000, 0x4000),
                          map_dma("container", 0x100000, 0x4000, 0)}});
  out.push_back({"type1: UNMAP_ALL", "vfio_dma_do_unmap", S,
                 v2() + V{map_dma("container", 0x100000, 0x1000, 0),
                          map_dma("container", 0x800000, 0x2000, 0),
                          unmap_dma("container", 0, 0, 0x3000, VFIO_DMA_UNMAP_FLAG_ALL),
                          unmap_dma("container", 0, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL)}});
  out.push_back(
      {"type1: UNMAP_ALL with an iova or size is EINVAL", "vfio_dma_do_unmap", S,
       v2() + V{unmap_dma("container", 0x1000, 0, err(EINVAL), VFIO_DMA_UNMAP_FLAG_ALL),
                unmap_dma("container", 0, 0x1000, err(EINVAL), VFIO_DMA_UNMAP_FLAG_ALL)}});
  out.push_back({"type1: unmap validation", "vfio_iommu_type1_unmap_dma", S,
                 v2() + V{unmap_dma("container", 0x100800, 0x1000, err(EINVAL)),
                          unmap_dma("container", 0x100000, 0, err(EINVAL)),
                          unmap_dma("container", 0x100000, 0x1000, err(EINVAL), 1u << 7),
                          unmap_dma("container", 0x100000, 0x1000, err(EINVAL), 0, 8),
                          unmap_dma("container", 0xfffffffffffff000ull, 0x2000, err(EINVAL))}});
  out.push_back({"type1: GET_INFO reports page sizes", "vfio_iommu_type1_get_info", S,
                 v2() + V{get_info(
                            16, 1,
                            [](vfio_iommu_type1_info* i) -> long {
                              return (i->flags & VFIO_IOMMU_INFO_PGSIZES) &&
                                     (i->iova_pgsizes & 4096);
                            },
                            "PGSIZES with 4 KiB")}});
  out.push_back(
      {"type1: GET_INFO argsz below 16 is EINVAL", "vfio_iommu_type1_get_info", S,
       v2() + V{get_info(
                  8, err(EINVAL), [](vfio_iommu_type1_info*) { return 0l; }, "rejected")}});
  out.push_back({"type1: GET_INFO asks for more room for its capabilities",
                 "vfio_iommu_type1_get_info", S,
                 v2() + V{get_info(
                            sizeof(vfio_iommu_type1_info), 1,
                            [](vfio_iommu_type1_info* i) -> long {
                              return (i->flags & VFIO_IOMMU_INFO_CAPS) &&
                                     i->argsz > sizeof(vfio_iommu_type1_info) && i->cap_offset == 0;
                            },
                            "CAPS flag, larger argsz, no caps copied")}});
  out.push_back({"type1: GET_INFO IOVA ranges exclude the MSI window", "vfio_iommu_iova_build_caps",
                 S,
                 v2() + V{get_info(
                            4096, 1,
                            [](vfio_iommu_type1_info* i) -> long {
                              const auto* c = find_cap(i, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE);
                              if (!c) return 0;
                              const auto* r =
                                  reinterpret_cast<const vfio_iommu_type1_info_cap_iova_range*>(c);
                              for (uint32_t k = 0; k < r->nr_iovas; ++k) {
                                const auto& v = r->iova_ranges[k];
                                if (v.start <= 0xfee00000 && 0xfee00000 <= v.end) return 0;
                              }
                              return r->nr_iovas >= 2;
                            },
                            "IOVA_RANGE around 0xfee00000")}});
  out.push_back({"type1: DMA_AVAIL counts mappings", "vfio_iommu_dma_avail_build_caps", S,
                 v2() + V{custom(
                            "DMA_AVAIL drops by one per mapping",
                            [](Env& e) -> long {
                              auto avail = [&]() -> long {
                                auto* info =
                                    static_cast<vfio_iommu_type1_info*>(e.buffer("info", 4096));
                                std::memset(info, 0, 4096);
                                info->argsz = 4096;
                                if (e.ioctl("container", VFIO_IOMMU_GET_INFO, info) < 0) return -1;
                                return dma_avail(info);
                              };
                              long before = avail();
                              vfio_iommu_type1_dma_map m{};
                              m.argsz = sizeof m;
                              m.flags = kRW;
                              m.vaddr = reinterpret_cast<uint64_t>(e.buffer("dma", 1 << 22));
                              m.iova = 0x100000;
                              m.size = 4096;
                              if (e.ioctl("container", VFIO_IOMMU_MAP_DMA, &m) < 0) return -2;
                              return before > 0 ? before - avail() : -3;
                            },
                            1)}});
  out.push_back({"type1 v1: dirty page tracking needs v2", "vfio_iommu_type1_dirty_pages", S,
                 v1() + V{dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START, err(EACCES))}});
  out.push_back(
      {"type1: dirty tracking start, bitmap, stop", "vfio_iommu_type1_dirty_pages", S,
       v2() + V{map_dma("container", 0x100000, 0x4000, 0),
                dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START, 0), get_bitmap(0x100000, 0x4000, 4096, 0),
                dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP, 0)}});
  out.push_back({"type1: dirty flags must be exactly one", "vfio_iommu_type1_dirty_pages", S,
                 v2() + V{dirty(0, err(EINVAL)), dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START |
                                                           VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP,
                                                       err(EINVAL))}});
  out.push_back({"type1: bitmap without tracking is EINVAL", "vfio_iova_dirty_bitmap", S,
                 v2() + V{map_dma("container", 0x100000, 0x4000, 0),
                          get_bitmap(0x100000, 0x4000, 4096, err(EINVAL))}});
  out.push_back({"type1: bitmap that splits a mapping or has the wrong page size is EINVAL",
                 "vfio_iova_dirty_bitmap", S,
                 v2() + V{map_dma("container", 0x100000, 0x4000, 0),
                          dirty(VFIO_IOMMU_DIRTY_PAGES_FLAG_START, 0),
                          get_bitmap(0x101000, 0x3000, 4096, err(EINVAL)),
                          get_bitmap(0x100000, 0x4000, 8192, err(EINVAL))}});
  out.push_back(
      {"type1: mapping past the locked-memory limit is ENOMEM, and maps nothing",
       "vfio_pin_pages_remote", Setup::kLowMemlock,
       v2() +
           V{map_dma("container", 0x100000, 2 * kLowMemlockBytes, err(ENOMEM)),
             map_dma("container", 0x100000, kLowMemlockBytes / 2, 0),
             map_dma("container", 0x800000, kLowMemlockBytes, err(ENOMEM), kRW, kLowMemlockBytes),
             unmap_dma("container", 0, 0, kLowMemlockBytes / 2, VFIO_DMA_UNMAP_FLAG_ALL),
             map_dma("container", 0x800000, kLowMemlockBytes, 0, kRW, kLowMemlockBytes)}});
  out.push_back({"type1: the mapping-count limit (dma_entry_limit) is ENOSPC", "vfio_dma_do_map", S,
                 v2() + V{custom(
                              "65535 one-page maps, then one more",
                              [](Env& e) -> long {
                                auto* page = e.buffer("dma", 1 << 22);
                                vfio_iommu_type1_dma_map m{};
                                m.argsz = sizeof m;
                                m.flags = kRW;
                                m.vaddr = reinterpret_cast<uint64_t>(page);
                                m.size = 4096;
                                for (uint64_t i = 0; i < 65535; ++i) {
                                  m.iova = 0x100000000ull + i * 4096;
                                  if (long r = e.ioctl("container", VFIO_IOMMU_MAP_DMA, &m); r < 0)
                                    return -100000 - static_cast<long>(i);  // failed too early
                                }
                                m.iova = 0x100000000ull + 65535 * 4096;
                                return e.ioctl("container", VFIO_IOMMU_MAP_DMA, &m);
                              },
                              err(ENOSPC)),
                          unmap_dma("container", 0, 0, 65535l * 4096, VFIO_DMA_UNMAP_FLAG_ALL)}});
  out.push_back(
      {"type1: a device can be opened after mappings exist", "vfio_df_group_open", S,
       v2() + V{map_dma("container", 0x100000, 0x4000, 0), get_device_fd("group", "dev", kFd),
                device_info("dev", 9), unmap_dma("container", 0x100000, 0x4000, 0x4000)}});
  out.push_back(
      {"type1: mappings survive the device closing", "vfio_df_group_close", S,
       v2() + V{get_device_fd("group", "dev", kFd), map_dma("container", 0x100000, 0x4000, 0),
                close_fd("dev"), unmap_dma("container", 0x100000, 0x4000, 0x4000)}});
}

}  // namespace uvfio::conformance
