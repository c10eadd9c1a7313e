// IommufdContext: the object table, main.c's ioctl dispatch, ioas.c's IOAS ioctls, and device.c /
// hw_pagetable.c's device binding, automatic domains and access objects — Linux 6.12.
//
// Deliberate differences from the kernel (each repeated where it applies):
//  - An IOAS always enforces its IOMMU page size (IoasOptions::page_size) on IOVAs, lengths and
//    memory, where the kernel's software-only IOAS (no domain attached) accepts any alignment.
//    out_iova_alignment reports what is enforced: at least the IOMMU page size, PAGE_SIZE with
//    large pages disabled or an access attached.
//  - Memory is checked (EFAULT) and charged at map time, as the kernel does once a domain is
//    attached; with no domain the kernel pins lazily. RLIMIT_MODE is recorded and reported but
//    both modes charge the host's single account (none with CAP_IPC_LOCK, like type1 here).
//  - The emulated IOMMU has no domain_alloc_user, dirty tracking, nesting, PASID or page faults:
//    IOMMU_HWPT_ALLOC takes flags 0 and no driver data (EOPNOTSUPP otherwise, as such a kernel
//    driver answers), the dirty-tracking and invalidate commands fail as they do for such a
//    domain, GET_HW_INFO reports IOMMU_HW_INFO_TYPE_NONE, and IOMMU_FAULT_QUEUE_ALLOC is not
//    implemented (EOPNOTSUPP after its own checks).
//  - A device's DMA translates through its own iommu::Access, attached when that device is
//    attached; the kernel attaches the whole group when its first device attaches.
#include "iommufd/iommufd_context.h"

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>

#include "base/log_format.h"
#include "iommufd/iommufd_objects.h"
#include "uvfio/base/fault_injection.h"
#include "uvfio/iommu/memlock_account.h"
#include "uvfio/iommu/memory_source.h"
#include "vfio/fd_table.h"
#include "vfio/group.h"
#include "vfio/host.h"
#include "vfio/vfio_device.h"

