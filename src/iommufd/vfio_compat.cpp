// The VFIO type1 container ioctls on an iommufd (drivers/iommu/iommufd/vfio_compat.c, Linux
// 6.12), plus the iommufd side of the VFIO group paths (vfio_df_group_open /
// vfio_iommufd_compat_attach_ioas, group.c's SET_CONTAINER with an iommufd).
//
// The ioctls work on the compat IOAS (ictx->vfio_ioas); without one they answer ENODEV.
// Errno differences from a type1 container are the kernel's own: unmaps that split a mapping
// are ENOENT (not EINVAL) and report the bytes removed before the error, the map's wrap checks
// are EOVERFLOW, there is no mapping-count limit, SET_IOMMU may be repeated, GET_INFO has no
// MIGRATION capability and reports U32_MAX available mappings.
//
// Deliberate differences from the kernel:
//  - MAP_DMA with neither READ nor WRITE is EINVAL: the kernel maps the range with no device
//    permission at all, which a uvfio IOAS cannot represent (and no user relies on).
//  - Unmapping an empty range succeeds with size 0, as 6.12.y since the Nov 2025 stable fix
//    (vanilla 6.12 said ENOENT).
//  - TYPE1 (v1) emulation splits areas at the unmap boundaries as iopt_cut_iova does, with
//    Ioas::split_at (both pieces share the area's memory, nothing is charged twice, devices
//    never see a gap, dirty bits carry over).
#include <linux/vfio.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "base/log_format.h"
#include "iommufd/iommufd_context.h"
#include "iommufd/iommufd_objects.h"
#include "uvfio/iommu/memory_source.h"
#include "vfio/fd_table.h"
#include "vfio/group.h"
#include "vfio/host.h"
#include "vfio/vfio_device.h"

