#include "vfio_user/connection.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/log_format.h"

namespace uvfio::vfio_user {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kPumpSlice = std::chrono::milliseconds(1);

int set_nonblocking(int fd) {
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return errno;
  return 0;
}

// An errno a peer sent: positive and plausible, else EINVAL (libvfio-user clamps the same way).
int peer_errno(uint32_t e) {
  return (e == 0 || e > 4096) ? EINVAL : static_cast<int>(e);
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(left.count(), 0));
}

}  // namespace

Result<std::shared_ptr<Connection>> Connection::create(UniqueFd sock, const Limits& limits,
                                                       std::shared_ptr<ServerCounters> counters) {
  if (!sock) return Errno{EBADF};
  if (int err = set_nonblocking(sock.get())) return Errno{err};
  auto wake = EventFd::create();
  if (!wake) return Errno{wake.error()};
  return std::shared_ptr<Connection>(
      new Connection(std::move(sock), limits, std::move(counters), std::move(*wake)));
}

Connection::Connection(UniqueFd sock, const Limits& limits,
                       std::shared_ptr<ServerCounters> counters, EventFd wake)
    : sock_(std::move(sock)),
      limits_(limits),
      counters_(std::move(counters)),
      wake_(std::move(wake)),
      reader_(limits.max_msg_size, limits.max_msg_fds),
      twin_reader_(limits.max_msg_size, 0) {}

Connection::~Connection() = default;

// ------------------------------------------------------------------------------- input

bool Connection::deliver(Message& m) {
  std::lock_guard lk(wait_mu_);
  for (Waiter* w : waiters_) {
    if (!w->done && w->id == m.hdr.msg_id && w->command == m.hdr.command) {
      w->reply = std::move(m);
      w->done = true;
      wait_cv_.notify_all();
      return true;
    }
  }
  return false;
}

Connection::Next Connection::next(Message& out) {
  std::unique_lock tok(token_, std::try_to_lock);
  if (!tok.owns_lock()) return Next::kNone;  // a device thread is reading; it wakes us
  {
    std::lock_guard lk(inbox_mu_);
    if (!inbox_.empty()) {
      out = std::move(inbox_.front());
      inbox_.pop_front();
      return Next::kMessage;
    }
  }
  for (;;) {
    switch (reader_.read(sock_.get(), out, 0)) {
      case MessageReader::Status::kMessage:
        if (out.is_reply() && deliver(out)) continue;
        return Next::kMessage;
      case MessageReader::Status::kAgain:
        return Next::kNone;
      case MessageReader::Status::kClosed:
        return Next::kClosed;
      case MessageReader::Status::kError:
        error_ = reader_.error();
        bad_header_ = reader_.header();
        return Next::kError;
    }
  }
}

bool Connection::partial() {
  std::lock_guard tok(token_);
  return reader_.partial();
}

bool Connection::has_buffered() {
  std::unique_lock tok(token_, std::try_to_lock);
  if (!tok.owns_lock()) return true;
  if (reader_.partial()) return true;
  std::lock_guard lk(inbox_mu_);
  return !inbox_.empty();
}

std::optional<Header> Connection::partial_header() {
  std::lock_guard tok(token_);
  return reader_.partial_header();
}

void Connection::resync() {
  std::lock_guard tok(token_);
  reader_.resync(sock_.get());
}

void Connection::pump() {
  std::unique_lock tok(token_, std::try_to_lock);
  if (!tok.owns_lock()) return;
  bool wake = false;
  for (;;) {
    Message m;
    const auto st = reader_.read(sock_.get(), m, 0);
    if (st == MessageReader::Status::kMessage) {
      if (m.is_reply() && deliver(m)) continue;
      std::lock_guard lk(inbox_mu_);
      inbox_.push_back(std::move(m));
      wake = true;
      continue;
    }
    // The end of the stream or a framing error is the loop's to handle: it sees the same
    // status again when it reads.
    if (st != MessageReader::Status::kAgain) wake = true;
    break;
  }
  tok.unlock();
  if (wake) (void)wake_.signal();
}