namespace uvfio::vfio {

using namespace uvfio::uapi;  // NOLINT(google-build-using-namespace): the kernel's names
using iommu::IovaRange;
using iommufd_detail::bad_uptr;
using iommufd_detail::copy_in;
using iommufd_detail::copy_out;
using iommufd_detail::kPageSize;

namespace {

#define UVFIO_OFFSETOFEND(type, member) (offsetof(type, member) + sizeof(type::member))

constexpr uint32_t kMaxObjectId = 0x7fffffff;  // xa_limit_31b

// DMA ownership of IOMMU groups (iommu_device_claim_dma_owner with the iommufd context as
// owner): all the devices of a group must be bound to the same context. Process-wide, like the
// kernel's group->owner.
struct DmaOwner {
  const IommufdContext* owner = nullptr;
  int count = 0;
};
std::mutex g_owner_mu;
std::map<const Group*, DmaOwner> g_owners;

int claim_dma_owner(const Group* g, const IommufdContext* owner) {
  std::lock_guard lk(g_owner_mu);
  DmaOwner& o = g_owners[g];
  if (o.count != 0 && o.owner != owner) return -EBUSY;
  o.owner = owner;
  ++o.count;
  return 0;
}

void release_dma_owner(const Group* g) {
  std::lock_guard lk(g_owner_mu);
  auto it = g_owners.find(g);
  if (it != g_owners.end() && --it->second.count == 0) g_owners.erase(it);
}

// Every area of `areas` (sorted by IOVA) aligned to `align` in IOVA and length
// (iopt_check_iova_alignment).
bool areas_aligned(const std::vector<iommu::AreaInfo>& areas, uint64_t align) {
  return std::all_of(areas.begin(), areas.end(), [&](const iommu::AreaInfo& a) {
    return ((a.iova | a.length) & (align - 1)) == 0;
  });
}

// [first, last] covered by contiguous areas (iopt_area_contig_init / _done).
bool covered(const std::vector<iommu::AreaInfo>& areas, uint64_t first, uint64_t last) {
  uint64_t at = first;
  for (const iommu::AreaInfo& a : areas) {
    const uint64_t a_last = a.iova + (a.length - 1);
    if (a_last < at) continue;
    if (a.iova > at) return false;
    if (a_last >= last) return true;
    at = a_last + 1;
  }
  return false;
}

}  // namespace

// ------------------------------------------------------------------------ life cycle

IommufdContext::IommufdContext(Host& host, Credentials creds, bool vfio_container_node)
    : host_(host),
      creds_(std::move(creds)),
      account_mode_(vfio_container_node ? AccountMode::kMm : AccountMode::kUser) {}

IommufdContext::~IommufdContext() {
  destroy_all();
}

void IommufdContext::release() {
  destroy_all();
}

void IommufdContext::destroy_all() {
  // iommufd_fops_release: destroys every object. Devices and accesses hold a reference on the
  // file, so only IOASes and HWPTs can be left; IOAS destruction unmaps everything.
  std::map<uint32_t, std::shared_ptr<Object>> objects;
  {
    std::lock_guard ctl(ctl_mu_);
    std::lock_guard lk(mu_);
    objects.swap(objects_);
    vfio_ioas_.reset();
    igroups_.clear();
  }
  for (auto& [id, obj] : objects) {
    if (obj->type == Object::Type::kIoas) {
      auto& o = static_cast<IoasObj&>(*obj);
      (void)o.ioas->unmap_all();
      o.hwpts.clear();  // break the IOAS <-> HWPT cycle
    } else if (obj->type == Object::Type::kHwptPaging) {
      static_cast<HwptObj&>(*obj).ioas.reset();
    } else if (obj->type == Object::Type::kDevice) {
      auto& d = static_cast<DeviceObj&>(*obj);
      if (d.group) release_dma_owner(d.group.get());
      d.hwpt.reset();
    } else if (obj->type == Object::Type::kAccess) {
      static_cast<AccessObj&>(*obj).ioas.reset();
    }
  }
}

// ------------------------------------------------------------------------ object table

uint32_t IommufdContext::alloc_id_locked(std::shared_ptr<Object> obj) {
  // xa_alloc over XA_FLAGS_ALLOC1: the lowest free id from 1.
  uint32_t id = 1;
  for (const auto& [used, o] : objects_) {
    if (used != id) break;
    ++id;
  }
  if (id > kMaxObjectId) return 0;
  obj->id = id;
  objects_.emplace(id, std::move(obj));
  return id;
}

std::shared_ptr<IommufdContext::Object> IommufdContext::find_locked(uint32_t id) const {
  auto it = objects_.find(id);
  if (it == objects_.end() || !it->second->finalized) return nullptr;
  return it->second;
}

Result<std::shared_ptr<IommufdContext::IoasObj>> IommufdContext::get_ioas(uint32_t id) {
  std::lock_guard lk(mu_);
  auto o = find_as_locked<IoasObj>(id);
  if (!o) return Errno{ENOENT};
  ++o->users;
  return o;
}

void IommufdContext::put(Object& obj) {
  std::lock_guard lk(mu_);
  --obj.users;
}

std::shared_ptr<IommufdContext::IoasObj> IommufdContext::new_ioas(const Credentials& creds) {
  if (fault::should_fail("iommufd: ioas object")) return nullptr;
  // Pages created by a CAP_IPC_LOCK task are not accounted (IOPT_PAGES_ACCOUNT_NONE).
  auto account = creds.cap_ipc_lock
                     ? iommu::MemlockAccount::create(iommu::MemlockAccount::kUnlimited)
                     : host_.memlock_account();
  auto ioas = iommu::Ioas::create({.page_size = host_.options().iommu_page_size,
                                   .account = std::move(account),
                                   .max_areas = 0});  // iommufd has no mapping-count limit
  if (!ioas) return nullptr;
  auto o = std::make_shared<IoasObj>();
  o->ioas = std::move(*ioas);
  return o;
}

bool IommufdContext::has_domain_locked(const IoasObj& o) const {
  return std::any_of(o.hwpts.begin(), o.hwpts.end(), [](const auto& h) { return h->added; });
}

uint64_t IommufdContext::iova_alignment_locked(const IoasObj& o) const {
  // iopt_calculate_iova_alignment, raised to what the uvfio IOAS enforces (its page size).
  uint64_t align = o.disable_large_pages ? kPageSize : 1;
  if (has_domain_locked(o)) align = std::max(align, host_.options().iommu_page_size);
  if (o.accesses > 0) align = std::max(align, kPageSize);
  return std::max(align, o.ioas->page_size());
}

size_t IommufdContext::object_count() const {
  std::lock_guard lk(mu_);
  return objects_.size();
}

IommufdContext::AccountMode IommufdContext::account_mode() const {
  std::lock_guard lk(mu_);
  return account_mode_;
}

std::shared_ptr<iommu::Ioas> IommufdContext::ioas(uint32_t ioas_id) const {
  std::lock_guard lk(mu_);
  auto o = find_as_locked<IoasObj>(ioas_id);
  return o ? o->ioas : nullptr;
}

// ------------------------------------------------------------------------ dispatch (main.c)

long IommufdContext::ioctl(FdTable& fds, unsigned long request, unsigned long arg) {
  // The kernel's ioctl command is 32 bits wide.
  return dispatch(fds, static_cast<unsigned int>(request), arg);
}

long IommufdContext::dispatch(FdTable& fds, unsigned int cmd, unsigned long arg) {
  struct Op {
    unsigned int size;
    unsigned int min_size;
    unsigned long num;
    long (IommufdContext::*execute)(Ucmd&);
  };
#define UVFIO_IOCTL_OP(num, fn, type, last)                               \
  Op {                                                                    \
    sizeof(type), UVFIO_OFFSETOFEND(type, last), num, &IommufdContext::fn \
  }
  // Indexed by _IOC_NR(cmd) - IOMMUFD_CMD_BASE, as iommufd_ioctl_ops[] (no IOMMUFD_TEST).
  static const Op kOps[] = {
      UVFIO_IOCTL_OP(IOMMU_DESTROY, cmd_destroy, iommu_destroy, id),
      UVFIO_IOCTL_OP(IOMMU_IOAS_ALLOC, cmd_ioas_alloc, iommu_ioas_alloc, out_ioas_id),
      UVFIO_IOCTL_OP(IOMMU_IOAS_ALLOW_IOVAS, cmd_ioas_allow_iovas, iommu_ioas_allow_iovas,
                     allowed_iovas),
      UVFIO_IOCTL_OP(IOMMU_IOAS_COPY, cmd_ioas_copy, iommu_ioas_copy, src_iova),
      UVFIO_IOCTL_OP(IOMMU_IOAS_IOVA_RANGES, cmd_ioas_iova_ranges, iommu_ioas_iova_ranges,
                     out_iova_alignment),
      UVFIO_IOCTL_OP(IOMMU_IOAS_MAP, cmd_ioas_map, iommu_ioas_map, iova),
      UVFIO_IOCTL_OP(IOMMU_IOAS_UNMAP, cmd_ioas_unmap, iommu_ioas_unmap, length),
      UVFIO_IOCTL_OP(IOMMU_OPTION, cmd_option, iommu_option, val64),
      UVFIO_IOCTL_OP(IOMMU_VFIO_IOAS, cmd_vfio_ioas, iommu_vfio_ioas, __reserved),
      UVFIO_IOCTL_OP(IOMMU_HWPT_ALLOC, cmd_hwpt_alloc, iommu_hwpt_alloc, __reserved),
      UVFIO_IOCTL_OP(IOMMU_GET_HW_INFO, cmd_get_hw_info, iommu_hw_info, __reserved),
      UVFIO_IOCTL_OP(IOMMU_HWPT_SET_DIRTY_TRACKING, cmd_hwpt_set_dirty_tracking,
                     iommu_hwpt_set_dirty_tracking, __reserved),
      UVFIO_IOCTL_OP(IOMMU_HWPT_GET_DIRTY_BITMAP, cmd_hwpt_get_dirty_bitmap,
                     iommu_hwpt_get_dirty_bitmap, data),
      UVFIO_IOCTL_OP(IOMMU_HWPT_INVALIDATE, cmd_hwpt_invalidate, iommu_hwpt_invalidate, __reserved),
      UVFIO_IOCTL_OP(IOMMU_FAULT_QUEUE_ALLOC, cmd_fault_queue_alloc, iommu_fault_alloc,
                     out_fault_fd),
  };
#undef UVFIO_IOCTL_OP
  constexpr size_t kNumOps = sizeof(kOps) / sizeof(kOps[0]);
  static_assert(kNumOps == IOMMUFD_CMD_FAULT_QUEUE_ALLOC - IOMMUFD_CMD_BASE + 1);

  const unsigned int nr = cmd & 0xffu;  // _IOC_NR
  if (nr < IOMMUFD_CMD_BASE || nr - IOMMUFD_CMD_BASE >= kNumOps) return compat_ioctl(fds, cmd, arg);

  Ucmd u;
  std::memset(&u.buf, 0, sizeof(u.buf));
  u.fds = &fds;
  u.ubuffer = arg;
  if (bad_uptr(arg)) return -EFAULT;  // get_user(size)
  copy_in(&u.user_size, arg, sizeof(u.user_size));

  const Op& op = kOps[nr - IOMMUFD_CMD_BASE];
  if (op.num != cmd) return -ENOTTY;  // -ENOIOCTLCMD
  if (u.user_size < op.min_size) return -EINVAL;

  // copy_struct_from_user: a longer user struct must be zero past what the kernel knows, a
  // shorter one is zero-extended.
  if (u.user_size > op.size) {
    const auto* tail = reinterpret_cast<const unsigned char*>(arg) + op.size;
    for (size_t i = 0; i < u.user_size - op.size; ++i) {
      if (tail[i] != 0) return -E2BIG;
    }
  }
  copy_in(&u.buf, arg, std::min<size_t>(u.user_size, op.size));
  return (this->*op.execute)(u);
}

// ------------------------------------------------------------------------ IOMMU_DESTROY

long IommufdContext::cmd_destroy(Ucmd& u) {
  // iommufd_object_remove(ictx, NULL, id, 0).
  std::shared_ptr<Object> victim;
  {
    std::lock_guard lk(mu_);
    auto it = objects_.find(u.buf.destroy.id);
    if (it == objects_.end() || !it->second->finalized) return -ENOENT;
    // Devices and accesses are held by their driver, an IOAS by its domains and accesses, a
    // domain by its devices: only an unused object can go.
    if (it->second->users != 1) return -EBUSY;
    victim = it->second;
    objects_.erase(it);
    if (vfio_ioas_ == victim) vfio_ioas_.reset();
    if (victim->type == Object::Type::kHwptPaging) {
      auto& h = static_cast<HwptObj&>(*victim);
      remove_domain(h);
      --h.ioas->users;
      h.ioas.reset();
    }
  }
  if (victim->type == Object::Type::kIoas) {
    // iommufd_ioas_destroy: everything mapped goes (holders of the Ioas see it empty).
    (void)static_cast<IoasObj&>(*victim).ioas->unmap_all();
  }
  return 0;
}

// ------------------------------------------------------------------------ ioas.c

long IommufdContext::cmd_ioas_alloc(Ucmd& u) {
  auto& cmd = u.buf.alloc;
  if (cmd.flags != 0) return -EOPNOTSUPP;
  auto o = new_ioas(u.fds->creds());
  if (!o) return -ENOMEM;
  {
    std::lock_guard lk(mu_);
    if (alloc_id_locked(o) == 0) return -EBUSY;
  }
  cmd.out_ioas_id = o->id;
  if (long rc = u.respond(sizeof(cmd)); rc != 0) {
    std::lock_guard lk(mu_);
    objects_.erase(o->id);  // iommufd_object_abort_and_destroy: the id is free again
    return rc;
  }
  std::lock_guard lk(mu_);
  o->finalized = true;
  return 0;
}

long IommufdContext::cmd_ioas_iova_ranges(Ucmd& u) {
  auto& cmd = u.buf.iova_ranges;
  if (cmd.__reserved != 0) return -EOPNOTSUPP;
  auto got = get_ioas(cmd.ioas_id);
  if (!got) return -got.error();
  ObjRef o(this, std::move(*got));

  const uint32_t max_iovas = cmd.num_iovas;
  cmd.num_iovas = 0;
  {
    std::lock_guard lk(mu_);
    cmd.out_iova_alignment = iova_alignment_locked(*o);
  }
  // The holes of the reserved ranges, ascending; counting goes on past the caller's array.
  for (const IovaRange& r : o->ioas->iova_ranges()) {
    if (cmd.num_iovas < max_iovas) {
      const uint64_t dst = cmd.allowed_iovas + uint64_t{cmd.num_iovas} * sizeof(iommu_iova_range);
      if (bad_uptr(cmd.allowed_iovas)) return -EFAULT;
      iommu_iova_range elm{r.start, r.last};
      copy_out(dst, &elm, sizeof(elm));
    }
    ++cmd.num_iovas;
  }
  if (long rc = u.respond(sizeof(cmd)); rc != 0) return rc;
  if (cmd.num_iovas > max_iovas) return -EMSGSIZE;
  return 0;
}

long IommufdContext::cmd_ioas_allow_iovas(Ucmd& u) {
  auto& cmd = u.buf.allow_iovas;
  if (cmd.__reserved != 0) return -EOPNOTSUPP;
  auto got = get_ioas(cmd.ioas_id);
  if (!got) return -got.error();
  ObjRef o(this, std::move(*got));

  // iommufd_ioas_load_iovas then iopt_set_allow_iova (start >= last and overlaps are EINVAL in
  // list order; a reserved range hit is EADDRINUSE and leaves the old list in place).
  std::vector<IovaRange> ranges;
  if (cmd.num_iovas != 0 && bad_uptr(cmd.allowed_iovas)) return -EFAULT;
  ranges.reserve(cmd.num_iovas);
  for (uint32_t i = 0; i < cmd.num_iovas; ++i) {
    iommu_iova_range r;
    copy_in(&r, cmd.allowed_iovas + uint64_t{i} * sizeof(r), sizeof(r));
    ranges.push_back({r.start, r.last});
  }
  if (auto r = o->ioas->set_allowed_iovas(ranges); !r) return -r.error();
  return 0;
}

long IommufdContext::cmd_ioas_map(Ucmd& u) {
  auto& cmd = u.buf.map;
  constexpr uint32_t kFlags =
      IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;
  if ((cmd.flags & ~kFlags) != 0 || cmd.__reserved != 0) return -EOPNOTSUPP;
  if (cmd.iova >= UINT64_MAX || cmd.length >= UINT64_MAX) return -EOVERFLOW;
  if ((cmd.flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE)) == 0) return -EINVAL;
  auto got = get_ioas(cmd.ioas_id);
  if (!got) return -got.error();
  ObjRef o(this, std::move(*got));

