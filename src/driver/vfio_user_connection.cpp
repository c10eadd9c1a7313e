#include "driver/vfio_user_connection.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "uvfio/base/log.h"
#include "uvfio/driver/error.h"
#include "vfio_user/message.h"
#include "vfio_user/message_io.h"

namespace uvfio::driver::detail {
namespace {

namespace vu = vfio_user;
using Clock = std::chrono::steady_clock;

/// Replies other than data transfers (region info with its capability chain) stay below this.
constexpr uint32_t kMaxControlReply = 64 * 1024;
/// The most iovec entries one sendmsg takes (the kernel's UIO_MAXIOV).
constexpr size_t kMaxIov = 1024;
/// Why waiters failed when the connection broke (Call::why_ points at static text).
constexpr const char* kWhyClosedByUs = "the connection was closed by this client";
constexpr const char* kWhyServerGone = "the server closed the connection";

int timeout_ms(std::chrono::milliseconds t) {
  return static_cast<int>(std::min<int64_t>(t.count(), INT32_MAX));
}

std::string command_text(uint16_t cmd) {
  return vu::command_name(cmd);
}

}  // namespace

// ---- Call --------------------------------------------------------------------------------------

VfioUserConnection::Call::~Call() {
  if (conn_ != nullptr) {
    std::lock_guard lock(conn_->mu_);
    conn_->unregister_locked(*this);
  }
}

// ---- set-up ------------------------------------------------------------------------------------

VfioUserConnection::VfioUserConnection(UniqueFd socket, std::string target,
                                       const VfioUserClientOptions& options)
    : target_(std::move(target)),
      options_(options),
      sock_(std::move(socket)),
      main_rx_(
          static_cast<uint32_t>(std::max<uint64_t>(options.max_data_xfer_size, kMaxControlReply) +
                                2 * sizeof(vu::Header)),
          options.max_msg_fds) {}

std::shared_ptr<VfioUserConnection> VfioUserConnection::connect(
    const std::string& path, const std::string& target, const VfioUserClientOptions& options) {
  const std::string op = "connect(" + path + ")";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    throw Error(op, target, path.empty() ? EINVAL : ENAMETOOLONG,
                fmt::format("a UNIX socket path has 1 to {} bytes", sizeof addr.sun_path - 1));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) throw Error("socket(AF_UNIX)", target, errno);
  int rc;
  do {
    rc = ::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    const int err = errno;
    throw Error(
        op, target, err,
        err == ENOENT || err == ECONNREFUSED ? "is a vfio-user server listening there?" : "");
  }
  return adopt(std::move(s), target, options);
}

std::shared_ptr<VfioUserConnection> VfioUserConnection::adopt(
    UniqueFd socket, const std::string& target, const VfioUserClientOptions& options) {
  if (options.timeout.count() <= 0) throw Error("vfio-user connect", target, EINVAL, "timeout 0");
  std::shared_ptr<VfioUserConnection> c(new VfioUserConnection(std::move(socket), target, options));
  c->negotiate();
  return c;
}

VfioUserConnection::~VfioUserConnection() {
  close();
  twin_thread_.request_stop();
  background_thread_.request_stop();
  twin_thread_.join();
  background_thread_.join();
}

void VfioUserConnection::set_receive_tick(int fd) const {
  // Readers block in recvmsg (one system call per reply) and wake at this tick to check their
  // deadline: a quarter of the timeout, 1..100 ms, bounds how late a timeout is noticed.
  const auto tick = std::clamp<int64_t>(options_.timeout.count() / 4, 1, 100);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(tick / 1000);
  tv.tv_usec = static_cast<suseconds_t>((tick % 1000) * 1000);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
    fail("setsockopt(SO_RCVTIMEO)", errno);
  }
}

