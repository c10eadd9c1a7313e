// Server: devices, their listening sockets and sessions, and the epoll event loop that drives
// them all on one thread.
#include "uvfio/vfio_user/server.h"

#include <sys/epoll.h>

#include <bit>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include "base/log_format.h"
#include "uvfio/base/errno_name.h"
#include "uvfio/base/eventfd.h"
#include "uvfio/iommu/memlock_account.h"
#include "vfio_user/capabilities.h"
#include "vfio_user/server_counters.h"
#include "vfio_user/session.h"
#include "vfio_user/unix_listener.h"

namespace uvfio::vfio_user {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kBudget = 64;  // messages one session handles before others get a turn
constexpr int kMaxEvents = 64;

// What an epoll event is about: packed into its 64-bit data word, so a stale event (for a
// session that has ended since epoll_wait returned) can be recognized by its generation.
enum class Kind : uint8_t { kStop = 1, kListen, kClient, kWake, kDoorbell };
struct Tag {
  Kind kind;
  uint32_t slot;        // 24 bits
  uint16_t generation;  // of the slot's session
  uint16_t index;       // doorbell number
};
uint64_t pack(Tag t) {
  return (uint64_t{static_cast<uint8_t>(t.kind)} << 56) | (uint64_t{t.slot & 0xffffff} << 32) |
         (uint64_t{t.generation} << 16) | t.index;
}
Tag unpack(uint64_t v) {
  return {static_cast<Kind>(v >> 56), static_cast<uint32_t>((v >> 32) & 0xffffff),
          static_cast<uint16_t>(v >> 16), static_cast<uint16_t>(v)};
}

}  // namespace

// One device and its socket; the session while a client is connected.
struct Slot {
  DeviceId id = 0;
  std::shared_ptr<vfio::VfioDeviceOps> device;
  std::optional<UnixListener> listener;
  std::string name;
  std::unique_ptr<Session> session;
  uint16_t generation = 0;
  bool ready = false;     // the session stopped at its budget: more input may be buffered
  uint32_t interest = 0;  // the epoll events watched on the session's socket
};

struct Server::Impl {
  ServerOptions opts;
  UniqueFd epoll;
  EventFd stop_fd;
  std::atomic<bool> stopped{false};
  std::shared_ptr<ServerCounters> counters = std::make_shared<ServerCounters>();
  // Client memory is shared file memory the server maps, not memory it pins: no limit.
  std::shared_ptr<iommu::MemlockAccount> account =
      iommu::MemlockAccount::create(iommu::MemlockAccount::kUnlimited);

  std::mutex loop_mu;     // one thread runs the loop at a time
  mutable std::mutex mu;  // slots and sessions: the loop holds it while it handles events
  std::vector<std::unique_ptr<Slot>> slots;

  int ctl(int op, int fd, Tag tag, uint32_t events = EPOLLIN) const {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = pack(tag);
    return ::epoll_ctl(epoll.get(), op, fd, op == EPOLL_CTL_DEL ? nullptr : &ev) == 0 ? 0 : errno;
  }

  Slot* slot(uint32_t id) const { return id < slots.size() ? slots[id].get() : nullptr; }

  Result<DeviceId> add_slot(std::shared_ptr<vfio::VfioDeviceOps> device,
                            std::optional<UnixListener> listener, std::string name) {
    if (!device) return Errno{EINVAL};
    std::lock_guard lk(mu);
    if (slots.size() >= 0xffffff) return Errno{ENOSPC};
    auto s = std::make_unique<Slot>();
    s->id = static_cast<DeviceId>(slots.size());
    s->device = std::move(device);
    s->name = std::move(name);
    if (listener) {
      if (int err = ctl(EPOLL_CTL_ADD, listener->fd(), {Kind::kListen, s->id, 0, 0})) {
        return Errno{err};
      }
      s->listener = std::move(listener);
    }
    slots.push_back(std::move(s));
    return slots.back()->id;
  }