  // iopt_alloc_pages: a length the page arithmetic cannot hold.
  if (cmd.length > SIZE_MAX - kPageSize) return -EINVAL;
  static_assert(IOMMU_IOAS_MAP_FIXED_IOVA == iommu::kMapFixedIova &&
                IOMMU_IOAS_MAP_WRITEABLE == iommu::kMapWrite &&
                IOMMU_IOAS_MAP_READABLE == iommu::kMapRead);
  auto r =
      o->ioas->map(iommu::MemorySource::process(reinterpret_cast<void*>(cmd.user_va), cmd.length),
                   cmd.iova, cmd.flags, iommu::Frontend::kIommufd);
  if (!r) return -r.error();
  cmd.iova = *r;
  return u.respond(sizeof(cmd));  // EFAULT here leaves the mapping in place, as the kernel
}

long IommufdContext::cmd_ioas_copy(Ucmd& u) {
  auto& cmd = u.buf.ioas_copy;
  constexpr uint32_t kFlags =
      IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE;
  if ((cmd.flags & ~kFlags) != 0) return -EOPNOTSUPP;
  if (cmd.length >= UINT64_MAX || cmd.src_iova >= UINT64_MAX || cmd.dst_iova >= UINT64_MAX) {
    return -EOVERFLOW;
  }
  if ((cmd.flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE)) == 0) return -EINVAL;

  auto got_src = get_ioas(cmd.src_ioas_id);
  if (!got_src) return -got_src.error();
  ObjRef src(this, std::move(*got_src));
  // iopt_get_pages, before the destination is looked up.
  if (cmd.length == 0) return -EINVAL;
  const uint64_t src_last = cmd.src_iova + (cmd.length - 1);
  if (src_last < cmd.src_iova) return -EOVERFLOW;
  if (!covered(src->ioas->areas(), cmd.src_iova, src_last)) return -ENOENT;

  auto got_dst = get_ioas(cmd.dst_ioas_id);
  if (!got_dst) return -got_dst.error();
  ObjRef dst(this, std::move(*got_dst));
  auto r = dst->ioas->copy_from(*src->ioas, cmd.src_iova, cmd.length, cmd.dst_iova, cmd.flags);
  if (!r) return -r.error();
  cmd.dst_iova = *r;
  return u.respond(sizeof(cmd));
}