// ------------------------------------------------------------------------------ output

int Connection::after_output_locked(int rc, uint16_t command) {
  if (out_.empty()) {
    out_since_.reset();
  } else if (!out_since_ || out_.sent_total() != out_seen_) {
    out_since_ = Clock::now();
  }
  out_seen_ = out_.sent_total();
  backlog_.store(out_.bytes(), std::memory_order_relaxed);
  if (rc < 0 && !dead()) {
    log_warn("vfio-user", "sending {} failed: {}",
             command == 0 ? std::string("queued messages") : std::string(command_name(command)),
             std::strerror(-rc));
    mark_broken();
  }
  return rc;
}

void Connection::cork() {
  std::lock_guard lk(send_mu_);
  corked_ = true;
}

int Connection::uncork() {
  std::lock_guard lk(send_mu_);
  corked_ = false;
  if (dead()) return 0;
  return after_output_locked(out_.flush(sock_.get()), 0);
}

int Connection::flush() {
  std::lock_guard lk(send_mu_);
  if (dead()) return 0;
  return after_output_locked(out_.flush(sock_.get()), 0);
}

size_t Connection::output_backlog() const {
  return backlog_.load(std::memory_order_relaxed);
}

std::optional<Clock::time_point> Connection::output_deadline() {
  std::lock_guard lk(send_mu_);
  if (!out_since_) return std::nullopt;
  return *out_since_ + std::chrono::milliseconds(limits_.io_timeout_ms);
}

int Connection::send_reply(const Header& hdr, std::span<const std::span<const uint8_t>> pieces,
                           std::span<const int> fds) {
  if (dead()) return -EPIPE;
  std::lock_guard lk(send_mu_);
  return after_output_locked(out_.send(sock_.get(), hdr, pieces, fds, corked_), hdr.command);
}

int Connection::send(const Header& hdr, std::span<const std::span<const uint8_t>> pieces,
                     std::span<const int> fds) {
  if (dead()) return -EPIPE;
  bool queued;
  int rc;
  {
    std::lock_guard lk(send_mu_);
    rc = out_.send(sock_.get(), hdr, pieces, fds, false);
    if (rc == 0) rc = out_.flush(sock_.get());
    rc = after_output_locked(rc, hdr.command);
    queued = !out_.empty();
  }
  if (queued) (void)wake_.signal();  // the loop watches for room and sends the rest
  return rc;
}

int Connection::send_error(const Header& request, int err) {
  Header h{};
  h.msg_id = request.msg_id;
  h.command = request.command;
  h.flags = kTypeReply | kFlagError;
  h.error_no = static_cast<uint32_t>(err);
  return send_reply(h, {});
}

void Connection::mark_broken() {
  broken_.store(true, std::memory_order_release);
  (void)wake_.signal();
}

void Connection::set_peer_max_data_xfer(uint64_t max_data_xfer_size) {
  peer_max_xfer_.store(std::max<uint64_t>(max_data_xfer_size, 1), std::memory_order_relaxed);
}

void Connection::set_twin(UniqueFd twin) {
  std::lock_guard lk(twin_mu_);
  if (twin) (void)set_nonblocking(twin.get());
  twin_ = std::move(twin);
  twin_raw_.store(twin_.get(), std::memory_order_release);
  has_twin_.store(twin_.valid(), std::memory_order_release);
}

void Connection::shutdown() {
  if (dead_.exchange(true, std::memory_order_acq_rel)) return;
  {
    std::lock_guard lk(wait_mu_);
    wait_cv_.notify_all();
  }
  {
    std::lock_guard lk(send_mu_);
    out_.clear();  // closes the duplicates of fds that were never sent
    out_since_.reset();
    backlog_.store(0, std::memory_order_relaxed);
  }
  // Wakes any thread blocked on either socket; the numbers stay ours until we close them.
  ::shutdown(sock_.get(), SHUT_RDWR);
  if (const int twin = twin_raw_.load(std::memory_order_acquire); twin >= 0) {
    ::shutdown(twin, SHUT_RDWR);
  }
}