  // Starts a session for `sock` on `s` (mu held). On failure the socket is closed.
  Result<void> start_session(Slot& s, UniqueFd sock) {
    if (s.session) return Errno{EBUSY};
    Session::Config cfg;
    cfg.options = &opts;
    cfg.counters = counters;
    cfg.account = account;
    cfg.name = s.name;
    const uint32_t id = s.id;
    const auto gen = static_cast<uint16_t>(s.generation + 1);
    cfg.watch_doorbell = [this, id, gen](int fd, uint32_t index, bool add) {
      const Tag t{Kind::kDoorbell, id, gen, static_cast<uint16_t>(index)};
      if (int err = ctl(add ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, t); err && add) {
        log_warn("vfio-user", "cannot watch a doorbell eventfd: {}", errno_name(err));
      }
    };
    auto session = Session::create(s.device, std::move(sock), std::move(cfg));
    if (!session) return Errno{session.error()};
    s.generation = gen;
    if (int err = ctl(EPOLL_CTL_ADD, (*session)->fd(), {Kind::kClient, id, gen, 0})) {
      return Errno{err};
    }
    if (int err = ctl(EPOLL_CTL_ADD, (*session)->wake_fd(), {Kind::kWake, id, gen, 0})) {
      (void)ctl(EPOLL_CTL_DEL, (*session)->fd(), {});
      return Errno{err};
    }
    s.session = std::move(*session);
    s.ready = false;
    s.interest = EPOLLIN;
    ServerCounters::bump(counters->connections_accepted);
    log_info("vfio-user", "{}: client connected", s.name);
    return {};
  }

  void end_session(Slot& s, const char* why) const {
    if (!s.session) return;
    (void)ctl(EPOLL_CTL_DEL, s.session->fd(), {});
    (void)ctl(EPOLL_CTL_DEL, s.session->wake_fd(), {});
    s.session->end(why);
    s.session.reset();
    s.ready = false;
  }

  void on_accept(Slot& s) {
    for (;;) {
      auto c = s.listener->accept();
      if (!c) {
        if (c.error() != EAGAIN) {
          log_warn("vfio-user", "{}: accept failed: {}", s.name, errno_name(c.error()));
        }
        return;
      }
      if (s.session) {
        // One client per device: the newcomer is told by an immediate close.
        ServerCounters::bump(counters->connections_refused);
        log_warn("vfio-user", "{}: refusing a second client: the device already has one", s.name);
        continue;
      }
      if (auto r = start_session(s, std::move(*c)); !r) {
        ServerCounters::bump(counters->connections_refused);
        log_warn("vfio-user", "{}: refusing a client: the device cannot be opened: {}", s.name,
                 errno_name(r.error()));
      }
    }
  }

  void on_status(Slot& s, Session::Status st) const {
    switch (st) {
      case Session::Status::kIdle:
        s.ready = false;
        break;
      case Session::Status::kMore:
        s.ready = true;
        break;
      case Session::Status::kEnded:
        end_session(s, "the client disconnected or the stream broke");
        break;
    }
  }

  void on_input(Slot& s, bool woken = false) const {
    if (!s.session) return;
    on_status(s, s.session->on_input(kBudget, woken));
  }

  // A doorbell rang: everything the client sent before ringing it is in the socket already
  // (it rings after its sends returned), so that is handled first and the write lands after
  // the register writes that prepared it, as on the message path. The ring is consumed before
  // that, so a ring arriving meanwhile is not folded into this earlier write.
  void on_doorbell(Slot& s, uint32_t index) const {
    if (!s.session->take_doorbell(index)) return;
    for (int round = 0; round < 64 && s.session; ++round) {
      on_input(s);
      if (!s.ready) break;
    }
    if (s.session) s.session->ring_doorbell(index);
  }