long IommufdContext::cmd_ioas_unmap(Ucmd& u) {
  auto& cmd = u.buf.unmap;
  auto got = get_ioas(cmd.ioas_id);
  if (!got) return -got.error();
  ObjRef o(this, std::move(*got));
  // (0, U64_MAX) is unmap-all (succeeds on an empty IOAS); otherwise EOVERFLOW for 2^64-1,
  // EINVAL for length 0, ENOENT when nothing (or a straddled area first) is met.
  auto r = o->ioas->unmap(cmd.iova, cmd.length, iommu::Frontend::kIommufd);
  if (!r) return -r.error();
  cmd.length = *r;
  return u.respond(sizeof(cmd));
}

// ------------------------------------------------------------------------ IOMMU_OPTION

long IommufdContext::cmd_option(Ucmd& u) {
  auto& cmd = u.buf.option;
  if (cmd.__reserved != 0) return -EOPNOTSUPP;
  long rc = 0;
  switch (cmd.option_id) {
    case IOMMU_OPTION_RLIMIT_MODE:
      // iommufd_option_rlimit_mode.
      if (cmd.object_id != 0) return -EOPNOTSUPP;
      if (cmd.op == IOMMU_OPTION_OP_GET) {
        std::lock_guard lk(mu_);
        cmd.val64 = account_mode_ == AccountMode::kMm ? 1 : 0;
      } else if (cmd.op == IOMMU_OPTION_OP_SET) {
        if (!u.fds->creds().cap_sys_resource) return -EPERM;
        std::lock_guard lk(mu_);
        if (!objects_.empty()) return -EBUSY;
        if (cmd.val64 == 0) {
          account_mode_ = AccountMode::kUser;
        } else if (cmd.val64 == 1) {
          account_mode_ = AccountMode::kMm;
        } else {
          return -EINVAL;
        }
      } else {
        return -EOPNOTSUPP;
      }
      break;
    case IOMMU_OPTION_HUGE_PAGES:
      rc = option_huge_pages(u);
      break;
    default:
      return -EOPNOTSUPP;
  }
  if (rc != 0) return rc;
  // Only val64 goes back, for SET too.
  copy_out(u.ubuffer + offsetof(iommu_option, val64), &cmd.val64, sizeof(cmd.val64));
  return 0;
}

long IommufdContext::option_huge_pages(Ucmd& u) {
  // iommufd_ioas_option / iommufd_ioas_option_huge_pages.
  auto& cmd = u.buf.option;
  auto got = get_ioas(cmd.object_id);
  if (!got) return -got.error();
  ObjRef o(this, std::move(*got));
  if (cmd.op == IOMMU_OPTION_OP_GET) {
    std::lock_guard lk(mu_);
    cmd.val64 = o->disable_large_pages ? 0 : 1;
    return 0;
  }
  if (cmd.op == IOMMU_OPTION_OP_SET) {
    if (cmd.val64 == 0) return disable_large_pages(*o);
    if (cmd.val64 == 1) {
      std::lock_guard lk(mu_);
      o->disable_large_pages = false;  // iopt_enable_large_pages
      return 0;
    }
    return -EINVAL;
  }
  return -EOPNOTSUPP;
}

int IommufdContext::disable_large_pages(IoasObj& o) {
  // iopt_disable_large_pages: refused once a domain holds mappings; the alignment becomes
  // PAGE_SIZE, which every existing area must already meet.
  std::lock_guard lk(mu_);
  if (o.disable_large_pages) return 0;
  auto areas = o.ioas->areas();
  if (has_domain_locked(o) && !areas.empty()) return -EINVAL;
  const uint64_t cur = iova_alignment_locked(o);
  if (std::max(cur, kPageSize) > cur && !areas_aligned(areas, kPageSize)) return -EADDRINUSE;
  o.disable_large_pages = true;
  return 0;
}