void VfioUserConnection::negotiate() {
  set_receive_tick(sock_.get());
  vu::Capabilities mine;
  mine.max_msg_fds = options_.max_msg_fds;
  mine.max_data_xfer_size = options_.max_data_xfer_size;
  mine.pgsizes = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  mine.twin_socket = options_.twin_socket;
  mine.write_multiple = false;  // a client is never sent REGION_WRITE_MULTI
  const std::string json = vu::to_json(mine);
  const vu::VersionHead head{vu::kMajor, vu::kMinor};
  const std::span<const uint8_t> pieces[] = {
      {reinterpret_cast<const uint8_t*>(&head), sizeof head},
      {reinterpret_cast<const uint8_t*>(json.c_str()), json.size() + 1},  // with its NUL
  };
  Call c;
  start(c, vu::Command::kVersion, pieces);
  if (const int err = finish(c); err != 0) {
    fail("VERSION", err, fmt::format("the server refused version {}.{}", vu::kMajor, vu::kMinor));
  }
  std::string why;
  const std::string_view text(reinterpret_cast<const char*>(c.payload().data()),
                              c.payload().size());
  auto v = vu::parse_version_payload(text, &why);
  if (!v) fail("VERSION", EPROTO, "malformed reply: " + why);
  if (v->major != vu::kMajor || v->minor > vu::kMinor) {
    fail("VERSION", EPROTO,
         fmt::format("the server answered version {}.{}; this client speaks {}.0..{}.{}", v->major,
                     v->minor, vu::kMajor, vu::kMajor, vu::kMinor));
  }
  auto caps = vu::parse_capabilities(v->json, &why);
  if (!caps) fail("VERSION", EPROTO, "the server's capabilities: " + why);
  major_ = v->major;
  minor_ = v->minor;
  server_ = *caps;
  if (server_.twin_socket) {
    // Spec: a twin socket this client did not ask for, or one without a usable fd, is an
    // inconsistent reply, and the client must close the connection.
    if (!options_.twin_socket) fail("VERSION", EPROTO, "a twin socket this client did not ask for");
    if (!server_.twin_fd_index || *server_.twin_fd_index >= c.fds().size()) {
      fail("VERSION", EPROTO,
           fmt::format("twin_socket.fd_index {} but {} fd(s) came with the reply",
                       server_.twin_fd_index ? std::to_string(*server_.twin_fd_index) : "absent",
                       c.fds().size()));
    }
    UniqueFd twin = std::move(c.fds()[*server_.twin_fd_index]);
    struct stat sb {};
    if (::fstat(twin.get(), &sb) < 0 || !S_ISSOCK(sb.st_mode)) {
      fail("VERSION", EPROTO, "the twin socket's fd is not a socket");
    }
    set_receive_tick(twin.get());
    twin_ = std::move(twin);
    twin_thread_ = Thread("uvfio-vu-twin", [this](const std::stop_token& st) { twin_loop(st); });
  }
  if (log_enabled(LogLevel::kInfo)) {
    log_write(LogLevel::kInfo, "vfio-user",
              fmt::format("{}: version {}.{}, server caps {}{}", target_, major_, minor_,
                          vu::to_json(server_), twin_.valid() ? ", twin socket" : ""));
  }
}

uint64_t VfioUserConnection::max_xfer() const {
  return std::min(server_.max_data_xfer_size, options_.max_data_xfer_size);
}

// ---- requests ----------------------------------------------------------------------------------

void VfioUserConnection::fail(const std::string& op, int err, const std::string& detail) const {
  throw Error(op, target_, err, detail);
}

void VfioUserConnection::throw_call(const Call& call, int err, const std::string& detail) const {
  fail(command_text(call.cmd_), err, detail);
}

void VfioUserConnection::unregister_locked(Call& call) {
  auto it = std::find(pending_.begin(), pending_.end(), &call);
  if (it != pending_.end()) {
    *it = pending_.back();
    pending_.pop_back();
  }
  call.conn_ = nullptr;
}