// ---------------------------------------------------------------------------------- DMA

int Connection::dma_read(uint64_t addr, void* dst, size_t len) {
  return dma(false, addr, static_cast<std::byte*>(dst), len);
}

int Connection::dma_write(uint64_t addr, const void* src, size_t len) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast): only read on the write path
  return dma(true, addr, static_cast<std::byte*>(const_cast<void*>(src)), len);
}

int Connection::dma(bool write, uint64_t addr, std::byte* buf, size_t len) {
  const uint64_t chunk = peer_max_xfer_.load(std::memory_order_relaxed);
  for (size_t done = 0; done < len;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, len - done));
    if (int rc = dma_chunk(write, addr + done, buf + done, n); rc < 0) {
      ServerCounters::bump(counters_->dma_failures);
      return rc;
    }
    done += n;
  }
  return 0;
}

int Connection::dma_chunk(bool write, uint64_t addr, std::byte* buf, size_t len) {
  if (dead()) return -EIO;
  ServerCounters::bump(counters_->dma_requests);
  Header h{};
  h.msg_id = next_id_.fetch_add(1, std::memory_order_relaxed);
  h.command = static_cast<uint16_t>(write ? Command::kDmaWrite : Command::kDmaRead);
  h.flags = kTypeCommand;

  // The request: address, count, and for a write the data. A client known to use QEMU 10.x's
  // layout reads the data from payload offset 12 (a 4-byte count) and the message 4 bytes
  // longer, so it gets exactly that; everyone else gets the spec's 8-byte count.
  const bool qemu = layout_.load(std::memory_order_relaxed) == Layout::kQemu;
  DmaAccess acc{addr, len};
  static constexpr uint8_t kPad[4] = {};
  std::span<const uint8_t> pieces[3];
  size_t n = 0;
  pieces[n++] = {reinterpret_cast<const uint8_t*>(&acc), (write && qemu) ? 12u : sizeof(acc)};
  if (write) {
    pieces[n++] = {reinterpret_cast<const uint8_t*>(buf), len};
    if (qemu) pieces[n++] = {kPad, sizeof(kPad)};
  }
  const std::span<const std::span<const uint8_t>> body(pieces, n);

  Message reply;
  if (has_twin_.load(std::memory_order_acquire)) {
    std::lock_guard lk(twin_mu_);
    if (int rc = round_trip_twin(h, body, reply); rc < 0) return rc;
  } else {
    Waiter w{h.msg_id, h.command, false, Message{}};
    {
      std::lock_guard lk(wait_mu_);
      waiters_.push_back(&w);
    }
    int rc = send(h, body);
    if (rc == 0) rc = wait_main(w);
    {
      std::lock_guard lk(wait_mu_);
      waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
    }
    if (rc < 0) return dead() ? -EIO : rc;
    reply = std::move(w.reply);
  }
  return check_reply(write, addr, buf, len, reply);
}

int Connection::wait_main(Waiter& w) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(limits_.dma_timeout_ms);
  for (;;) {
    {
      std::unique_lock lk(wait_mu_);
      wait_cv_.wait_for(lk, kPumpSlice, [&] { return w.done || dead(); });
      if (w.done) return 0;
      if (dead()) return -EIO;
    }
    // The loop normally reads our reply; if it is busy (a handler waiting for this device),
    // read it ourselves.
    pump();
    if (Clock::now() >= deadline) {
      std::lock_guard lk(wait_mu_);
      if (w.done) return 0;
      log_warn("vfio-user", "client did not answer {} #{} within {} ms", command_name(w.command),
               w.id, limits_.dma_timeout_ms);
      mark_broken();
      return -ETIMEDOUT;
    }
  }
}