// ------------------------------------------------------------------------ hw_pagetable.c

long IommufdContext::cmd_hwpt_alloc(Ucmd& u) {
  auto& cmd = u.buf.hwpt;
  if (cmd.__reserved != 0) return -EOPNOTSUPP;
  if ((cmd.data_type == IOMMU_HWPT_DATA_NONE && cmd.data_len != 0) ||
      (cmd.data_type != IOMMU_HWPT_DATA_NONE && cmd.data_len == 0)) {
    return -EINVAL;
  }
  std::lock_guard ctl(ctl_mu_);
  std::shared_ptr<DeviceObj> idev;
  std::shared_ptr<Object> pt;
  {
    std::lock_guard lk(mu_);
    idev = find_as_locked<DeviceObj>(cmd.dev_id);
    if (!idev) return -ENOENT;
    pt = find_locked(cmd.pt_id);
    if (!pt) return -EINVAL;
  }
  std::shared_ptr<HwptObj> hwpt;
  if (pt->type == Object::Type::kIoas) {
    // iommufd_hwpt_paging_alloc: the emulated IOMMU has no domain_alloc_user, so any flag or
    // driver data is EOPNOTSUPP.
    if (cmd.flags != 0 || cmd.data_len != 0) return -EOPNOTSUPP;
    auto made = new_hwpt(std::static_pointer_cast<IoasObj>(pt), /*auto_domain=*/false);
    if (!made) return -made.error();
    hwpt = std::move(*made);
    if (int rc = add_domain(hwpt); rc != 0) {
      abort_hwpt(hwpt);
      return rc;
    }
  } else if (pt->type == Object::Type::kHwptPaging) {
    // iommufd_hwpt_nested_alloc: needs driver data and domain_alloc_user.
    return -EOPNOTSUPP;
  } else {
    return -EINVAL;
  }
  cmd.out_hwpt_id = hwpt->id;
  if (long rc = u.respond(sizeof(cmd)); rc != 0) {
    abort_hwpt(hwpt);
    return rc;
  }
  std::lock_guard lk(mu_);
  hwpt->finalized = true;
  return 0;
}

long IommufdContext::cmd_get_hw_info(Ucmd& u) {
  auto& cmd = u.buf.info;
  if (cmd.flags != 0 || cmd.__reserved[0] != 0 || cmd.__reserved[1] != 0 ||
      cmd.__reserved[2] != 0) {
    return -EOPNOTSUPP;
  }
  {
    std::lock_guard lk(mu_);
    if (!find_as_locked<DeviceObj>(cmd.dev_id)) return -ENOENT;
  }
  // No hw_info op: type NONE, no data (the user's buffer is zeroed), no capabilities.
  cmd.out_data_type = IOMMU_HW_INFO_TYPE_NONE;
  if (cmd.data_len != 0) {
    if (bad_uptr(cmd.data_uptr)) return -EFAULT;
    std::memset(reinterpret_cast<void*>(cmd.data_uptr), 0, cmd.data_len);
  }
  cmd.data_len = 0;
  cmd.out_capabilities = 0;
  cmd.out_max_pasid_log2 = 0;
  return u.respond(sizeof(cmd));
}

long IommufdContext::cmd_hwpt_set_dirty_tracking(Ucmd& u) {
  auto& cmd = u.buf.set_dirty_tracking;
  if ((cmd.flags & ~uint32_t{IOMMU_HWPT_DIRTY_TRACKING_ENABLE}) != 0) return -EOPNOTSUPP;
  std::lock_guard lk(mu_);
  if (!find_as_locked<HwptObj>(cmd.hwpt_id)) return -ENOENT;
  return -EOPNOTSUPP;  // iopt_set_dirty_tracking: the domain has no dirty_ops
}

long IommufdContext::cmd_hwpt_get_dirty_bitmap(Ucmd& u) {
  auto& cmd = u.buf.get_dirty_bitmap;
  if ((cmd.flags & ~uint32_t{IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR}) != 0 || cmd.__reserved != 0) {
    return -EOPNOTSUPP;
  }
  std::lock_guard lk(mu_);
  auto hwpt = find_as_locked<HwptObj>(cmd.hwpt_id);
  if (!hwpt) return -ENOENT;
  // iommufd_check_iova_range, then iommu_read_and_clear_dirty without dirty_ops.
  const uint64_t align = iova_alignment_locked(*hwpt->ioas);
  if (cmd.length == 0) return -EINVAL;
  const uint64_t last = cmd.iova + (cmd.length - 1);
  if (last < cmd.iova) return -EOVERFLOW;
  if ((cmd.iova & (align - 1)) != 0 || ((last + 1) & (align - 1)) != 0) return -EINVAL;
  if (cmd.page_size == 0) return -EINVAL;
  if ((cmd.iova & (cmd.page_size - 1)) != 0 || ((last + 1) & (cmd.page_size - 1)) != 0) {
    return -EINVAL;
  }
  return -EOPNOTSUPP;
}

long IommufdContext::cmd_hwpt_invalidate(Ucmd& u) {
  auto& cmd = u.buf.cache;
  constexpr uint32_t kEntryNumMax = 1u << 19;  // IOMMU_HWPT_INVALIDATE_ENTRY_NUM_MAX
  long rc = 0;
  if (cmd.__reserved != 0) {
    rc = -EOPNOTSUPP;
  } else if (cmd.entry_num != 0 && (cmd.data_uptr == 0 || cmd.entry_len == 0 ||
                                    cmd.entry_len > kPageSize || cmd.entry_num > kEntryNumMax)) {
    rc = -EINVAL;
  } else {
    rc = -ENOENT;  // iommufd_get_hwpt_nested: there are no nested HWPTs
  }
  cmd.entry_num = 0;  // every path reports the entries handled
  if (u.respond(sizeof(cmd)) != 0) return -EFAULT;
  return rc;
}

