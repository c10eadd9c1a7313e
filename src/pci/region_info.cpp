// GET_REGION_INFO frame and capability chains (vfio_pci_ioctl_get_region_info, vfio_main.c's
// vfio_info_cap_add / vfio_info_cap_shift / vfio_info_add_capability, Linux 6.12).
#include "pci/region_info.h"

#include <cassert>
#include <cerrno>
#include <cstring>

namespace uvfio::pci {

namespace {

bool bad_uptr(unsigned long p) {
  return p < 4096;
}

template <class T>
std::span<const std::byte> bytes_of(const T& v) {
  return std::as_bytes(std::span<const T, 1>(&v, 1));
}

}  // namespace

void InfoCapChain::add(uint16_t id, uint16_t version, std::span<const std::byte> body) {
  // Every capability is padded so the next one starts 8-byte aligned.
  const size_t size = (sizeof(vfio_info_cap_header) + body.size() + 7) & ~size_t{7};
  const size_t at = buf_.size();
  buf_.resize(at + size);  // zero-filled: padding and `next` of the new tail
  vfio_info_cap_header h{};
  h.id = id;
  h.version = version;
  std::memcpy(buf_.data() + at, &h, sizeof h);
  if (!body.empty()) std::memcpy(buf_.data() + at + sizeof h, body.data(), body.size());
  if (at != 0) {
    // Link the previous tail to the new capability.
    const auto next = static_cast<uint32_t>(at);
    std::memcpy(buf_.data() + last_ + offsetof(vfio_info_cap_header, next), &next, sizeof next);
  }
  last_ = at;
}

std::vector<std::byte> InfoCapChain::placed_at(size_t base) const {
  assert(base % 8 == 0);
  std::vector<std::byte> out = buf_;
  if (out.empty()) return out;
  size_t at = 0;
  for (;;) {
    uint32_t next = 0;
    std::byte* p = out.data() + at + offsetof(vfio_info_cap_header, next);
    std::memcpy(&next, p, sizeof next);
    if (next == 0) break;
    const auto shifted = static_cast<uint32_t>(next + base);
    std::memcpy(p, &shifted, sizeof shifted);
    at = next;
  }
  return out;
}

void add_sparse_mmap_cap(InfoCapChain& chain, std::span<const vfio_region_sparse_mmap_area> areas) {
  // struct vfio_region_info_cap_sparse_mmap after its header: nr_areas, reserved, areas[].
  std::vector<std::byte> body(8 + areas.size_bytes());
  const auto n = static_cast<uint32_t>(areas.size());
  std::memcpy(body.data(), &n, sizeof n);
  if (!areas.empty()) std::memcpy(body.data() + 8, areas.data(), areas.size_bytes());
  chain.add(VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, body);
}

void add_region_type_cap(InfoCapChain& chain, uint32_t type, uint32_t subtype) {
  const uint32_t body[2] = {type, subtype};
  chain.add(VFIO_REGION_INFO_CAP_TYPE, 1, bytes_of(body));
}

void add_msix_mappable_cap(InfoCapChain& chain) {
  chain.add(VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 1);
}

long region_info_ioctl(unsigned long arg,
                       const std::function<Result<RegionDescription>(uint32_t index)>& describe) {
  // minsz = offsetofend(offset) = the whole 32-byte struct.
  constexpr size_t kMinsz = offsetof(vfio_region_info, offset) + sizeof(uint64_t);
  static_assert(kMinsz == sizeof(vfio_region_info));
  if (bad_uptr(arg)) return -EFAULT;
  vfio_region_info info{};
  std::memcpy(&info, reinterpret_cast<const void*>(arg), kMinsz);
  if (info.argsz < kMinsz) return -EINVAL;
  auto d = describe(info.index);
  if (!d) return -d.error();
  info.offset = region_offset(info.index);
  info.size = d->size;
  info.flags = d->flags;
  if (!d->caps.empty()) {
    info.flags |= VFIO_REGION_INFO_FLAG_CAPS;
    if (info.argsz < sizeof(info) + d->caps.size()) {
      // Too small: say how much is needed, copy no capability.
      info.argsz = static_cast<uint32_t>(sizeof(info) + d->caps.size());
      info.cap_offset = 0;
    } else {
      auto placed = d->caps.placed_at(sizeof(info));
      std::memcpy(reinterpret_cast<void*>(arg + sizeof(info)), placed.data(), placed.size());
      info.cap_offset = sizeof(info);
    }
  }
  std::memcpy(reinterpret_cast<void*>(arg), &info, kMinsz);
  return 0;
}

}  // namespace uvfio::pci