int Connection::round_trip_twin(const Header& hdr, std::span<const std::span<const uint8_t>> pieces,
                                Message& reply) {
  if (!twin_) return -EIO;
  if (int rc = send_message(twin_.get(), hdr, pieces, {}, limits_.io_timeout_ms); rc < 0) {
    if (!dead()) mark_broken();
    return dead() ? -EIO : rc;
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(limits_.dma_timeout_ms);
  for (;;) {
    if (dead()) return -EIO;
    const int wait = std::min(remaining_ms(deadline), 100);
    const auto st = twin_reader_.read(twin_.get(), reply, wait);
    if (st == MessageReader::Status::kMessage) {
      if (reply.is_reply() && reply.hdr.msg_id == hdr.msg_id && reply.hdr.command == hdr.command) {
        return 0;
      }
      // Only replies to our requests belong on the twin socket.
      ServerCounters::bump(counters_->stray_replies);
      log_warn("vfio-user", "twin socket: unexpected {} {} #{} dropped",
               reply.is_reply() ? "reply" : "command", command_name(reply.hdr.command),
               +reply.hdr.msg_id);
      continue;
    }
    if (st != MessageReader::Status::kAgain) {
      if (!dead()) {
        log_warn("vfio-user", "twin socket closed or unreadable during {} #{}",
                 command_name(hdr.command), +hdr.msg_id);
        mark_broken();
      }
      return -EIO;
    }
    if (Clock::now() >= deadline) {
      log_warn("vfio-user", "client did not answer {} #{} on the twin socket within {} ms",
               command_name(hdr.command), +hdr.msg_id, limits_.dma_timeout_ms);
      mark_broken();
      return -ETIMEDOUT;
    }
  }
}

int Connection::check_reply(bool write, uint64_t addr, std::byte* buf, size_t len,
                            const Message& reply) {
  if (reply.is_error()) return -peer_errno(reply.hdr.error_no);
  if (!reply.fds.empty() || reply.fds_truncated) {
    log_warn("vfio-user", "{} reply carries fds: refused", command_name(reply.hdr.command));
    return -EINVAL;
  }
  const auto& p = reply.payload;
  const auto got_addr = reply.get<uint64_t>(0);
  if (write) {
    // Accepted: the 16-byte echo (libvfio-user, the draft), the current spec text's 12 bytes
    // (a 4-byte count), or QEMU 10.x's bare header.
    switch (p.size()) {
      case 0:
        layout_.store(Layout::kQemu, std::memory_order_relaxed);
        return 0;
      case 12:
        if (*got_addr == addr && reply.get<uint32_t>(8) == len) return 0;
        break;
      case 16:
        if (*got_addr == addr && reply.get<uint64_t>(8) == len) {
          layout_.store(Layout::kSpec, std::memory_order_relaxed);
          return 0;
        }
        break;
      default:
        break;
    }
    log_warn("vfio-user", "malformed DMA_WRITE reply ({} bytes) for {:#x}+{:#x}", p.size(), addr,
             len);
    return -EINVAL;
  }
  // DMA_READ: address, count, data. QEMU 10.x answers with a 4-byte count and the data at offset
  // 12 (its first 4 bytes land in the upper half of the spec's 8-byte count; 4 zero bytes pad
  // the end). An upper half that is not zero proves that layout; a zero one is ambiguous and
  // follows what this client showed before (the spec's layout if nothing yet).
  if (got_addr && *got_addr == addr && p.size() >= sizeof(DmaAccess) + len) {
    const uint64_t count = *reply.get<uint64_t>(8);
    const bool low_ok = static_cast<uint32_t>(count) == static_cast<uint32_t>(len);
    size_t data_at = 0;
    if (count == len && layout_.load(std::memory_order_relaxed) != Layout::kQemu) {
      data_at = 16;
    } else if (low_ok && len <= UINT32_MAX) {
      if ((count >> 32) != 0) layout_.store(Layout::kQemu, std::memory_order_relaxed);
      data_at = 12;
    }
    if (data_at != 0) {
      std::memcpy(buf, p.data() + data_at, len);
      return 0;
    }
  }
  log_warn("vfio-user", "malformed DMA_READ reply ({} bytes) for {:#x}+{:#x}", p.size(), addr, len);
  return -EINVAL;
}

}  // namespace uvfio::vfio_user