long IommufdContext::cmd_fault_queue_alloc(Ucmd& u) {
  if (u.buf.fault.flags != 0) return -EOPNOTSUPP;
  return -EOPNOTSUPP;  // fault queues (IOPF) are not emulated
}

// ------------------------------------------------------------------------ domains

Result<std::shared_ptr<IommufdContext::HwptObj>> IommufdContext::new_hwpt(
    const std::shared_ptr<IoasObj>& ioas, bool auto_domain) {
  if (fault::should_fail("iommufd: hwpt object")) return Errno{ENOMEM};
  auto h = std::make_shared<HwptObj>();
  h->ioas = ioas;
  h->auto_domain = auto_domain;
  std::lock_guard lk(mu_);
  if (alloc_id_locked(h) == 0) return Errno{EBUSY};
  ++ioas->users;  // the domain holds its IOAS
  return h;
}

int IommufdContext::add_domain(const std::shared_ptr<HwptObj>& hwpt) {
  // iopt_table_add_domain.
  std::lock_guard lk(mu_);
  IoasObj& o = *hwpt->ioas;
  const uint64_t cur = iova_alignment_locked(o);
  const uint64_t new_align = std::max(host_.options().iommu_page_size, cur);
  if (new_align > kPageSize) return -EINVAL;
  if (new_align != cur && !areas_aligned(o.ioas->areas(), new_align)) return -EADDRINUSE;
  // The aperture: nothing may be mapped outside it (EADDRINUSE against areas and allowed
  // ranges).
  const uint64_t aperture_last = host_.options().aperture_last;
  if (aperture_last != UINT64_MAX) {
    const IovaRange beyond{aperture_last + 1, UINT64_MAX};
    if (auto r = o.ioas->add_reserved(beyond); !r) return -r.error();
    hwpt->aperture.push_back(beyond);
  }
  hwpt->added = true;
  o.hwpts.push_back(hwpt);
  return 0;
}

void IommufdContext::remove_domain(HwptObj& hwpt) {
  // iopt_table_remove_domain (mu_ held).
  if (!hwpt.added) return;
  for (const IovaRange& r : hwpt.aperture) (void)hwpt.ioas->ioas->remove_reserved(r);
  hwpt.aperture.clear();
  hwpt.added = false;
  auto& list = hwpt.ioas->hwpts;
  list.erase(
      std::remove_if(list.begin(), list.end(), [&](const auto& h) { return h.get() == &hwpt; }),
      list.end());
}

void IommufdContext::abort_hwpt(const std::shared_ptr<HwptObj>& hwpt) {
  // iommufd_object_abort_and_destroy of a domain that was never published.
  std::lock_guard lk(mu_);
  remove_domain(*hwpt);
  objects_.erase(hwpt->id);
  --hwpt->ioas->users;
}

void IommufdContext::hwpt_put(const std::shared_ptr<HwptObj>& hwpt) {
  // iommufd_hw_pagetable_put (mu_ held): an automatic domain goes with its last device.
  --hwpt->users;
  if (!hwpt->auto_domain || hwpt->users != 1) return;
  remove_domain(*hwpt);
  objects_.erase(hwpt->id);
  --hwpt->ioas->users;
}

int IommufdContext::reserve_device_ranges(DeviceObj& d, IoasObj& ioas,
                                          std::vector<IovaRange>* out) {
  // iopt_table_enforce_dev_resv_regions: all or nothing.
  for (const IovaRange& r : d.group->reserved_ranges()) {
    if (auto res = ioas.ioas->add_reserved(r); !res) {
      unreserve(ioas, *out);
      return -res.error();
    }
    out->push_back(r);
  }
  return 0;
}

void IommufdContext::unreserve(IoasObj& ioas, std::vector<IovaRange>& ranges) {
  for (const IovaRange& r : ranges) (void)ioas.ioas->remove_reserved(r);
  ranges.clear();
}

IommufdContext::IGroup& IommufdContext::igroup(const Group* g) {
  return igroups_[g];
}

// iommufd_hw_pagetable_attach: the device joins the domain its group uses (EINVAL if the group
// uses another), its reserved ranges go into the IOAS, and for a new domain the domain is added
// (immediate attach order). Then its DMA access is attached. ctl_mu_ held.
int IommufdContext::attach_hwpt(DeviceObj& d, const std::shared_ptr<HwptObj>& hwpt, bool is_new) {
  IGroup* ig;
  {
    std::lock_guard lk(mu_);
    ig = &igroup(d.group.get());
    if (ig->hwpt && ig->hwpt != hwpt) return -EINVAL;
  }
  std::vector<IovaRange> resv;
  if (int rc = reserve_device_ranges(d, *hwpt->ioas, &resv); rc != 0) return rc;
  if (is_new) {
    if (int rc = add_domain(hwpt); rc != 0) {
      unreserve(*hwpt->ioas, resv);
      return rc;
    }
  }
  auto access = d.device->access();
  if (access) {
    if (auto r = access->attach(hwpt->ioas->ioas); !r) {
      unreserve(*hwpt->ioas, resv);
      if (is_new) {
        std::lock_guard lk(mu_);
        remove_domain(*hwpt);
      }
      return -r.error();
    }
  }
  std::lock_guard lk(mu_);
  ig->hwpt = hwpt;
  ig->devices.push_back(&d);
  ++hwpt->users;
  d.hwpt = hwpt;
  d.access = std::move(access);
  d.reserved = std::move(resv);
  ++d.users;  // iommufd_device_attach: an attached device cannot be destroyed
  return 0;
}

