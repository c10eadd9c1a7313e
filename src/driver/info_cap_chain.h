// for_each_info_cap(): walks a VFIO info capability chain (struct vfio_info_cap_header list)
// in a buffer returned by GET_INFO / GET_REGION_INFO, defensively.
#pragma once

#include <linux/vfio.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace uvfio::driver::detail {

/// Calls fn(id, version, offset, length) for each capability. Offsets are from the start of
/// `buf` (the info structure), as the uAPI's cap_offset and next are. The walk stops at an
/// offset inside the fixed structure (< `min_offset`), a header past `len`, an offset that does
/// not grow (a loop), or after 64 entries: a malformed chain is cut short, never followed.
/// `length` runs to the next capability (or the end of the buffer for the last one).
template <class Fn>
void for_each_info_cap(const uint8_t* buf, size_t len, uint32_t first, Fn&& fn,
                       size_t min_offset = sizeof(vfio_info_cap_header)) {
  size_t off = first;
  for (int n = 0; n < 64 && off != 0; ++n) {
    if (off < min_offset || off > len || len - off < sizeof(vfio_info_cap_header)) return;
    vfio_info_cap_header h{};
    std::memcpy(&h, buf + off, sizeof h);
    const size_t end = (h.next != 0 && h.next > off && h.next <= len) ? h.next : len;
    fn(h.id, h.version, off, end - off);
    if (h.next <= off) return;
    off = h.next;
  }
}

}  // namespace uvfio::driver::detail
