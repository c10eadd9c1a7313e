#include "driver/vfio_user_fdless_maps.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace uvfio::driver::detail {

void VfioUserFdlessMaps::add(uint64_t iova, uint64_t length, void* va, bool readable,
                             bool writable) {
  std::unique_lock lock(mu_);
  maps_[iova] = {length, static_cast<uint8_t*>(va), readable, writable};
}

void VfioUserFdlessMaps::remove(uint64_t iova) {
  // The exclusive lock waits out any transfer still copying from or into this map.
  std::unique_lock lock(mu_);
  maps_.erase(iova);
}

bool VfioUserFdlessMaps::empty() const {
  std::shared_lock lock(mu_);
  return maps_.empty();
}

template <class Fn>
int VfioUserFdlessMaps::walk(uint64_t iova, uint64_t len, bool write, Fn&& fn) const {
  if (len == 0) return 0;
  if (iova + (len - 1) < iova) return ENODEV;  // wraps
  auto it = maps_.upper_bound(iova);
  if (it == maps_.begin()) return ENODEV;
  --it;
  uint64_t at = iova;
  uint64_t left = len;
  // Check the whole range first, so a refused access changes nothing.
  for (auto m = it; left > 0; ++m) {
    if (m == maps_.end() || at < m->first || at - m->first >= m->second.length) return ENODEV;
    if (write ? !m->second.writable : !m->second.readable) return EPERM;
    const uint64_t n = std::min(left, m->second.length - (at - m->first));
    at += n;
    left -= n;
  }
  at = iova;
  left = len;
  for (auto m = it; left > 0; ++m) {
    const uint64_t off = at - m->first;
    const uint64_t n = std::min(left, m->second.length - off);
    fn(m->second.va + off, n);
    at += n;
    left -= n;
  }
  return 0;
}

int VfioUserFdlessMaps::serve(vfio_user::Command cmd, std::span<const uint8_t> payload,
                              bool has_fds, uint64_t max_xfer, std::vector<uint8_t>& reply) const {
  vfio_user::DmaAccess a{};
  if (has_fds || payload.size() < sizeof a) return EINVAL;
  std::memcpy(&a, payload.data(), sizeof a);
  if (a.count > max_xfer) return E2BIG;
  std::shared_lock lock(mu_);
  if (cmd == vfio_user::Command::kDmaRead) {
    reply.resize(sizeof a + a.count);
    std::memcpy(reply.data(), &a, sizeof a);
    uint8_t* out = reply.data() + sizeof a;
    return walk(a.addr, a.count, /*write=*/false, [&](const uint8_t* p, uint64_t n) {
      std::memcpy(out, p, n);
      out += n;
    });
  }
  // DMA_WRITE: the data must be present (QEMU: E2BIG when count exceeds it).
  if (a.count > payload.size() - sizeof a) return E2BIG;
  const uint8_t* in = payload.data() + sizeof a;
  const int rc = walk(a.addr, a.count, /*write=*/true, [&](uint8_t* p, uint64_t n) {
    std::memcpy(p, in, n);
    in += n;
  });
  if (rc != 0) return rc;
  // The 16-byte echo libvfio-user checks (address and an 8-byte count).
  reply.resize(sizeof a);
  std::memcpy(reply.data(), &a, sizeof a);
  return 0;
}

}  // namespace uvfio::driver::detail