// iommufd_device_do_replace: the whole group moves to `hwpt`. ctl_mu_ held.
int IommufdContext::replace_hwpt(DeviceObj& d, const std::shared_ptr<HwptObj>& hwpt) {
  IGroup* ig;
  std::shared_ptr<HwptObj> old;
  std::vector<DeviceObj*> devs;
  {
    std::lock_guard lk(mu_);
    ig = &igroup(d.group.get());
    if (!ig->hwpt) return -EINVAL;
    if (std::find(ig->devices.begin(), ig->devices.end(), &d) == ig->devices.end()) return -EINVAL;
    if (hwpt == ig->hwpt) return 0;
    old = ig->hwpt;
    devs = ig->devices;
  }
  const bool same_ioas = old->ioas == hwpt->ioas;
  std::vector<std::vector<IovaRange>> resv(devs.size());
  if (!same_ioas) {
    for (size_t i = 0; i < devs.size(); ++i) {
      if (int rc = reserve_device_ranges(*devs[i], *hwpt->ioas, &resv[i]); rc != 0) {
        for (size_t j = 0; j < i; ++j) unreserve(*hwpt->ioas, resv[j]);
        return rc;
      }
    }
    // Every device's DMA moves over; the accesses ask their device models to unpin first.
    for (size_t i = 0; i < devs.size(); ++i) {
      if (!devs[i]->access) continue;
      if (auto r = devs[i]->access->replace(hwpt->ioas->ioas); !r) {
        for (size_t j = 0; j < i; ++j) {
          if (devs[j]->access) (void)devs[j]->access->replace(old->ioas->ioas);
        }
        for (auto& v : resv) unreserve(*hwpt->ioas, v);
        return -r.error();
      }
    }
    for (size_t i = 0; i < devs.size(); ++i) {
      unreserve(*old->ioas, devs[i]->reserved);
      devs[i]->reserved = std::move(resv[i]);
    }
  }
  std::lock_guard lk(mu_);
  ig->hwpt = hwpt;
  const int n = static_cast<int>(devs.size());
  for (DeviceObj* x : devs) x->hwpt = hwpt;
  hwpt->users += n;
  old->users -= n - 1;
  hwpt_put(old);
  return 0;
}

// iommufd_device_auto_get_domain: reuse an automatic domain of the IOAS that takes the device
// (EINVAL from one means "incompatible, try the next"), else make one. ctl_mu_ held.
Result<uint32_t> IommufdContext::auto_domain(DeviceObj& d, const std::shared_ptr<IoasObj>& ioas,
                                             bool replace) {
  std::vector<std::shared_ptr<HwptObj>> candidates;
  {
    std::lock_guard lk(mu_);
    for (const auto& h : ioas->hwpts) {
      if (h->auto_domain && h->finalized) candidates.push_back(h);
    }
  }
  for (const auto& h : candidates) {
    int rc = replace ? replace_hwpt(d, h) : attach_hwpt(d, h, false);
    if (rc == -EINVAL) continue;
    if (rc != 0) return Errno{-rc};
    return h->id;
  }
  auto made = new_hwpt(ioas, /*auto_domain=*/true);
  if (!made) return Errno{made.error()};
  auto hwpt = std::move(*made);
  if (!replace) {
    // Immediate attach: the device's checks and reservations, then the domain's.
    if (int rc = attach_hwpt(d, hwpt, /*is_new=*/true); rc != 0) {
      abort_hwpt(hwpt);
      return Errno{-rc};
    }
  } else {
    if (int rc = add_domain(hwpt); rc != 0) {
      abort_hwpt(hwpt);
      return Errno{-rc};
    }
    if (int rc = replace_hwpt(d, hwpt); rc != 0) {
      abort_hwpt(hwpt);
      return Errno{-rc};
    }
  }
  std::lock_guard lk(mu_);
  hwpt->finalized = true;
  return hwpt->id;
}

// ------------------------------------------------------------------------ devices

Result<uint32_t> IommufdContext::device_bind(const std::shared_ptr<VfioDevice>& device) {
  auto group = device->group();
  if (!group) return Errno{ENODEV};
  std::lock_guard ctl(ctl_mu_);
  {
    std::lock_guard lk(mu_);
    for (const auto& [id, obj] : objects_) {
      if (obj->type == Object::Type::kDevice &&
          static_cast<DeviceObj&>(*obj).device.get() == device.get()) {
        return Errno{EINVAL};
      }
    }
  }
  if (fault::should_fail("iommufd: device object")) return Errno{ENOMEM};
  if (int rc = claim_dma_owner(group.get(), this); rc != 0) return Errno{-rc};
  auto d = std::make_shared<DeviceObj>();
  d->device = device;
  d->group = group;
  d->users = 2;  // the binding driver is a user until unbind
  {
    std::lock_guard lk(mu_);
    if (alloc_id_locked(d) == 0) {
      release_dma_owner(group.get());
      return Errno{EBUSY};
    }
    d->finalized = true;
    ++igroup(group.get()).bound;
  }
  get_ref();  // iommufd_ctx_get: the binding keeps the file open
  return d->id;
}

void IommufdContext::detach_locked_ctl(DeviceObj& d) {
  // iommufd_device_detach: ctl_mu_ held, device attached.
  std::shared_ptr<HwptObj> hwpt = d.hwpt;
  {
    std::lock_guard lk(mu_);
    IGroup& ig = igroup(d.group.get());
    ig.devices.erase(std::remove(ig.devices.begin(), ig.devices.end(), &d), ig.devices.end());
    if (ig.devices.empty()) ig.hwpt.reset();
  }
  unreserve(*hwpt->ioas, d.reserved);
  if (auto access = std::move(d.access)) {
    if (auto r = access->detach(); !r && r.error() != EINVAL) {
      log_warn("iommufd", "{}: DMA access kept pins across detach ({})", d.device->name(),
               r.error());
    }
  }
  std::lock_guard lk(mu_);
  d.hwpt.reset();
  --d.users;
  hwpt_put(hwpt);
}

void IommufdContext::device_unbind(uint32_t dev_id) {
  {
    std::lock_guard ctl(ctl_mu_);
    std::shared_ptr<DeviceObj> d;
    {
      std::lock_guard lk(mu_);
      d = find_as_locked<DeviceObj>(dev_id);
      if (!d) return;
    }
    if (d->hwpt) detach_locked_ctl(*d);
    {
      std::lock_guard lk(mu_);
      objects_.erase(dev_id);
      auto it = igroups_.find(d->group.get());
      if (it != igroups_.end() && --it->second.bound == 0 && !it->second.hwpt) igroups_.erase(it);
    }
    release_dma_owner(d->group.get());
  }
  put_ref();  // may release this context: no lock held
}