  // Watches the socket for input unless the client is behind on reading its replies, and for
  // room while output is queued.
  void update_interest(Slot& s) const {
    if (!s.session) return;
    const uint32_t want = (s.session->input_blocked() ? 0u : uint32_t{EPOLLIN}) |
                          (s.session->output_pending() ? uint32_t{EPOLLOUT} : 0u);
    if (want == s.interest) return;
    if (int err =
            ctl(EPOLL_CTL_MOD, s.session->fd(), {Kind::kClient, s.id, s.generation, 0}, want)) {
      log_warn("vfio-user", "{}: cannot change the socket's watch: {}", s.name, errno_name(err));
      end_session(s, "the event loop lost track of the socket");
      return;
    }
    s.interest = want;
  }

  int step(int timeout_ms) {
    std::optional<Clock::time_point> deadline;
    bool any_ready = false;
    {
      std::lock_guard lk(mu);
      for (auto& s : slots) {
        if (!s->session) continue;
        any_ready = any_ready || s->ready;
        for (auto d : {s->session->stall_deadline(), s->session->output_deadline()}) {
          if (d && (!deadline || *d < *deadline)) deadline = d;
        }
      }
    }
    int wait = any_ready ? 0 : timeout_ms;
    if (deadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count() +
          1;
      const int t = static_cast<int>(std::clamp<int64_t>(left, 0, INT32_MAX));
      wait = wait < 0 ? t : std::min(wait, t);
    }
    epoll_event events[kMaxEvents];
    const int n = ::epoll_wait(epoll.get(), events, kMaxEvents, wait);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    std::lock_guard lk(mu);
    int handled = 0;
    for (int i = 0; i < n; ++i) {
      const Tag t = unpack(events[i].data.u64);
      if (t.kind == Kind::kStop) {
        ++handled;
        continue;
      }
      Slot* s = slot(t.slot);
      if (s == nullptr) continue;
      if (t.kind == Kind::kListen) {
        if (s->listener) on_accept(*s);
        ++handled;
        continue;
      }
      if (!s->session || t.generation != s->generation) continue;  // a session gone since
      ++handled;
      if (t.kind == Kind::kDoorbell) {
        on_doorbell(*s, t.index);
      } else if (t.kind == Kind::kClient) {
        const uint32_t ev = events[i].events;
        const bool hup = (ev & (EPOLLHUP | EPOLLERR)) != 0;
        if (((ev & EPOLLOUT) != 0 || hup) && s->session->output_pending()) {
          on_status(*s, s->session->on_output());
        }
        if (s->session && ((ev & EPOLLIN) != 0 || hup)) on_input(*s);
        // A peer gone while its input is held back would be reported forever: end it now.
        if (s->session && hup && s->session->input_blocked()) {
          end_session(*s, "the client hung up with replies unread");
        }
      } else {
        on_input(*s, t.kind == Kind::kWake);
      }
      update_interest(*s);
    }
    const auto now = Clock::now();
    for (auto& s : slots) {
      if (!s->session) continue;
      if (s->ready) on_input(*s);
      if (!s->session) continue;
      if (auto d = s->session->stall_deadline(); d && *d <= now) s->session->on_stall();
      if (auto d = s->session->output_deadline(); d && *d <= now) {
        log_warn("vfio-user", "{}: the client read none of its replies for {} ms", s->name,
                 opts.io_timeout_ms);
        end_session(*s, "the client stopped reading");
        continue;
      }
      update_interest(*s);
    }
    return handled;
  }
};

