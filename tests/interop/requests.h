// Request builders for the interop tests: one vfio-user command each, laid out as the protocol
// says (protocol.h), for RawClient::request(). Tests break them on purpose after building.
#pragma once

#include <linux/vfio.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "vfio_user/message.h"

namespace uvfio::interop::req {

namespace vu = uvfio::vfio_user;

inline vu::Message command(vu::Command c, uint32_t extra_flags = 0) {
  return vu::make_command(0, c, extra_flags);
}

inline vu::Message device_info(uint32_t argsz = sizeof(vu::DeviceInfo)) {
  auto m = command(vu::Command::kDeviceGetInfo);
  m.put(vu::DeviceInfo{argsz, 0, 0, 0});
  return m;
}

inline vu::Message region_info(uint32_t index, uint32_t argsz = 512) {
  auto m = command(vu::Command::kDeviceGetRegionInfo);
  vfio_region_info ri{};
  ri.argsz = argsz;
  ri.index = index;
  m.put(ri);
  return m;
}

inline vu::Message irq_info(uint32_t index) {
  auto m = command(vu::Command::kDeviceGetIrqInfo);
  vfio_irq_info ii{};
  ii.argsz = sizeof ii;
  ii.index = index;
  m.put(ii);
  return m;
}

/// SET_IRQS; eventfds go in m.fds (the caller adds them); `data` follows the struct (BOOL).
inline vu::Message set_irqs(uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
                            const std::vector<uint8_t>& data = {}) {
  auto m = command(vu::Command::kDeviceSetIrqs);
  vfio_irq_set s{};
  s.argsz = static_cast<uint32_t>(sizeof s + data.size());
  s.flags = flags;
  s.index = index;
  s.start = start;
  s.count = count;
  m.put(s);
  m.put_bytes(data);
  return m;
}

inline vu::Message region_read(uint32_t region, uint64_t offset, uint32_t count) {
  auto m = command(vu::Command::kRegionRead);
  m.put(vu::RegionAccess{offset, region, count});
  return m;
}

/// REGION_WRITE of `count` bytes of `value` (little-endian, repeated past 8 bytes).
inline vu::Message region_write(uint32_t region, uint64_t offset, uint32_t count, uint64_t value,
                                uint32_t extra_flags = 0) {
  auto m = command(vu::Command::kRegionWrite, extra_flags);
  m.put(vu::RegionAccess{offset, region, count});
  for (uint32_t i = 0; i < count; ++i) {
    m.payload.push_back(static_cast<uint8_t>(value >> (8 * (i % 8))));
  }
  return m;
}

inline vu::Message dma_map(uint64_t iova, uint64_t size, uint64_t offset = 0,
                           uint32_t flags = vu::kDmaMapRead | vu::kDmaMapWrite) {
  auto m = command(vu::Command::kDmaMap);
  m.put(vu::DmaMap{sizeof(vu::DmaMap), flags, offset, iova, size});
  return m;
}

inline vu::Message dma_unmap(uint64_t iova, uint64_t size, uint32_t flags = 0) {
  auto m = command(vu::Command::kDmaUnmap);
  m.put(vu::DmaUnmap{sizeof(vu::DmaUnmap), flags, iova, size});
  return m;
}

/// The first 4 data bytes of a REGION_READ reply, little-endian (0 if the reply is shorter).
inline uint32_t read_value32(const vu::Message& reply) {
  uint32_t v = 0;
  if (reply.payload.size() >= sizeof(vu::RegionAccess) + 4) {
    std::memcpy(&v, reply.payload.data() + sizeof(vu::RegionAccess), 4);
  }
  return v;
}

}  // namespace uvfio::interop::req