Result<uint32_t> IommufdContext::device_attach(uint32_t dev_id, uint32_t pt_id) {
  std::lock_guard ctl(ctl_mu_);
  std::shared_ptr<DeviceObj> d;
  std::shared_ptr<Object> pt;
  {
    std::lock_guard lk(mu_);
    d = find_as_locked<DeviceObj>(dev_id);
    if (!d) return Errno{ENOENT};
    pt = find_locked(pt_id);
    if (!pt) return Errno{ENOENT};
    ++pt->users;  // iommufd_get_object
  }
  const bool attached = d->hwpt != nullptr;
  Result<uint32_t> r = Errno{EINVAL};
  if (pt->type == Object::Type::kHwptPaging) {
    auto hwpt = std::static_pointer_cast<HwptObj>(pt);
    int rc = attached ? replace_hwpt(*d, hwpt) : attach_hwpt(*d, hwpt, false);
    if (rc == 0) {
      r = pt_id;
    } else {
      r = Errno{-rc};
    }
  } else if (pt->type == Object::Type::kIoas) {
    r = auto_domain(*d, std::static_pointer_cast<IoasObj>(pt), attached);
  }
  std::lock_guard lk(mu_);
  --pt->users;
  return r;
}

void IommufdContext::device_detach(uint32_t dev_id) {
  std::lock_guard ctl(ctl_mu_);
  std::shared_ptr<DeviceObj> d;
  {
    std::lock_guard lk(mu_);
    d = find_as_locked<DeviceObj>(dev_id);
  }
  if (d && d->hwpt) detach_locked_ctl(*d);
}

bool IommufdContext::device_attached(uint32_t dev_id) const {
  std::lock_guard lk(mu_);
  auto d = find_as_locked<DeviceObj>(dev_id);
  return d && d->hwpt;
}

uint32_t IommufdContext::device_id(const VfioDevice& device) const {
  std::lock_guard lk(mu_);
  for (const auto& [id, obj] : objects_) {
    if (obj->type == Object::Type::kDevice &&
        static_cast<DeviceObj&>(*obj).device.get() == &device) {
      return id;
    }
  }
  return 0;
}

// ------------------------------------------------------------------------ accesses

Result<uint32_t> IommufdContext::access_create(iommu::Access::UnmapCallback on_unmap) {
  if (fault::should_fail("iommufd: access object")) return Errno{ENOMEM};
  auto a = std::make_shared<AccessObj>();
  a->access = iommu::Access::create(std::move(on_unmap));
  a->users = 2;  // the driver is a user until iommufd_access_destroy
  {
    std::lock_guard lk(mu_);
    if (alloc_id_locked(a) == 0) return Errno{EBUSY};
    a->finalized = true;
  }
  get_ref();  // iommufd_ctx_get
  return a->id;
}

Result<void> IommufdContext::access_attach(uint32_t access_id, uint32_t ioas_id) {
  std::lock_guard ctl(ctl_mu_);
  std::shared_ptr<AccessObj> a;
  {
    std::lock_guard lk(mu_);
    a = find_as_locked<AccessObj>(access_id);
    if (!a) return Errno{ENOENT};
    if (a->ioas) return Errno{EINVAL};
  }
  auto got = get_ioas(ioas_id);
  if (!got) return Errno{got.error()};
  ObjRef o(this, std::move(*got));
  {
    // iopt_add_access: PAGE_SIZE alignment (needs_pin_pages) must suit the existing areas.
    std::lock_guard lk(mu_);
    const uint64_t cur = iova_alignment_locked(*o);
    if (cur < kPageSize && !areas_aligned(o->ioas->areas(), kPageSize)) return Errno{EADDRINUSE};
  }
  if (auto r = a->access->attach(o->ioas); !r) return r;
  std::lock_guard lk(mu_);
  a->ioas = o.ptr();
  ++o->users;
  ++o->accesses;
  return {};
}

Result<void> IommufdContext::access_replace(uint32_t access_id, uint32_t ioas_id) {
  std::lock_guard ctl(ctl_mu_);
  std::shared_ptr<AccessObj> a;
  {
    std::lock_guard lk(mu_);
    a = find_as_locked<AccessObj>(access_id);
    if (!a || !a->ioas) return Errno{ENOENT};
  }
  auto got = get_ioas(ioas_id);
  if (!got) return Errno{got.error()};
  ObjRef o(this, std::move(*got));
  if (o.ptr() == a->ioas) return {};
  {
    std::lock_guard lk(mu_);
    const uint64_t cur = iova_alignment_locked(*o);
    if (cur < kPageSize && !areas_aligned(o->ioas->areas(), kPageSize)) return Errno{EADDRINUSE};
  }
  if (auto r = a->access->replace(o->ioas); !r) return r;
  std::lock_guard lk(mu_);
  --a->ioas->users;
  --a->ioas->accesses;
  a->ioas = o.ptr();
  ++o->users;
  ++o->accesses;
  return {};
}

void IommufdContext::access_detach(uint32_t access_id) {
  std::lock_guard ctl(ctl_mu_);
  std::shared_ptr<AccessObj> a;
  {
    std::lock_guard lk(mu_);
    a = find_as_locked<AccessObj>(access_id);
    if (!a || !a->ioas) return;  // the kernel WARNs and does nothing
  }
  if (auto r = a->access->detach(); !r) {
    log_warn("iommufd", "access {}: pins kept across detach ({})", access_id, r.error());
    return;
  }
  std::lock_guard lk(mu_);
  --a->ioas->users;
  --a->ioas->accesses;
  a->ioas.reset();
}

void IommufdContext::access_destroy(uint32_t access_id) {
  {
    std::lock_guard ctl(ctl_mu_);
    std::shared_ptr<AccessObj> a;
    {
      std::lock_guard lk(mu_);
      a = find_as_locked<AccessObj>(access_id);
      if (!a) return;
    }
    if (a->ioas) {
      if (auto r = a->access->detach(); !r) {
        log_warn("iommufd", "access {}: destroyed with pins held ({})", access_id, r.error());
      }
    }
    std::lock_guard lk(mu_);
    if (a->ioas) {
      --a->ioas->users;
      --a->ioas->accesses;
      a->ioas.reset();
    }
    objects_.erase(access_id);
  }
  put_ref();
}

std::shared_ptr<iommu::Access> IommufdContext::access(uint32_t access_id) const {
  std::lock_guard lk(mu_);
  auto a = find_as_locked<AccessObj>(access_id);
  return a ? a->access : nullptr;
}

}  // namespace uvfio::vfio