namespace uvfio::vfio {

using iommu::IovaRange;
using iommufd_detail::bad_uptr;
using iommufd_detail::copy_in;
using iommufd_detail::copy_out;
using iommufd_detail::kPageSize;

namespace {

static_assert(sizeof(vfio_iommu_type1_info) == 24);
static_assert(sizeof(vfio_iommu_type1_dma_map) == 32);
static_assert(offsetof(vfio_info_cap_header, next) == 4);

constexpr uint64_t align8(uint64_t v) {
  return (v + 7) & ~uint64_t{7};
}

// The emulated IOMMU domain's page sizes: the IOMMU page, 2 MiB and 1 GiB where they are
// multiples of it (as the type1 backend reports them).
uint64_t domain_pgsizes(uint64_t page) {
  uint64_t bitmap = page;
  for (uint64_t huge : {uint64_t{1} << 21, uint64_t{1} << 30}) {
    if (huge > page && huge % page == 0) bitmap |= huge;
  }
  return bitmap;
}

}  // namespace

// ------------------------------------------------------------------------ group paths

long IommufdContext::compat_ioas_create() {
  // iommufd_vfio_compat_ioas_create: the IOAS the container ioctls use, made when a group is
  // attached unless one exists (or was chosen with IOMMU_VFIO_IOAS).
  auto o = new_ioas(creds_);
  if (!o) return -ENOMEM;
  std::lock_guard lk(mu_);
  if (no_iommu_mode_) return -EINVAL;  // a container is IOMMU or no-IOMMU, never both
  if (vfio_ioas_) return 0;
  if (alloc_id_locked(o) == 0) return -EBUSY;
  o->finalized = true;
  vfio_ioas_ = std::move(o);
  return 0;
}

long IommufdContext::compat_set_no_iommu() {
  std::lock_guard lk(mu_);
  if (vfio_ioas_) return -EINVAL;
  no_iommu_mode_ = true;
  return 0;
}

std::shared_ptr<iommu::Ioas> IommufdContext::compat_ioas() const {
  std::lock_guard lk(mu_);
  return vfio_ioas_ ? vfio_ioas_->ioas : nullptr;
}

bool IommufdContext::no_iommu_mode() const {
  std::lock_guard lk(mu_);
  return no_iommu_mode_;
}

long IommufdContext::group_device_open(const std::shared_ptr<VfioDevice>& device) {
  return group_device_open(device, creds_);
}

long IommufdContext::group_device_open(const std::shared_ptr<VfioDevice>& device,
                                       const Credentials& caller) {
  auto group = device->group();
  if (!group) return -ENODEV;
  if (group->noiommu()) {
    // vfio_df_group_open: the user must not have done anything that implies translation.
    if (!caller.cap_sys_rawio) return -EPERM;
    std::lock_guard lk(mu_);
    if (vfio_ioas_) return -EPERM;
    return 0;  // vfio_df_iommufd_bind / compat attach do nothing for a no-IOMMU device
  }
  auto id = device_bind(device);
  if (!id) return -id.error();
  uint32_t ioas_id = 0;
  {
    std::lock_guard lk(mu_);
    if (vfio_ioas_) ioas_id = vfio_ioas_->id;
  }
  // vfio_iommufd_compat_attach_ioas: ENODEV without a compat IOAS; the chosen HWPT is dropped.
  long rc = 0;
  if (ioas_id == 0) {
    rc = -ENODEV;
  } else if (auto r = device_attach(*id, ioas_id); !r) {
    rc = -r.error();
  }
  if (rc != 0) device_unbind(*id);
  return rc;
}

void IommufdContext::group_device_close(VfioDevice& device) {
  if (uint32_t id = device_id(device); id != 0) device_unbind(id);
}

// ------------------------------------------------------------------------ IOMMU_VFIO_IOAS

long IommufdContext::cmd_vfio_ioas(Ucmd& u) {
  auto& cmd = u.buf.vfio_ioas;
  if (cmd.__reserved != 0) return -EOPNOTSUPP;
  switch (cmd.op) {
    case uapi::IOMMU_VFIO_IOAS_GET: {
      std::unique_lock lk(mu_);
      if (!vfio_ioas_) return -ENODEV;
      cmd.ioas_id = vfio_ioas_->id;
      lk.unlock();
      return u.respond(sizeof(cmd));
    }
    case uapi::IOMMU_VFIO_IOAS_SET: {
      std::lock_guard lk(mu_);
      auto o = find_as_locked<IoasObj>(cmd.ioas_id);
      if (!o) return -ENOENT;
      vfio_ioas_ = std::move(o);
      return 0;
    }
    case uapi::IOMMU_VFIO_IOAS_CLEAR: {
      std::lock_guard lk(mu_);
      vfio_ioas_.reset();
      return 0;
    }
    default:
      return -EOPNOTSUPP;
  }
}

// ------------------------------------------------------------------------ container ioctls

Result<std::shared_ptr<IommufdContext::IoasObj>> IommufdContext::get_compat_ioas() {
  std::lock_guard lk(mu_);
  if (!vfio_ioas_) return Errno{ENODEV};
  ++vfio_ioas_->users;
  return vfio_ioas_;
}

long IommufdContext::compat_ioctl(FdTable& fds, unsigned int cmd, unsigned long arg) {
  // iommufd_vfio_ioctl.
  switch (cmd) {
    case VFIO_GET_API_VERSION:
      return VFIO_API_VERSION;
    case VFIO_SET_IOMMU:
      return compat_set_iommu(fds.creds(), arg);
    case VFIO_CHECK_EXTENSION:
      return compat_check_extension(arg);
    case VFIO_IOMMU_GET_INFO:
      return compat_get_info(arg);
    case VFIO_IOMMU_MAP_DMA:
      return compat_map_dma(arg);
    case VFIO_IOMMU_UNMAP_DMA:
      return compat_unmap_dma(arg);
    default:  // VFIO_IOMMU_DIRTY_PAGES included
      return -ENOTTY;
  }
}

long IommufdContext::compat_check_extension(unsigned long type) {
  switch (type) {
    case VFIO_TYPE1_IOMMU:
    case VFIO_TYPE1v2_IOMMU:
    case VFIO_UNMAP_ALL:
      return no_iommu_mode() ? 0 : 1;
    case VFIO_NOIOMMU_IOMMU:
      return 1;  // IS_ENABLED(CONFIG_VFIO_NOIOMMU), not the module parameter
    case VFIO_DMA_CC_IOMMU: {
      // 1 if every domain on the compat IOAS enforces coherency; emulated domains do not (no
      // snoop control, as the type1 backend says). No compat IOAS: -ENODEV, returned as is.
      std::lock_guard lk(mu_);
      if (!vfio_ioas_) return -ENODEV;
      return has_domain_locked(*vfio_ioas_) ? 0 : 1;
    }
    case VFIO_TYPE1_NESTING_IOMMU:
    case VFIO_UPDATE_VADDR:
    default:
      return 0;
  }
}

long IommufdContext::compat_set_iommu(const Credentials& caller, unsigned long type) {
  const bool no_iommu = no_iommu_mode();
  if (type == VFIO_NOIOMMU_IOMMU && no_iommu) return caller.cap_sys_rawio ? 0 : -EPERM;
  if ((type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU) || no_iommu) return -EINVAL;
  // A real container needs a group first (EINVAL); here, a compat IOAS.
  auto got = get_compat_ioas();
  if (!got) return -got.error();
  ObjRef o(this, std::move(*got));
  // TYPE1 may unmap inside mappings: emulated by disabling large pages, which lets unmaps cut.
  // May be repeated, and TYPE1v2 never turns it back off.
  if (type == VFIO_TYPE1_IOMMU) return disable_large_pages(*o);
  return 0;
}

long IommufdContext::compat_get_info(unsigned long arg) {
  // iommufd_vfio_iommu_get_info.
  vfio_iommu_type1_info info{};
  constexpr size_t kMinsz = offsetof(vfio_iommu_type1_info, iova_pgsizes) + sizeof(uint64_t);
  if (bad_uptr(arg)) return -EFAULT;
  copy_in(&info, arg, kMinsz);
  if (info.argsz < kMinsz) return -EINVAL;
  const size_t minsz = std::min<size_t>(info.argsz, sizeof(info));

  auto got = get_compat_ioas();
  if (!got) return -got.error();
  ObjRef o(this, std::move(*got));

  uint64_t pgsizes = UINT64_MAX;  // the AND of the domains' bitmaps (none: ULONG_MAX)
  uint64_t alignment = 0;
  {
    std::lock_guard lk(mu_);
    if (has_domain_locked(*o)) pgsizes &= domain_pgsizes(host_.options().iommu_page_size);
    alignment = iova_alignment_locked(*o);
  }
  if ((pgsizes & (kPageSize - 1)) != 0) {  // as vfio_update_pgsize_bitmap
    pgsizes &= ~(kPageSize - 1);
    pgsizes |= kPageSize;
  }
  info.flags = VFIO_IOMMU_INFO_PGSIZES;
  info.iova_pgsizes = std::max(pgsizes, alignment);
  info.cap_offset = 0;

  const std::vector<IovaRange> holes = o->ioas->iova_ranges();
  const uint64_t argsz = info.argsz;
  // Capabilities in iommufd's order: DMA_AVAIL then IOVA_RANGE. Each is written only if it fits
  // entirely; the previous one's `next` only if everything so far fits.
  uint64_t total = sizeof(info);
  uint64_t last_cap = 0;
  for (int i = 0; i < 2; ++i) {
    const uint64_t cur = argsz > total ? arg + total : 0;
    const uint64_t avail = argsz > total ? argsz - total : 0;
    uint64_t cap_size = 0;
    if (i == 0) {
      vfio_iommu_type1_info_dma_avail cap{};
      cap.header.id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL;
      cap.header.version = 1;
      cap.avail = UINT32_MAX;  // iommufd's limit is memory, not a mapping count
      if (avail >= sizeof(cap)) copy_out(cur, &cap, sizeof(cap));
      cap_size = sizeof(cap);
    } else {
      constexpr uint64_t kHdr = sizeof(vfio_iommu_type1_info_cap_iova_range);  // 16
      static_assert(kHdr == 16 && sizeof(vfio_iova_range) == 16);
      uint32_t n = 0;
      for (const IovaRange& r : holes) {
        if (avail >= kHdr + (uint64_t{n} + 1) * sizeof(vfio_iova_range)) {
          vfio_iova_range range{r.start, r.last};
          copy_out(cur + kHdr + uint64_t{n} * sizeof(range), &range, sizeof(range));
        }
        ++n;
      }
      cap_size = kHdr + uint64_t{n} * sizeof(vfio_iova_range);
      if (avail >= cap_size) {
        unsigned char hdr[kHdr] = {};
        const vfio_info_cap_header h{VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1, 0};
        std::memcpy(hdr, &h, sizeof(h));
        std::memcpy(hdr + sizeof(h), &n, sizeof(n));
        copy_out(cur, hdr, sizeof(hdr));
      }
    }
    cap_size = align8(cap_size);
    if (last_cap != 0 && argsz >= total) {
      const auto next = static_cast<uint32_t>(total);
      copy_out(last_cap + offsetof(vfio_info_cap_header, next), &next, sizeof(next));
    }
    last_cap = arg + total;
    total += cap_size;
  }
  if (argsz >= total) info.cap_offset = sizeof(info);
  info.argsz = static_cast<uint32_t>(total);
  info.flags |= VFIO_IOMMU_INFO_CAPS;
  copy_out(arg, &info, minsz);
  return 0;
}

long IommufdContext::compat_map_dma(unsigned long arg) {
  // iommufd_vfio_map_dma: a fixed-IOVA iopt_map_user_pages.
  vfio_iommu_type1_dma_map map{};
  constexpr size_t kMinsz = offsetof(vfio_iommu_type1_dma_map, size) + sizeof(uint64_t);
  if (bad_uptr(arg)) return -EFAULT;
  copy_in(&map, arg, kMinsz);
  const uint32_t supported = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  if (map.argsz < kMinsz || (map.flags & ~supported) != 0) return -EINVAL;  // VADDR included

  auto got = get_compat_ioas();
  if (!got) return -got.error();
  ObjRef o(this, std::move(*got));

  // iopt_alloc_pages, then the placement checks (iopt_check_iova) in the IOAS.
  if (map.size == 0 || map.size > SIZE_MAX - kPageSize) return -EINVAL;
  if (map.vaddr + map.size < map.vaddr) return -EOVERFLOW;
  uint32_t flags = iommu::kMapFixedIova;
  if (map.flags & VFIO_DMA_MAP_FLAG_READ) flags |= iommu::kMapRead;
  if (map.flags & VFIO_DMA_MAP_FLAG_WRITE) flags |= iommu::kMapWrite;
  if ((flags & (iommu::kMapRead | iommu::kMapWrite)) == 0) return -EINVAL;  // see above
  if (map.iova == UINT64_MAX) return -EINVAL;  // never aligned (the IOAS would say EOVERFLOW)
  auto r = o->ioas->map(iommu::MemorySource::process(reinterpret_cast<void*>(map.vaddr), map.size),
                        map.iova, flags, iommu::Frontend::kIommufd);
  return r ? 0 : -r.error();
}

// iopt_cut_iova for one IOVA: the area containing `iova` is split so that `iova` ends its left
// piece. Nothing to do at an area's first or last byte, or outside any area.
int IommufdContext::compat_cut(IoasObj& o, uint64_t iova) {
  iommu::AreaInfo a{};
  bool found = false;
  for (const iommu::AreaInfo& x : o.ioas->areas()) {
    if (x.iova <= iova && iova - x.iova < x.length) {
      a = x;
      found = true;
      break;
    }
  }
  if (!found) return 0;
  const uint64_t last = a.iova + (a.length - 1);
  if (iova == a.iova || iova == last) return 0;
  uint64_t align = 0;
  {
    std::lock_guard lk(mu_);
    align = iova_alignment_locked(o);
  }
  if (((iova + 1) & (align - 1)) != 0) return -EINVAL;
  if (a.pins != 0) return -EINVAL;  // splitting is not permitted while an access pins the area

  auto r = o.ioas->split_at(iova);  // atomic for devices; dirty bits carry over
  return r ? 0 : -r.error();
}

long IommufdContext::compat_unmap_dma(unsigned long arg) {
  // iommufd_vfio_unmap_dma.
  vfio_iommu_type1_dma_unmap unmap{};
  constexpr size_t kMinsz = offsetof(vfio_iommu_type1_dma_unmap, size) + sizeof(uint64_t);
  if (bad_uptr(arg)) return -EFAULT;
  copy_in(&unmap, arg, kMinsz);
  if (unmap.argsz < kMinsz || (unmap.flags & ~uint32_t{VFIO_DMA_UNMAP_FLAG_ALL}) != 0) {
    return -EINVAL;  // GET_DIRTY_BITMAP and VADDR included
  }
  auto got = get_compat_ioas();
  if (!got) return -got.error();
  ObjRef o(this, std::move(*got));

  long rc = 0;
  uint64_t unmapped = 0;
  if (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
    if (unmap.iova != 0 || unmap.size != 0) return -EINVAL;  // nothing written back
    auto r = o->ioas->unmap_all(iommu::Frontend::kIommufd);
    if (r) {
      unmapped = *r;
    } else {
      rc = -r.error();
    }
  } else {
    bool cut = false;
    {
      std::lock_guard lk(mu_);
      cut = o->disable_large_pages;
    }
    if (cut) {
      // TYPE1: cut at the last byte and before the first (unless the range starts at 0), with
      // the kernel's unchecked arithmetic; a failed cut returns without writing back.
      const uint64_t iovas[] = {unmap.iova + unmap.size - 1, unmap.iova - 1};
      for (int i = 0; i < (unmap.iova != 0 ? 2 : 1); ++i) {
        if (int c = compat_cut(*o, iovas[i]); c != 0) return c;
      }
    }
    // iopt_unmap_iova: every area met must lie inside the range (ENOENT otherwise, after the
    // ones before it are gone); nothing met is success with 0 bytes (6.12.y).
    const uint64_t last = unmap.iova + (unmap.size - 1);
    if (unmap.size == 0) {
      rc = -EINVAL;
    } else if (last < unmap.iova) {
      rc = -EOVERFLOW;
    } else {
      std::vector<iommu::AreaInfo> before;
      for (const iommu::AreaInfo& a : o->ioas->areas()) {
        if (a.iova <= last && a.iova + (a.length - 1) >= unmap.iova) before.push_back(a);
      }
      if (!before.empty()) {
        if (before.front().iova < unmap.iova) {
          rc = -ENOENT;  // the first area met straddles the start: nothing removed
        } else if (auto r = o->ioas->unmap(unmap.iova, unmap.size, iommu::Frontend::kIommufd)) {
          unmapped = *r;
        } else {
          rc = -r.error();
          // Areas go one at a time, lowest first, and stay gone: report what went.
          const auto after = o->ioas->areas();
          for (const iommu::AreaInfo& a : before) {
            const bool kept = std::any_of(after.begin(), after.end(), [&](const auto& b) {
              return b.iova == a.iova && b.length == a.length;
            });
            if (!kept) unmapped += a.length;
          }
        }
      }
    }
  }
  unmap.size = unmapped;  // written back on error too
  copy_out(arg, &unmap, kMinsz);
  return rc;
}

}  // namespace uvfio::vfio
