// Session: lifetime (open, end), the read loop, header validation and dispatch.
#include "vfio_user/session.h"

#include <linux/vfio.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

#include "base/log_format.h"
#include "uvfio/base/errno_name.h"

namespace uvfio::vfio_user {
namespace {

constexpr uint32_t kMaxRegions = 64;  // a device table beyond this is not a PCI function
constexpr uint32_t kRegionInfoLimit = 64 * 1024;

template <class T>
void put_at(std::vector<uint8_t>& buf, size_t off, const T& v) {
  std::memcpy(buf.data() + off, &v, sizeof v);
}

// The capability chain of a region info buffer: (id, version, body) in chain order. Walks at
// most 64 entries and stops at anything out of bounds or pointing backwards.
struct Cap {
  uint16_t id;
  uint16_t version;
  std::vector<uint8_t> body;
};
std::vector<Cap> parse_caps(const uint8_t* info, size_t len, uint32_t first) {
  std::vector<Cap> caps;
  uint32_t at = first;
  for (int n = 0; at != 0 && n < 64; ++n) {
    if (at < sizeof(vfio_region_info) || at > len || len - at < sizeof(vfio_info_cap_header)) {
      break;
    }
    vfio_info_cap_header h{};
    std::memcpy(&h, info + at, sizeof h);
    const size_t end = (h.next > at && h.next <= len) ? h.next : len;
    caps.push_back({h.id, h.version, std::vector<uint8_t>(info + at + sizeof h, info + end)});
    if (h.next <= at) break;
    at = h.next;
  }
  return caps;
}

// Lays `caps` out after a 32-byte region info, each 8-byte aligned, `next` counted from the
// start of the info.
std::vector<uint8_t> build_chain(const std::vector<Cap>& caps) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i < caps.size(); ++i) {
    const size_t at = out.size();
    const size_t size = (sizeof(vfio_info_cap_header) + caps[i].body.size() + 7) & ~size_t{7};
    out.resize(at + size);
    vfio_info_cap_header h{};
    h.id = caps[i].id;
    h.version = caps[i].version;
    h.next = i + 1 < caps.size() ? static_cast<uint32_t>(sizeof(vfio_region_info) + at + size) : 0;
    std::memcpy(out.data() + at, &h, sizeof h);
    if (!caps[i].body.empty()) {
      std::memcpy(out.data() + at + sizeof h, caps[i].body.data(), caps[i].body.size());
    }
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<vfio::VfioDeviceOps> device,
                                                 UniqueFd sock, Config config) {
  const ServerOptions& o = *config.options;
  Connection::Limits limits;
  limits.io_timeout_ms = o.io_timeout_ms;
  limits.dma_timeout_ms = o.dma_timeout_ms;
  // The largest command: a REGION_WRITE of max_data_xfer_size bytes (both headers around it).
  limits.max_msg_size = static_cast<uint32_t>(
      std::max<uint64_t>(o.max_data_xfer_size + 2 * sizeof(Header), kMaxMessageSize));
  limits.max_msg_fds = o.max_msg_fds;
  auto conn = Connection::create(std::move(sock), limits, config.counters);
  if (!conn) return Errno{conn.error()};
  std::unique_ptr<Session> s(new Session(std::move(device), std::move(*conn), std::move(config)));
  if (int err = s->open_device()) return Errno{err};
  if (int err = s->load_regions()) {
    s->end("the device's region table could not be read");
    return Errno{err};
  }
  return s;
}

Session::Session(std::shared_ptr<vfio::VfioDeviceOps> device, std::shared_ptr<Connection> conn,
                 Config config)
    : device_(std::move(device)),
      conn_(std::move(conn)),
      config_(std::move(config)),
      opts_(*config_.options),
      counters_(*config_.counters) {
  out_.reserve(4096);
}

Session::~Session() {
  end("server shutting down");
}

int Session::open_device() {
  iommu::IoasOptions io;
  // The IOAS page is the smallest page size the client may use (Server::create checked it).
  io.page_size = uint64_t{1} << std::countr_zero(opts_.pgsizes);
  io.account = config_.account;
  io.max_areas = 0;  // the session enforces max_dma_maps itself, with vfio-user's errno
  auto ioas = iommu::Ioas::create(io);
  if (!ioas) return ioas.error();
  ioas_ = std::move(*ioas);
  // Device writes are tracked from the first map on, so DMA_UNMAP can report dirty pages
  // (vfio-user has no command left that starts tracking; see docs/vfio-user.md).
  ioas_->set_dirty_tracking(true);
  std::weak_ptr<vfio::VfioDeviceOps> weak = device_;
  access_ = iommu::Access::create([weak](uint64_t iova, uint64_t length) {
    if (auto d = weak.lock()) d->dma_unmap(iova, length);
  });
  if (auto r = access_->attach(ioas_); !r) return r.error();
  // The served function sits alone behind its socket, as on a bus of its own: a bus reset would
  // reach it alone, so vfio-pci may use it as the function's reset (edu has no FLR or PM).
  device_->set_parent_bus_reset(true);
  vfio::DmaContext ctx{access_, true};
  if (const int rc = device_->open_device(ctx); rc < 0) {
    (void)access_->detach();
    return -rc;
  }
  device_open_ = true;
  return 0;
}

int Session::load_regions() {
  // DEVICE_GET_INFO as the device answers it (the 6.12 struct has a cap_offset after num_irqs).
  uint32_t info[8] = {};
  info[0] = sizeof(vfio_device_info);
  if (const long rc = device_->ioctl(VFIO_DEVICE_GET_INFO, reinterpret_cast<unsigned long>(info));
      rc < 0) {
    return static_cast<int>(-rc);
  }
  device_flags_ = info[1] & ~uint32_t{VFIO_DEVICE_FLAGS_CAPS};  // no device caps over vfio-user
  const uint32_t num_regions = std::min(info[2], kMaxRegions);
  num_irqs_ = info[3];
  regions_.resize(num_regions);
  std::vector<uint8_t> buf;
  for (uint32_t i = 0; i < num_regions; ++i) {
    Region& r = regions_[i];
    // The fixed part first: it says how much room the capability chain needs (the device fills
    // in no chain it cannot fit), then the whole, so the last capability's end is known.
    vfio_region_info ri{};
    ri.argsz = sizeof ri;
    ri.index = i;
    long rc = device_->ioctl(VFIO_DEVICE_GET_REGION_INFO, reinterpret_cast<unsigned long>(&ri));
    if (rc == 0 && (ri.flags & VFIO_REGION_INFO_FLAG_CAPS) && ri.argsz > sizeof ri &&
        ri.argsz <= kRegionInfoLimit) {
      const uint32_t need = ri.argsz;
      buf.assign(need, 0);
      ri = {};
      ri.argsz = need;
      ri.index = i;
      std::memcpy(buf.data(), &ri, sizeof ri);
      rc = device_->ioctl(VFIO_DEVICE_GET_REGION_INFO, reinterpret_cast<unsigned long>(buf.data()));
      std::memcpy(&ri, buf.data(), sizeof ri);
      buf.resize(need);
    } else {
      buf.clear();
      ri.cap_offset = 0;
    }
    if (rc < 0) {
      r.err = static_cast<int>(-rc);
      continue;
    }
    r.flags = ri.flags;
    r.size = ri.size;
    r.dev_offset = ri.offset;
    std::vector<Cap> caps;
    if ((ri.flags & VFIO_REGION_INFO_FLAG_CAPS) && ri.cap_offset != 0 && !buf.empty()) {
      caps = parse_caps(buf.data(), buf.size(), ri.cap_offset);
    }
    const auto is_sparse = [](const Cap& c) { return c.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP; };
    if (r.flags & VFIO_REGION_INFO_FLAG_MMAP) {
      r.file = device_->region_file(i);
      if (r.file.fd >= 0 && std::none_of(caps.begin(), caps.end(), is_sparse)) {
        // Like libvfio-user, mappability is always stated as a sparse-mmap capability: here one
        // area covering the region.
        Cap c{VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, std::vector<uint8_t>(8 + 16)};
        const uint32_t nr = 1;
        std::memcpy(c.body.data(), &nr, sizeof nr);
        const uint64_t area[2] = {0, r.size};
        std::memcpy(c.body.data() + 8, area, sizeof area);
        caps.push_back(std::move(c));
      }
    }
    // The reply as a client that takes fds sees it, and as one that cannot map (no fd from the
    // device, or a client with max_msg_fds 0): no MMAP, no sparse areas.
    const auto build = [&](bool mappable) {
      std::vector<Cap> kept = caps;
      if (!mappable) kept.erase(std::remove_if(kept.begin(), kept.end(), is_sparse), kept.end());
      const std::vector<uint8_t> chain = build_chain(kept);
      std::vector<uint8_t> reply(sizeof(vfio_region_info) + chain.size(), 0);
      vfio_region_info out{};
      out.argsz = static_cast<uint32_t>(reply.size());
      out.flags = r.flags & ~uint32_t{VFIO_REGION_INFO_FLAG_CAPS};
      if (!mappable) out.flags &= ~uint32_t{VFIO_REGION_INFO_FLAG_MMAP};
      if (!chain.empty()) {
        out.flags |= VFIO_REGION_INFO_FLAG_CAPS;
        out.cap_offset = sizeof(vfio_region_info);
      }
      out.index = i;
      out.size = r.size;
      out.offset = mappable ? r.file.offset : 0;  // the mmap offset in the region's fd
      std::memcpy(reply.data(), &out, sizeof out);
      if (!chain.empty()) std::memcpy(reply.data() + sizeof out, chain.data(), chain.size());
      return reply;
    };
    const bool mappable = (r.flags & VFIO_REGION_INFO_FLAG_MMAP) && r.file.fd >= 0;
    r.reply = build(mappable);
    r.reply_no_fd = build(false);
    if (!mappable) r.file = {};
  }
  for (const vfio::Doorbell& d : device_->doorbells()) doorbells_.push_back({d, EventFd()});
  return 0;
}

void Session::end(const char* why) {
  if (ended_) return;
  ended_ = true;
  const bool started = device_open_;  // a session whose device never opened never began
  if (started) log_info("vfio-user", "{}: session ends: {}", config_.name, why);
  // Device threads waiting for the client give up first, so closing the device cannot wait on
  // a DMA reply that will never come.
  conn_->shutdown();
  for (uint32_t i = 0; i < doorbells_.size(); ++i) {
    if (doorbells_[i].fd.valid() && config_.watch_doorbell) {
      config_.watch_doorbell(doorbells_[i].fd.fd(), i, false);
    }
  }
  doorbells_.clear();
  if (device_open_) {
    // The device stops DMA and interrupts, drops its pins and resets (vfio-pci's close).
    device_->close_device();
    device_open_ = false;
  }
  if (access_) (void)access_->detach();
  windows_.clear();
  if (ioas_) (void)ioas_->unmap_all(iommu::Frontend::kType1v2);
  ioas_.reset();
  access_.reset();
  msg_ = Message{};
  if (started) ServerCounters::bump(counters_.disconnects);
}

// ---------------------------------------------------------------------------- input

Session::Status Session::on_input(int budget, bool woken) {
  // The replies to everything this call handles leave together (one send for a pipelined burst).
  conn_->cork();
  const Status st = handle_input(budget, woken);
  (void)conn_->uncork();
  return conn_->broken() ? Status::kEnded : st;
}

Session::Status Session::handle_input(int budget, bool woken) {
  if (woken) conn_->clear_wake();
  if (conn_->broken()) return Status::kEnded;
  for (int i = 0; i < budget; ++i) {
    if (input_blocked()) return Status::kIdle;  // EPOLLOUT resumes it (on_output)
    switch (conn_->next(msg_)) {
      case Connection::Next::kMessage:
        stall_deadline_.reset();
        handle(msg_);
        if (conn_->broken()) return Status::kEnded;
        // Nothing more buffered: the loop hears of new input from epoll, so no read here that
        // would only find the socket empty (one syscall less per request).
        if (!conn_->has_buffered()) return Status::kIdle;
        continue;
      case Connection::Next::kNone:
        update_stall();
        return Status::kIdle;
      case Connection::Next::kClosed:
        return Status::kEnded;
      case Connection::Next::kError: {
        const int err = -conn_->error();
        if (err != EMSGSIZE) {
          log_info("vfio-user", "{}: stream ended: {}", config_.name, errno_name(err));
          return Status::kEnded;
        }
        // A msg_size below the header or beyond our limit: the framing is lost. Drop what is
        // buffered, then answer the message (its header is all we have; answering last means a
        // client that waits for the answer sends its next message after the drop) and go on.
        const Header h = conn_->bad_header();
        conn_->resync();
        log_warn("vfio-user", "{}: {} #{} with msg_size {} refused (limit {})", config_.name,
                 command_name(h.command), +h.msg_id, +h.msg_size, opts_.max_data_xfer_size + 32);
        ServerCounters::bump(counters_.messages);
        if ((h.flags & kTypeMask) == kTypeCommand && (h.flags & kFlagNoReply) == 0) {
          ServerCounters::bump(counters_.error_replies);
          (void)conn_->send_error(h, EINVAL);
        } else {
          ServerCounters::bump(counters_.errors_dropped);
        }
        stall_deadline_.reset();
        continue;
      }
    }
  }
  return Status::kMore;
}

Session::Status Session::on_output() {
  const bool was_blocked = input_blocked();
  if (conn_->flush() < 0 || conn_->broken()) return Status::kEnded;
  return was_blocked && !input_blocked() ? Status::kMore : Status::kIdle;
}

void Session::update_stall() {
  if (!conn_->partial()) {
    stall_deadline_.reset();
  } else if (!stall_deadline_) {
    stall_deadline_ = Clock::now() + std::chrono::milliseconds(opts_.io_timeout_ms);
  }
}

void Session::on_stall() {
  stall_deadline_.reset();
  if (!conn_->partial()) return;
  const std::optional<Header> h = conn_->partial_header();
  conn_->resync();  // before the answer, as for a framing error
  if (h) {
    log_warn("vfio-user", "{}: {} #{} stalled after part of its {} bytes: refused", config_.name,
             command_name(h->command), +h->msg_id, +h->msg_size);
    ServerCounters::bump(counters_.messages);
    if ((h->flags & kTypeMask) == kTypeCommand && (h->flags & kFlagNoReply) == 0) {
      ServerCounters::bump(counters_.error_replies);
      (void)conn_->send_error(*h, EINVAL);
    } else {
      ServerCounters::bump(counters_.errors_dropped);
    }
  } else {
    log_warn("vfio-user", "{}: a partial message header stalled: dropped", config_.name);
  }
}

bool Session::take_doorbell(uint32_t index) {
  if (index >= doorbells_.size() || !doorbells_[index].fd.valid()) return false;
  // Rings that arrived together coalesce into one write, as they would for a KVM ioeventfd
  // whose handler runs late; a doorbell's write is idempotent by definition.
  return doorbells_[index].fd.consume() != 0;
}

void Session::ring_doorbell(uint32_t index) {
  if (index >= doorbells_.size()) return;
  const DoorbellFd& d = doorbells_[index];
  ServerCounters::bump(counters_.doorbells);
  if (d.bell.region >= regions_.size()) return;
  const uint64_t value = d.bell.datamatch.value_or(0);
  const int rc = region_write(regions_[d.bell.region], d.bell.offset, &value, d.bell.size);
  if (rc < 0) {
    log_warn("vfio-user", "{}: doorbell write to region {} {:#x} failed: {}", config_.name,
             d.bell.region, d.bell.offset, errno_name(-rc));
  }
}

// -------------------------------------------------------------------------- dispatch

int Session::check_header(const Message& m) const {
  const uint32_t type = m.type();
  if (type == kTypeReply) {
    // The server's own requests are answered on the twin socket or claimed by the Connection;
    // a reply that reaches us matches nothing we asked.
    counters_.stray_replies.fetch_add(1, std::memory_order_relaxed);
    log_warn("vfio-user", "{}: reply {} #{} matches no server request: refused", config_.name,
             command_name(m.hdr.command), +m.hdr.msg_id);
    return -EINVAL;
  }
  if (type != kTypeCommand || (m.hdr.flags & ~kKnownFlags) != 0 || m.is_error()) {
    return -EINVAL;
  }
  if (m.fds_truncated) return -EINVAL;  // more fds than max_msg_fds: some are lost
  const auto cmd = static_cast<Command>(m.hdr.command);
  if (!negotiated_ && cmd != Command::kVersion) return -EINVAL;  // VERSION comes first
  // Only DMA_MAP and SET_IRQS take fds.
  if (!m.fds.empty() && cmd != Command::kDmaMap && cmd != Command::kDeviceSetIrqs) return -EINVAL;
  return 0;
}

int Session::dispatch(Message& m) {
  switch (static_cast<Command>(m.hdr.command)) {
    case Command::kVersion:
      return on_version(m);
    case Command::kDmaMap:
      return on_dma_map(m);
    case Command::kDmaUnmap:
      return on_dma_unmap(m);
    case Command::kDeviceGetInfo:
      return on_get_info(m);
    case Command::kDeviceGetRegionInfo:
      return on_get_region_info(m);
    case Command::kDeviceGetRegionIoFds:
      return on_get_io_fds(m);
    case Command::kDeviceGetIrqInfo:
      return on_get_irq_info(m);
    case Command::kDeviceSetIrqs:
      return on_set_irqs(m);
    case Command::kRegionRead:
      return on_region_read(m);
    case Command::kRegionWrite:
      return on_region_write(m);
    case Command::kDeviceReset:
      return on_reset(m);
    case Command::kRegionWriteMulti:
      if (!opts_.write_multiple) return -EINVAL;  // not advertised: an unknown command
      return on_write_multi(m);
    case Command::kDeviceFeature:
      return on_feature(m);
    case Command::kDmaRead:      // server -> client only
    case Command::kDmaWrite:     // server -> client only
    case Command::kDirtyPages:   // removed from the protocol with migration v2
    case Command::kMigDataRead:  // no migration: the device has no migration state to move
    case Command::kMigDataWrite:
      return -EINVAL;
  }
  return -EINVAL;  // unknown command: libvfio-user's answer
}

void Session::handle(Message& m) {
  ServerCounters::bump(counters_.messages);
  int rc = check_header(m);
  if (rc == 0) rc = dispatch(m);
  if (rc >= 0) return;
  if (m.no_reply() && !m.is_reply()) {
    ServerCounters::bump(counters_.errors_dropped);
    log_debug("vfio-user", "{}: posted {} #{} failed: {}", config_.name,
              command_name(m.hdr.command), +m.hdr.msg_id, errno_name(-rc));
    return;
  }
  ServerCounters::bump(counters_.error_replies);
  log_debug("vfio-user", "{}: {} #{} failed: {}", config_.name, command_name(m.hdr.command),
            +m.hdr.msg_id, errno_name(-rc));
  (void)conn_->send_error(m.hdr, -rc);
}

int Session::reply(const Message& req, std::span<const uint8_t> payload, std::span<const int> fds) {
  const std::span<const uint8_t> pieces[1] = {payload};
  return reply(req, std::span<const std::span<const uint8_t>>(pieces, payload.empty() ? 0 : 1),
               fds);
}

int Session::reply(const Message& req, std::span<const std::span<const uint8_t>> pieces,
                   std::span<const int> fds) {
  if (req.no_reply()) return 0;
  Header h{};
  h.msg_id = req.hdr.msg_id;
  h.command = req.hdr.command;
  h.flags = kTypeReply;
  // A failed send broke the stream and the loop ends the session: nothing is left to answer.
  (void)conn_->send_reply(h, pieces, fds);
  return 0;
}

}  // namespace uvfio::vfio_user
