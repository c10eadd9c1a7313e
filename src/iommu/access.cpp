// Access: an emulated device's DMA engine on an IOAS (iommufd_access): rw, pin/unpin, and the
// unmap callback contract.
#include "uvfio/iommu/access.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/bus_error_guard.h"
#include "base/grace_period.h"
#include "iommu/access_core.h"
#include "iommu/ioas_state.h"
#include "uvfio/base/fault_injection.h"

namespace uvfio::iommu {
namespace {

// The areas covering [iova, last] must be contiguous and allow `perm`; checked in address order
// so the first problem found is the one the kernel reports. Inside a read section.
int check_range(IoasState& s, uint64_t iova, uint64_t last, uint32_t need_perm) {
  for (uint64_t at = iova;;) {
    Area* a = s.lookup(at);
    if (a == nullptr) return ENOENT;
    if (a->prevent_access.load(std::memory_order_acquire)) return EINVAL;
    if ((a->perm & need_perm) != need_perm) return EPERM;
    if (a->last >= last) return 0;
    at = a->last + 1;
  }
}

// Drops one pin reference on every area of [iova, last]; shared IOAS lock held.
void release_pins(IoasState& s, uint64_t iova, uint64_t last, bool write) {
  for (uint64_t at = iova;;) {
    Area* a = s.area_at(at);
    if (a == nullptr) return;  // cannot happen: pinned areas are never removed
    a->pins.fetch_sub(1, std::memory_order_release);
    if (write) {
      a->write_pins.fetch_sub(1, std::memory_order_relaxed);
      // type1 marks pages unpinned after a device wrote them dirty.
      if (s.dirty_tracking.load(std::memory_order_acquire)) {
        a->mark_dirty(std::max(iova, a->iova), std::min(last, a->last));
      }
    }
    if (a->last >= last) return;
    at = a->last + 1;
  }
}

}  // namespace

static void unregister(IoasState& s, const Access::Core& c) {
  std::lock_guard alk(s.access_mu);
  auto& v = s.accesses;
  v.erase(std::remove_if(v.begin(), v.end(),
                         [&](const std::weak_ptr<Access::Core>& w) {
                           auto p = w.lock();
                           return !p || p.get() == &c;
                         }),
          v.end());
}

// Points the access at `next` (or nowhere): device threads switch over atomically, and the old
// IOAS is let go only once no read section can still be using it. Core mutex held; no pins.
static void switch_ioas(Access::Core& c, const std::shared_ptr<Ioas>& next) {
  if (next) {
    std::lock_guard alk(next->state().access_mu);
    next->state().accesses.push_back(c.shared_from_this());
  }
  std::shared_ptr<Ioas> old = std::move(c.ioas);
  c.ioas = next;
  c.state.store(next ? &next->state() : nullptr, std::memory_order_release);
  if (old) {
    unregister(old->state(), c);
    synchronize_readers();
  }
}

void access_notify_unmap(Access::Core& core, uint64_t iova, uint64_t length) {
  const uint64_t last = iova + (length - 1);
  {
    std::lock_guard lk(core.mu);
    bool any = std::any_of(core.pins.begin(), core.pins.end(), [&](const Access::Core::Pin& p) {
      return p.iova <= last && p.iova + (p.length - 1) >= iova;
    });
    if (!any) return;
  }
  if (core.on_unmap) core.on_unmap(iova, length);
}

std::shared_ptr<Access> Access::create(UnmapCallback on_unmap) {
  std::shared_ptr<Access> a(new Access);
  a->core_ = std::make_shared<Core>();
  a->core_->on_unmap = std::move(on_unmap);
  return a;
}

Access::~Access() {
  // A device that goes away drops its pins and leaves its IOAS.
  std::vector<Core::Pin> pins;
  {
    std::lock_guard lk(core_->mu);
    pins = core_->pins;
  }
  for (const auto& p : pins) (void)unpin(p.iova, p.length);
  (void)detach();
}

std::shared_ptr<Ioas> Access::ioas() const {
  std::lock_guard lk(core_->mu);
  return core_->ioas;
}

Result<void> Access::attach(const std::shared_ptr<Ioas>& ioas) {
  if (!ioas) return Errno{EINVAL};
  if (fault::should_fail("access: attach")) return Errno{ENOMEM};
  std::lock_guard lk(core_->mu);
  if (core_->ioas) return Errno{EINVAL};
  switch_ioas(*core_, ioas);
  return {};
}

Result<void> Access::replace(const std::shared_ptr<Ioas>& ioas) {
  if (!ioas) return Errno{EINVAL};
  {
    std::lock_guard lk(core_->mu);
    if (!core_->ioas) return Errno{ENOENT};
    if (core_->ioas == ioas) return {};
  }
  // As iommufd_access_change_ioas: the old IOAS's pins must go first; ask for them.
  if (pin_count() != 0 && core_->on_unmap) core_->on_unmap(0, UINT64_MAX);
  std::lock_guard lk(core_->mu);
  if (!core_->pins.empty()) return Errno{EBUSY};
  switch_ioas(*core_, ioas);
  return {};
}

Result<void> Access::detach() {
  {
    std::lock_guard lk(core_->mu);
    if (!core_->ioas) return Errno{EINVAL};
  }
  if (pin_count() != 0 && core_->on_unmap) core_->on_unmap(0, UINT64_MAX);
  std::lock_guard lk(core_->mu);
  if (!core_->ioas) return Errno{EINVAL};
  if (!core_->pins.empty()) return Errno{EBUSY};
  switch_ioas(*core_, nullptr);
  return {};
}

// A piece of a transfer that lands in remote memory: done by callback after the read section.
struct RemotePiece {
  std::shared_ptr<Pages> pages;  // keeps the callbacks alive past an unmap
  uint64_t source_offset;        // within the memory source
  uint64_t buf_offset;           // within the caller's buffer
  uint64_t length;
};

// A device read or write of [iova, iova+length): checks the whole range first, then calls
// copy(host, offset, n) for each host-contiguous piece (offset into the caller's buffer; false if
// the memory vanished under it: a truncated file), all in
// one read section so no piece can be unmapped underneath. Pieces in remote memory are collected
// and handed to remote(memory, source_offset, buf_offset, n) after the section: those calls may
// block on another process, and a read section must never wait (an unmap waits for it). Writes
// mark pages dirty.
template <class Copy, class Remote>
static Result<void> transfer(Access::Core& core, uint64_t iova, size_t length, uint32_t perm,
                             Copy&& copy, Remote&& remote) {
  if (length == 0) return Errno{EINVAL};
  const uint64_t last = iova + (length - 1);
  if (last < iova) return Errno{EOVERFLOW};
  std::vector<RemotePiece> remote_pieces;
  {
    ReadSection rs;
    IoasState* s = core.state.load(std::memory_order_acquire);
    if (s == nullptr) return Errno{ENOENT};
    const bool track = (perm & kPermWrite) && s->dirty_tracking.load(std::memory_order_acquire);
    Area* a = s->lookup(iova);
    // Fast path: one area of local memory, allowed, not being torn down.
    if (a != nullptr && last <= a->last && (a->perm & perm) == perm &&
        !a->prevent_access.load(std::memory_order_relaxed) && a->pages->remote() == nullptr) {
      if (!copy(a->host(iova), 0, length)) return Errno{EFAULT};
      if (track) a->mark_dirty(iova, last);
      return {};
    }
    if (int err = check_range(*s, iova, last, perm)) return Errno{err};
    for (uint64_t at = iova;;) {
      a = s->lookup(at);
      if (a == nullptr) return Errno{ENOENT};  // unmapped since the check, by a racing unmap
      const uint64_t end = std::min(a->last, last);
      if (a->pages->remote() != nullptr) {
        remote_pieces.push_back(
            {a->pages, a->pages_offset + (at - a->iova), at - iova, end - at + 1});
      } else {
        if (!copy(a->host(at), at - iova, end - at + 1)) return Errno{EFAULT};
      }
      if (track) a->mark_dirty(at, end);
      if (end == last) break;
      at = end + 1;
    }
  }
  for (const RemotePiece& p : remote_pieces) {
    if (int rc = remote(*p.pages->remote(), p.source_offset, p.buf_offset, p.length); rc < 0) {
      return Errno{-rc};
    }
  }
  return {};
}

Result<void> Access::read(uint64_t iova, void* dst, size_t length) {
  auto* out = static_cast<std::byte*>(dst);
  return transfer(
      *core_, iova, length, kPermRead,
      [out](std::byte* host, uint64_t off, uint64_t n) {
        return guarded_memcpy(out + off, host, n);
      },
      [out](RemoteMemory& m, uint64_t src_off, uint64_t off, uint64_t n) {
        return m.read(src_off, out + off, n);
      });
}

Result<void> Access::write(uint64_t iova, const void* src, size_t length) {
  const auto* in = static_cast<const std::byte*>(src);
  return transfer(
      *core_, iova, length, kPermWrite,
      [in](std::byte* host, uint64_t off, uint64_t n) { return guarded_memcpy(host, in + off, n); },
      [in](RemoteMemory& m, uint64_t dst_off, uint64_t off, uint64_t n) {
        return m.write(dst_off, in + off, n);
      });
}

Result<Translation> Access::translate(uint64_t iova) {
  ReadSection rs;
  IoasState* s = core_->state.load(std::memory_order_acquire);
  if (s == nullptr) return Errno{ENOENT};
  Area* a = s->lookup(iova);
  if (a == nullptr) return Errno{ENOENT};
  return Translation{a->iova, a->last - iova + 1, a->perm};
}

Result<std::vector<PinnedSegment>> Access::pin(uint64_t iova, uint64_t length, uint32_t flags) {
  // iommufd_access_pin_pages.
  if (length == 0) return Errno{EINVAL};
  const uint64_t last = iova + (length - 1);
  if (last < iova) return Errno{EOVERFLOW};
  if (fault::should_fail("access: pin")) return Errno{ENOMEM};
  const bool write = flags & kAccessWrite;
  const uint32_t need = write ? kPermWrite : kPermRead;

  std::lock_guard clk(core_->mu);
  if (!core_->ioas) return Errno{ENOENT};
  IoasState& s = core_->ioas->state();
  if (iova & (s.page_size - 1)) return Errno{EINVAL};
  std::shared_lock lk(s.mu);
  std::vector<PinnedSegment> segs;
  for (uint64_t at = iova;;) {
    Area* a = s.area_at(at);
    if (a == nullptr) return Errno{ENOENT};
    if (a->prevent_access.load(std::memory_order_acquire)) return Errno{EINVAL};
    if ((a->perm & need) != need) return Errno{EPERM};
    // Memory reached only by messages has no host page to hold (as GUP fails on a VM_IO range).
    if (a->pages->remote() != nullptr) return Errno{EFAULT};
    const uint64_t end = std::min(a->last, last);
    std::byte* host = a->host(at);
    if (!segs.empty() && segs.back().host + segs.back().length == host) {
      segs.back().length += end - at + 1;
    } else {
      segs.push_back({host, end - at + 1});
    }
    if (end == last) break;
    at = end + 1;
  }
  // Everything checked: take the references (no failure past this point).
  for (uint64_t at = iova;;) {
    Area* a = s.area_at(at);  // present: checked above under the same lock
    if (a == nullptr) break;
    a->pins.fetch_add(1, std::memory_order_acq_rel);
    if (write) a->write_pins.fetch_add(1, std::memory_order_relaxed);
    if (write && s.dirty_tracking.load(std::memory_order_acquire)) {
      a->mark_dirty(std::max(iova, a->iova), std::min(last, a->last));
    }
    if (a->last >= last) break;
    at = a->last + 1;
  }
  core_->pins.push_back({iova, length, write});
  return segs;
}

Result<void> Access::unpin(uint64_t iova, uint64_t length) {
  std::lock_guard clk(core_->mu);
  auto it = std::find_if(core_->pins.begin(), core_->pins.end(),
                         [&](const Core::Pin& p) { return p.iova == iova && p.length == length; });
  if (it == core_->pins.end() || !core_->ioas) return Errno{EINVAL};
  IoasState& s = core_->ioas->state();
  const bool write = it->write;
  core_->pins.erase(it);
  std::shared_lock lk(s.mu);
  release_pins(s, iova, iova + (length - 1), write);
  return {};
}

size_t Access::pin_count() const {
  std::lock_guard lk(core_->mu);
  return core_->pins.size();
}

}  // namespace uvfio::iommu
