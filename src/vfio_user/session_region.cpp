// Session: region accesses — REGION_READ, REGION_WRITE (posted with NO_REPLY), REGION_WRITE_MULTI
// — and GET_REGION_IO_FDS, the ioeventfds that carry doorbell writes past the socket.
#include <linux/vfio.h>

#include <cerrno>
#include <cstring>

#include "base/log_format.h"
#include "vfio_user/session.h"

namespace uvfio::vfio_user {

const Session::Region* Session::region_for(uint32_t index, uint64_t offset, uint64_t count,
                                           bool write) const {
  if (index >= regions_.size() || count == 0) return nullptr;
  const Region& r = regions_[index];
  if (r.err != 0) return nullptr;
  if (!(r.flags & (write ? VFIO_REGION_INFO_FLAG_WRITE : VFIO_REGION_INFO_FLAG_READ))) {
    return nullptr;
  }
  if (offset >= r.size || r.size - offset < count) return nullptr;
  return &r;
}

int Session::region_write(const Region& r, uint64_t offset, const void* data, uint32_t count) {
  const ssize_t n = device_->write(data, count, r.dev_offset + offset);
  if (n < 0) return static_cast<int>(n);
  return static_cast<size_t>(n) == count ? 0 : -EINVAL;  // never a partial access
}

int Session::on_region_read(const Message& m) {
  const auto req = m.get<RegionAccess>();
  if (!req || m.payload.size() != sizeof(RegionAccess)) return -EINVAL;
  if (req->count > opts_.max_data_xfer_size) return -EINVAL;
  const Region* r = region_for(req->region, req->offset, req->count, false);
  if (r == nullptr) return -EINVAL;
  // The reply is built in place: access header, then the device's bytes (one send, no copy).
  out_.resize(sizeof(RegionAccess) + req->count);
  std::memcpy(out_.data(), &*req, sizeof(RegionAccess));
  const ssize_t n =
      device_->read(out_.data() + sizeof(RegionAccess), req->count, r->dev_offset + req->offset);
  if (n < 0) return static_cast<int>(n);
  if (static_cast<size_t>(n) != req->count) return -EINVAL;
  return reply(m, out_);
}

int Session::on_region_write(const Message& m) {
  const auto req = m.get<RegionAccess>();
  if (!req || req->count > opts_.max_data_xfer_size) return -EINVAL;
  if (m.payload.size() != sizeof(RegionAccess) + uint64_t{req->count}) return -EINVAL;
  const Region* r = region_for(req->region, req->offset, req->count, true);
  if (r == nullptr) return -EINVAL;
  // Posted writes (NO_REPLY) are applied here, in arrival order, like any other command.
  if (int rc = region_write(*r, req->offset, m.payload.data() + sizeof(RegionAccess), req->count);
      rc < 0) {
    return rc;
  }
  return reply(m, {m.payload.data(), sizeof(RegionAccess)});
}

int Session::on_write_multi(const Message& m) {
  const auto head = m.get<WriteMultiHead>();
  if (!head || head->wr_cnt == 0 || head->wr_cnt > kWriteMultiMaxEntries) return -EINVAL;
  if (m.payload.size() != sizeof(WriteMultiHead) + head->wr_cnt * sizeof(WriteMultiEntry)) {
    return -EINVAL;
  }
  // Every entry is checked before any is applied, so a bad batch changes nothing.
  for (uint64_t i = 0; i < head->wr_cnt; ++i) {
    const auto e = *m.get<WriteMultiEntry>(sizeof(WriteMultiHead) + i * sizeof(WriteMultiEntry));
    if (e.count > kWriteMultiMaxData || region_for(e.region, e.offset, e.count, true) == nullptr) {
      return -EINVAL;
    }
  }
  for (uint64_t i = 0; i < head->wr_cnt; ++i) {
    const auto e = *m.get<WriteMultiEntry>(sizeof(WriteMultiHead) + i * sizeof(WriteMultiEntry));
    if (int rc = region_write(regions_[e.region], e.offset, e.data, e.count); rc < 0) return rc;
  }
  const uint64_t done = head->wr_cnt;
  return reply(m, {reinterpret_cast<const uint8_t*>(&done), sizeof done});
}

int Session::on_get_io_fds(const Message& m) {
  const auto req = m.get<RegionIoFdsRequest>();
  if (!req || m.payload.size() != sizeof(RegionIoFdsRequest)) return -EINVAL;
  // libvfio-user's rules: flags and count 0, argsz from the header size up to 1 MiB.
  if (req->flags != 0 || req->count != 0 || req->argsz < sizeof(RegionIoFdsRequest) ||
      req->argsz > (1u << 20)) {
    return -EINVAL;
  }
  if (req->index >= regions_.size() || regions_[req->index].err != 0) return -EINVAL;
  std::vector<uint32_t> mine;  // this region's doorbells
  for (uint32_t i = 0; i < doorbells_.size(); ++i) {
    if (doorbells_[i].bell.region == req->index) mine.push_back(i);
  }
  RegionIoFdsRequest out{};
  out.index = req->index;
  out.count = static_cast<uint32_t>(mine.size());
  out.argsz = static_cast<uint32_t>(sizeof out + mine.size() * sizeof(IoFdEntry));
  if (req->argsz < out.argsz || mine.empty()) {
    return reply(m, {reinterpret_cast<const uint8_t*>(&out), sizeof out});
  }
  // One eventfd per doorbell; they must all fit in one message to the client.
  if (mine.size() > client_.max_msg_fds) return -EINVAL;
  std::vector<IoFdEntry> entries;
  std::vector<int> fds;
  for (uint32_t i : mine) {
    DoorbellFd& d = doorbells_[i];
    if (!d.fd.valid()) {
      // Created once per session and watched by the loop; a repeated query hands out the same.
      auto efd = EventFd::create();
      if (!efd) return -efd.error();
      d.fd = std::move(*efd);
      if (config_.watch_doorbell) config_.watch_doorbell(d.fd.fd(), i, true);
    }
    IoFdEntry e{};
    e.offset = d.bell.offset;
    e.size = d.bell.size;
    e.fd_index = static_cast<uint32_t>(fds.size());
    e.type = kIoFdTypeIoeventfd;
    e.flags = d.bell.datamatch ? kIoeventfdFlagDatamatch : 0;
    e.datamatch = d.bell.datamatch.value_or(0);
    entries.push_back(e);
    fds.push_back(d.fd.fd());
  }
  const std::span<const uint8_t> pieces[2] = {
      {reinterpret_cast<const uint8_t*>(&out), sizeof out},
      {reinterpret_cast<const uint8_t*>(entries.data()), entries.size() * sizeof(IoFdEntry)}};
  return reply(m, pieces, fds);
}

}  // namespace uvfio::vfio_user