Result<std::unique_ptr<Server>> Server::create(const ServerOptions& options) {
  const ServerOptions& o = options;
  const uint64_t page = o.pgsizes == 0 ? 0 : uint64_t{1} << std::countr_zero(o.pgsizes);
  if (o.max_msg_fds == 0 || o.max_msg_fds > kMaxMsgFdsLimit || o.max_data_xfer_size == 0 ||
      o.max_data_xfer_size > kMaxDataXferLimit || o.max_dma_maps == 0 ||
      o.max_dma_maps > kDefaultMaxDmaMaps || page < 4096 || page > (uint64_t{1} << 30) ||
      o.io_timeout_ms <= 0 || o.dma_timeout_ms <= 0) {
    return Errno{EINVAL};
  }
  auto impl = std::make_unique<Impl>();
  impl->opts = options;
  impl->epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!impl->epoll) return Errno{errno};
  auto stop = EventFd::create();
  if (!stop) return Errno{stop.error()};
  impl->stop_fd = std::move(*stop);
  if (int err = impl->ctl(EPOLL_CTL_ADD, impl->stop_fd.fd(), {Kind::kStop, 0, 0, 0})) {
    return Errno{err};
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  stop();
  std::lock_guard loop(impl_->loop_mu);  // waits for a running loop to return
  std::lock_guard lk(impl_->mu);
  for (auto& s : impl_->slots) impl_->end_session(*s, "server shutting down");
  impl_->slots.clear();  // closes the listeners and removes their socket files
}

Result<DeviceId> Server::serve_path(std::shared_ptr<vfio::VfioDeviceOps> device,
                                    const std::string& path) {
  if (!device) return Errno{EINVAL};
  auto l = UnixListener::bind(path);
  if (!l) return Errno{l.error()};
  auto id = impl_->add_slot(std::move(device), std::move(*l), path);
  if (id) log_info("vfio-user", "listening on {}", path);
  return id;
}

Result<DeviceId> Server::serve_listening_fd(std::shared_ptr<vfio::VfioDeviceOps> device,
                                            UniqueFd listening) {
  if (!device) return Errno{EINVAL};
  const int raw = listening.get();
  auto l = UnixListener::adopt(std::move(listening));
  if (!l) return Errno{l.error()};
  return impl_->add_slot(std::move(device), std::move(*l), "fd " + std::to_string(raw));
}

Result<DeviceId> Server::serve_connected_fd(std::shared_ptr<vfio::VfioDeviceOps> device,
                                            UniqueFd connected) {
  if (!device) return Errno{EINVAL};
  if (auto r = check_stream_socket(connected.get()); !r) return Errno{r.error()};
  const int raw = connected.get();
  auto id = impl_->add_slot(std::move(device), std::nullopt, "fd " + std::to_string(raw));
  if (!id) return id;
  if (auto r = attach_client(*id, std::move(connected)); !r) return Errno{r.error()};
  return id;
}

Result<void> Server::attach_client(DeviceId id, UniqueFd connected) {
  if (auto r = check_stream_socket(connected.get()); !r) return Errno{r.error()};
  std::lock_guard lk(impl_->mu);
  Slot* s = impl_->slot(id);
  if (s == nullptr) return Errno{ENOENT};
  return impl_->start_session(*s, std::move(connected));
}

int Server::run() {
  std::lock_guard loop(impl_->loop_mu);
  while (!impl_->stopped.load(std::memory_order_acquire)) {
    if (const int rc = impl_->step(-1); rc < 0) return rc;
  }
  return 0;
}

int Server::run_once(int timeout_ms) {
  if (impl_->stopped.load(std::memory_order_acquire)) return -ECANCELED;
  std::unique_lock loop(impl_->loop_mu, std::try_to_lock);
  if (!loop.owns_lock()) return -EBUSY;
  return impl_->step(timeout_ms);
}

void Server::stop() {
  impl_->stopped.store(true, std::memory_order_release);
  (void)impl_->stop_fd.signal();
}

bool Server::stopped() const {
  return impl_->stopped.load(std::memory_order_acquire);
}

ServerStats Server::stats() const {
  return impl_->counters->snapshot();
}

bool Server::client_connected(DeviceId id) const {
  std::lock_guard lk(impl_->mu);
  const Slot* s = impl_->slot(id);
  return s != nullptr && s->session != nullptr;
}

std::string Server::socket_path(DeviceId id) const {
  std::lock_guard lk(impl_->mu);
  const Slot* s = impl_->slot(id);
  return s != nullptr && s->listener ? s->listener->path() : std::string();
}

const ServerOptions& Server::options() const {
  return impl_->opts;
}

}  // namespace uvfio::vfio_user