void VfioUserConnection::break_locked(int err, const char* why) {
  if (closed_) return;
  closed_ = true;
  closed_err_ = err;
  closed_why_ = why;
  for (Call* c : pending_) {
    c->done_ = true;
    c->err_ = err;
    c->why_ = why;
    c->conn_ = nullptr;
    c->cv_.notify_one();
  }
  pending_.clear();
  // Wakes every blocked reader (recvmsg returns 0) and the server sees the client leave.
  ::shutdown(sock_.get(), SHUT_RDWR);
  if (twin_.valid()) ::shutdown(twin_.get(), SHUT_RDWR);
  role_cv_.notify_all();
}

void VfioUserConnection::handoff_locked() {
  if (background_) role_cv_.notify_all();
  // Only a caller blocked in finish() can take the role; a call started but not yet finished
  // has no thread to wake.
  for (Call* c : pending_) {
    if (c->waiting_) {
      c->cv_.notify_one();
      break;
    }
  }
}

int VfioUserConnection::send_locked_io(int fd, const vu::Header& hdr,
                                       std::span<const std::span<const uint8_t>> pieces,
                                       std::span<const int> fds) const {
  vu::Header h = hdr;
  vu::MessageIovecs iov(h, pieces);
  if (!iov.ok()) return -EMSGSIZE;
  return vu::send_all(fd, iov.iov(), fds, timeout_ms(options_.timeout));
}

void VfioUserConnection::fail_send(int rc, uint16_t command, const char* what) {
  {
    std::lock_guard lock(mu_);
    // A failed send may have left half a message on the stream: nothing after it can be
    // trusted, so the connection ends here.
    break_locked(rc == -EPIPE ? ECONNRESET : -rc,
                 rc == -EPIPE ? kWhyServerGone : "a request could not be sent");
  }
  fail(command_text(command), -rc, what);
}

void VfioUserConnection::start(Call& call, vu::Command cmd,
                               std::span<const std::span<const uint8_t>> pieces,
                               std::span<const int> fds) {
  const Outgoing one{&call, cmd, pieces, fds};
  start_batch(std::span(&one, 1));
}

void VfioUserConnection::post(vu::Command cmd, std::span<const std::span<const uint8_t>> pieces) {
  const Outgoing one{nullptr, cmd, pieces, {}};
  start_batch(std::span(&one, 1));
}

