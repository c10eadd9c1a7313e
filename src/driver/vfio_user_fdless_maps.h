// VfioUserFdlessMaps: the client's DMA maps that have no fd behind them. The server cannot map
// that memory, so the device's DMA to it arrives as DMA_READ / DMA_WRITE messages, answered
// here from the client's own memory after a bounds and permission check.
#pragma once

#include <cstdint>
#include <map>
#include <shared_mutex>
#include <span>
#include <vector>

#include "uvfio/vfio_user/protocol.h"

namespace uvfio::driver::detail {

/// Thread-safe: the DMA transport adds and removes maps while reader threads serve requests
/// (a shared lock while copying, so a map is never removed under a transfer).
class VfioUserFdlessMaps {
 public:
  /// Records [iova, iova+length) as process memory at `va`. `readable`: the device may read it
  /// (DMA_READ); `writable`: it may write it (DMA_WRITE).
  void add(uint64_t iova, uint64_t length, void* va, bool readable, bool writable);
  void remove(uint64_t iova);
  bool empty() const;

  /// Answers one DMA_READ / DMA_WRITE request (`cmd`, its payload, whether fds came with it).
  /// On success returns 0 with `reply` holding the reply payload: DMA_READ's address, count
  /// and data; DMA_WRITE's address and count. Otherwise a positive errno, as QEMU's client
  /// answers (hw/vfio-user/pci.c): EINVAL for a short message or attached fds; E2BIG for a
  /// count above `max_xfer` (what this client stated in VERSION) or above the data present;
  /// ENODEV for an address range not covered by maps (QEMU's MEMTX_DECODE_ERROR); EPERM for a
  /// map without the needed permission (MEMTX_ACCESS_ERROR).
  int serve(vfio_user::Command cmd, std::span<const uint8_t> payload, bool has_fds,
            uint64_t max_xfer, std::vector<uint8_t>& reply) const;

 private:
  struct Map {
    uint64_t length;
    uint8_t* va;
    bool readable;
    bool writable;
  };
  /// Walks [iova, iova+len) across adjacent maps; calls fn(va, len) per piece. 0 or errno.
  template <class Fn>
  int walk(uint64_t iova, uint64_t len, bool write, Fn&& fn) const;

  mutable std::shared_mutex mu_;
  std::map<uint64_t, Map> maps_;  // by IOVA
};

}  // namespace uvfio::driver::detail