void VfioUserConnection::start_batch(std::span<const Outgoing> batch) {
  if (batch.empty()) return;
  // Headers and the gather list live on the stack for the usual batch (a window of region
  // accesses), else on the heap. Not zeroed: every entry used is written first (this runs for
  // every single register access).
  constexpr size_t kStackMessages = 16;
  constexpr size_t kStackIov = 48;
  std::array<vu::Header, kStackMessages> stack_hdrs;
  std::vector<vu::Header> heap_hdrs;
  std::span<vu::Header> hdrs(stack_hdrs.data(), std::min(batch.size(), kStackMessages));
  if (batch.size() > kStackMessages) {
    heap_hdrs.resize(batch.size());
    hdrs = heap_hdrs;
  }
  size_t total_iov = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Outgoing& o = batch[i];
    vu::Header& h = hdrs[i];
    h = {};
    h.command = static_cast<uint16_t>(o.cmd);
    h.flags = vu::kTypeCommand | (o.call == nullptr ? vu::kFlagNoReply : 0);
    uint64_t size = sizeof h;
    for (auto p : o.pieces) size += p.size();
    if (size > UINT32_MAX) fail(command_text(h.command), EMSGSIZE, "a message above 4 GiB");
    h.msg_size = static_cast<uint32_t>(size);
    total_iov += 1 + o.pieces.size();
  }
  {
    std::lock_guard lock(mu_);
    for (const Outgoing& o : batch) {
      if (o.call != nullptr && o.call->conn_ != nullptr) {
        fail(command_text(static_cast<uint16_t>(o.cmd)), EBUSY, "the call is already started");
      }
    }
    if (closed_) fail(command_text(hdrs[0].command), closed_err_, closed_why_);
    const auto deadline = Clock::now() + options_.timeout;
    for (size_t i = 0; i < batch.size(); ++i) {
      Call* call = batch[i].call;
      // Message ids are ours; a request skips an id still waiting for its reply after a wrap.
      uint16_t id = next_id_++;
      while (call != nullptr && std::any_of(pending_.begin(), pending_.end(),
                                            [id](const Call* c) { return c->id_ == id; })) {
        id = next_id_++;
      }
      hdrs[i].msg_id = id;
      if (call == nullptr) continue;
      call->conn_ = this;
      call->id_ = id;
      call->cmd_ = hdrs[i].command;
      call->done_ = false;
      call->err_ = 0;
      call->why_ = "";
      call->deadline_ = deadline;
      call->payload_.clear();
      call->fds_.clear();
      pending_.push_back(call);
    }
  }
  sent_.fetch_add(1, std::memory_order_release);
  std::array<iovec, kStackIov> stack_iov;
  std::vector<iovec> heap_iov;
  std::span<iovec> iov(stack_iov);
  if (total_iov > kStackIov) {
    heap_iov.resize(total_iov);
    iov = heap_iov;
  }
  int rc = 0;
  size_t failed = 0;  // the first message not wholly sent
  {
    std::lock_guard lock(send_mu_);
    for (size_t i = 0; i < batch.size() && rc == 0;) {
      // Messages without fds are gathered into one sendmsg; one with fds goes alone (above).
      size_t n = 0;
      size_t j = i;
      do {
        if (j > i && (!batch[j].fds.empty() || n + 1 + batch[j].pieces.size() > kMaxIov)) break;
        iov[n++] = {&hdrs[j], sizeof(vu::Header)};
        for (auto p : batch[j].pieces) {
          if (!p.empty()) iov[n++] = {const_cast<uint8_t*>(p.data()), p.size()};
        }
        ++j;
      } while (j < batch.size() && batch[j - 1].fds.empty());
      rc = vu::send_all(sock_.get(), iov.first(n), batch[i].fds, timeout_ms(options_.timeout));
      failed = i;
      i = j;
    }
  }
  if (rc < 0) {
    {
      std::lock_guard lock(mu_);
      for (const Outgoing& o : batch) {
        if (o.call != nullptr) unregister_locked(*o.call);
      }
    }
    fail_send(rc, hdrs[failed].command,
              batch[failed].call != nullptr ? "sending the request" : "sending the posted request");
  }
}

void VfioUserConnection::ring(int eventfd, const char* what) {
  {
    std::lock_guard lock(mu_);
    if (closed_) fail(what, closed_err_, closed_why_);
  }
  // For the memory model, a doorbell is a request sent (see sent_).
  sent_.fetch_add(1, std::memory_order_release);
  // Under the send lock: a message another thread has begun to send is wholly in the socket
  // before the doorbell rings (this thread's own earlier sends returned before this call).
  std::lock_guard lock(send_mu_);
  const uint64_t one = 1;
  ssize_t n;
  do {
    n = ::write(eventfd, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
  // EAGAIN: the counter is saturated, so the doorbell is pending anyway (doorbells coalesce).
  if (n < 0 && errno != EAGAIN) fail(what, errno, "signalling the doorbell's ioeventfd");
}

int VfioUserConnection::finish(Call& call) {
  std::unique_lock lk(mu_);
  if (call.conn_ == nullptr && !call.done_) {
    fail(command_text(call.cmd_), EINVAL, "finish() of a call never started");
  }
  for (;;) {
    if (call.done_) break;
    if (Clock::now() >= call.deadline_) {
      unregister_locked(call);
      call.done_ = true;
      call.err_ = ETIMEDOUT;
      call.why_ = "no reply within the timeout";
      if (!reading_) handoff_locked();
      break;
    }
    if (!reading_) {
      reading_ = true;
      lk.unlock();
      const int rc = read_main(&call, nullptr);
      lk.lock();
      reading_ = false;
      if (rc < 0) {
        break_locked(-rc, rc == -ECONNRESET ? kWhyServerGone : "malformed message from the server");
      }
      handoff_locked();
      continue;
    }
    call.waiting_ = true;
    call.cv_.wait_until(lk, call.deadline_);
    call.waiting_ = false;
  }
  call.conn_ = nullptr;
  (void)dma_written_.load(std::memory_order_acquire);
  if (call.err_ != 0 && *call.why_ != '\0') {
    const int err = call.err_;
    std::string detail = call.why_;
    if (err == ETIMEDOUT) detail += fmt::format(" ({} ms)", options_.timeout.count());
    lk.unlock();
    throw_call(call, err, detail);
  }
  return call.err_;
}

void VfioUserConnection::call(Call& c, vu::Command cmd,
                              std::span<const std::span<const uint8_t>> pieces,
                              std::span<const int> fds, const std::string& detail) {
  start(c, cmd, pieces, fds);
  if (const int err = finish(c); err != 0) throw_call(c, err, detail);
}

bool VfioUserConnection::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

void VfioUserConnection::close() noexcept {
  std::lock_guard lock(mu_);
  break_locked(ECONNRESET, kWhyClosedByUs);
}

// ---- reading -----------------------------------------------------------------------------------

int VfioUserConnection::read_main(Call* mine, const std::stop_token* stop) {
  VfioUserReceiver::View v;
  for (;;) {
    int r;
    while ((r = main_rx_.next(v)) == 1) {
      const int d = dispatch(sock_.get(), v, mine);
      if (d < 0) return d;
      if (d == 1) return 0;
    }
    if (r < 0) {
      log_write(LogLevel::kWarn, "vfio-user",
                fmt::format("{}: message with msg_size {} (command {}): framing lost", target_,
                            main_rx_.bad_header().msg_size, main_rx_.bad_header().command));
      return r;
    }
    if (mine != nullptr && Clock::now() >= mine->deadline_) return 0;
    if (stop != nullptr && stop->stop_requested()) return 0;
    const int f = main_rx_.fill(sock_.get());
    if (f == 1 || f == -EAGAIN) continue;
    return f == 0 ? -ECONNRESET : f;
  }
}

int VfioUserConnection::dispatch(int fd, const VfioUserReceiver::View& v, Call* mine) {
  const uint32_t type = v.hdr.flags & vu::kTypeMask;
  if (type == vu::kTypeCommand) {
    serve_request(fd, fd == sock_.get() ? &send_mu_ : nullptr, v);
    return 0;
  }
  if (type != vu::kTypeReply) return -EPROTO;  // QEMU, too, gives up on such a stream
  std::lock_guard lock(mu_);
  auto it = std::find_if(pending_.begin(), pending_.end(),
                         [&](const Call* c) { return c->id_ == v.hdr.msg_id; });
  if (it == pending_.end()) {
    // A reply to a request that timed out (or a stray one): nobody waits for it.
    if (log_enabled(LogLevel::kDebug)) {
      log_write(LogLevel::kDebug, "vfio-user",
                fmt::format("{}: dropping a {} reply with id {} nobody waits for", target_,
                            command_text(v.hdr.command), v.hdr.msg_id));
    }
    return 0;
  }
  Call& c = **it;
  unregister_locked(c);
  c.hdr_ = v.hdr;
  if (v.hdr.command != c.cmd_) {
    c.err_ = EPROTO;
    c.why_ = "the reply names another command";
  } else if (v.fds_truncated) {
    c.err_ = EPROTO;
    c.why_ = "the reply carried more fds than this client accepts";
  } else if ((v.hdr.flags & vu::kFlagError) != 0) {
    // As libvfio-user: an errno outside 1..4095 is not one; call it EINVAL.
    c.err_ =
        (v.hdr.error_no == 0 || v.hdr.error_no > 4095) ? EINVAL : static_cast<int>(v.hdr.error_no);
  } else {
    c.payload_.assign(v.payload.begin(), v.payload.end());
    c.fds_.clear();
    std::swap(c.fds_, *v.fds);
  }
  c.done_ = true;
  if (&c == mine) return 1;
  c.cv_.notify_one();
  return 0;
}

void VfioUserConnection::serve_request(int fd, std::mutex* send_mu,
                                       const VfioUserReceiver::View& v) {
  const bool twin = fd != sock_.get();
  std::vector<uint8_t> twin_scratch;
  std::vector<uint8_t>& reply = twin ? twin_scratch : dma_reply_;
  int err = ENOSYS;  // what QEMU answers for a command a client does not serve
  const auto cmd = static_cast<vu::Command>(v.hdr.command);
  if (cmd == vu::Command::kDmaRead || cmd == vu::Command::kDmaWrite) {
    (void)sent_.load(std::memory_order_acquire);
    err = fdless_.serve(cmd, v.payload, !v.fds->empty() || v.fds_truncated,
                        options_.max_data_xfer_size, reply);
    if (err == 0 && cmd == vu::Command::kDmaWrite) {
      dma_written_.fetch_add(1, std::memory_order_release);
    }
  }
  if ((v.hdr.flags & vu::kFlagNoReply) != 0) return;
  vu::Header h{};
  h.msg_id = v.hdr.msg_id;
  h.command = v.hdr.command;
  h.flags = vu::kTypeReply | (err != 0 ? vu::kFlagError : 0);
  h.error_no = static_cast<uint32_t>(err);
  const std::span<const uint8_t> piece(reply);
  const std::span<const std::span<const uint8_t>> pieces(&piece, err == 0 ? 1 : 0);
  int rc;
  if (send_mu != nullptr) {
    std::lock_guard lock(*send_mu);
    rc = send_locked_io(fd, h, pieces, {});
  } else {
    rc = send_locked_io(fd, h, pieces, {});
  }
  if (rc < 0 && log_enabled(LogLevel::kDebug)) {
    log_write(LogLevel::kDebug, "vfio-user",
              fmt::format("{}: the {} reply could not be sent: {}", target_,
                          command_text(v.hdr.command), rc));
  }
}

void VfioUserConnection::twin_loop(const std::stop_token& st) {
  VfioUserReceiver rx(static_cast<uint32_t>(options_.max_data_xfer_size + 2 * sizeof(vu::Header)),
                      options_.max_msg_fds);
  VfioUserReceiver::View v;
  int rc = 0;
  while (!st.stop_requested() && rc == 0) {
    int r;
    while ((r = rx.next(v)) == 1) {
      if ((v.hdr.flags & vu::kTypeMask) == vu::kTypeCommand) {
        serve_request(twin_.get(), nullptr, v);
      } else if ((v.hdr.flags & vu::kTypeMask) != vu::kTypeReply) {
        r = -EPROTO;
        break;
      }
      // A reply on the twin socket answers nothing this client sent there: ignored.
    }
    if (r < 0) {
      rc = r;
      break;
    }
    const int f = rx.fill(twin_.get());
    if (f == 0) rc = -ECONNRESET;
    if (f < 0 && f != -EAGAIN) rc = f;
  }
  if (rc < 0 && !st.stop_requested()) {
    std::lock_guard lock(mu_);
    break_locked(rc == -ECONNRESET ? ECONNRESET : -rc,
                 rc == -ECONNRESET ? kWhyServerGone : "malformed message on the twin socket");
  }
}

void VfioUserConnection::serve_fdless_dma() {
  std::lock_guard lock(mu_);
  if (twin_.valid() || background_ || closed_) return;
  background_ = true;
  background_thread_ =
      Thread("uvfio-vu-read", [this](const std::stop_token& st) { background_loop(st); });
}

void VfioUserConnection::background_loop(const std::stop_token& st) {
  std::unique_lock lk(mu_);
  role_cv_.wait(lk, [&] { return !reading_ || closed_ || st.stop_requested(); });
  if (closed_ || st.stop_requested()) return;
  reading_ = true;  // and kept: from now on this thread reads the main socket
  lk.unlock();
  const int rc = read_main(nullptr, &st);
  lk.lock();
  reading_ = false;
  if (rc < 0) {
    break_locked(-rc, rc == -ECONNRESET ? kWhyServerGone : "malformed message from the server");
  }
  handoff_locked();
}

}  // namespace uvfio::driver::detail
