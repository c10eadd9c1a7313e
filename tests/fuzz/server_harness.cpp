#include "server_harness.h"

#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>
#include <vector>

#include "fuzz_input.h"
#include "uvfio/devices/registry.h"
#include "uvfio/pci/device_model.h"
#include "vfio_user/capabilities.h"
#include "vfio_user/message_io.h"

namespace uvfio::fuzz {

using vfio_user::Command;
using vfio_user::Message;
using vfio_user::MessageReader;

void invariant_failed(const std::string& why) {
  std::fprintf(stderr, "vfio-user fuzz: invariant failed: %s\n", why.c_str());
  std::fflush(stderr);
  std::abort();
}

namespace {

// Short server timeouts: a stalled partial message or an unanswered DMA must not make one input
// take seconds (the defaults are 5 s each).
constexpr int kServerIoTimeoutMs = 200;
constexpr int kServerDmaTimeoutMs = 200;
// How long the server gets to notice a closed client and release everything it held.
constexpr auto kDisconnectDeadline = std::chrono::seconds(3);
// Loop steps per chunk: enough for a command, its posted followers and a device's DMA requests.
constexpr int kPumpSteps = 64;
// Settling (kCtlSettle): quiet 2-ms steps in a row that end it, and the most steps it takes.
constexpr int kSettleQuietSteps = 3;
constexpr int kSettleSteps = 25;

int count_open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) invariant_failed(std::string("opendir /proc/self/fd: ") + std::strerror(errno));
  int n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;  // includes the directory's own fd, the same every time
}

UniqueFd make_fd(bool memfd) {
  if (!memfd) return UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  UniqueFd fd(::memfd_create("uvfio-fuzz", MFD_CLOEXEC));
  if (fd && ::ftruncate(fd.get(), kFuzzMemfdSize) != 0) fd.reset();
  return fd;
}

}  // namespace

// The client side of one session: its socket, the twin sockets the server handed over, and the
// ioeventfds it got (written to, so doorbells fire).
struct ServerHarness::Session {
  struct Peer {
    UniqueFd fd;
    MessageReader reader;
    bool open = true;
  };
  ServerHarness& h;
  std::vector<Peer> peers;  // [0]: the main socket; then twin sockets
  std::vector<UniqueFd> doorbells;

  explicit Session(ServerHarness& harness) : h(harness) {}

  // Runs the server's loop until it has nothing to do (bounded), answering what it sends.
  void pump(int steps = kPumpSteps) {
    for (int i = 0; i < steps; ++i) {
      const int n = h.server_->run_once(0);
      if (n < 0) invariant_failed("run_once failed: " + std::string(std::strerror(-n)));
      const bool answered = drain();
      if (n == 0 && !answered) break;
    }
  }

  // The device's threads (edu's DMA and factorial workers) act a moment after the command that
  // started them: run the loop until it has been quiet for `quiet` steps of 2 ms in a row (at
  // most kSettleSteps steps), so their DMA requests are sent and answered.
  void settle(int quiet) {
    int calm = 0;
    for (int i = 0; i < kSettleSteps && calm < quiet; ++i) {
      const int n = h.server_->run_once(2);
      if (n < 0) invariant_failed("run_once failed: " + std::string(std::strerror(-n)));
      calm = (drain() || n > 0) ? 0 : calm + 1;
    }
  }

  // Reads everything the server sent, checks it, answers DMA requests. True if anything came.
  bool drain() {
    bool any = false;
    for (size_t p = 0; p < peers.size(); ++p) {
      while (peers[p].open) {
        Message m;
        const auto st = peers[p].reader.read(peers[p].fd.get(), m, 0);
        if (st == MessageReader::Status::kAgain) break;
        if (st != MessageReader::Status::kMessage) {
          // The server closed or broke the stream; a malformed message from it is a finding.
          if (st == MessageReader::Status::kError && peers[p].reader.error() == -EMSGSIZE) {
            invariant_failed("server sent a message with a bad msg_size");
          }
          peers[p].open = false;
          break;
        }
        any = true;
        check_and_answer(p, m);
      }
    }
    return any;
  }

  void check_and_answer(size_t peer, Message& m) {
    const uint32_t type = m.type();
    if (type == vfio_user::kTypeReply) {
      if (m.is_error() && !m.payload.empty()) invariant_failed("error reply with a payload");
      if ((m.hdr.flags & vfio_user::kFlagNoReply) != 0) invariant_failed("reply with NO_REPLY");
      if (m.fds_truncated) invariant_failed("server sent more fds than a message may carry");
      ++h.totals_.replies;
      if (h.trace_) {
        std::fprintf(stderr, "  reply %s #%u: %s\n", vfio_user::command_name(m.hdr.command),
                     static_cast<unsigned>(m.hdr.msg_id),
                     m.is_error() ? std::strerror(static_cast<int>(m.hdr.error_no)) : "ok");
      }
      if (m.is_error()) ++h.totals_.error_replies;
      h.totals_.fds_received += m.fds.size();
      take_fds(m);
      return;
    }
    if (type != vfio_user::kTypeCommand)
      invariant_failed("server sent a message of type " + std::to_string(type));
    const auto cmd = static_cast<Command>(m.hdr.command);
    if (cmd != Command::kDmaRead && cmd != Command::kDmaWrite) {
      invariant_failed(std::string("server sent command ") +
                       vfio_user::command_name(m.hdr.command));
    }
    if (!m.fds.empty()) invariant_failed("server sent fds with a DMA request");
    const auto acc = m.get<vfio_user::DmaAccess>();
    if (!acc) invariant_failed("DMA request shorter than its header");
    if (acc->count > vfio_user::kMaxDataXferLimit) invariant_failed("DMA request count too big");
    ++h.totals_.dma_requests;
    if (h.trace_) {
      std::fprintf(stderr, "  server %s %#llx+%llu\n", vfio_user::command_name(m.hdr.command),
                   static_cast<unsigned long long>(acc->addr),
                   static_cast<unsigned long long>(acc->count));
    }
    Message reply = vfio_user::make_reply(m.hdr);
    reply.put(*acc);
    if (cmd == Command::kDmaRead) {
      reply.payload.resize(reply.payload.size() + acc->count, 0x5a);
    } else if (m.payload.size() != sizeof(vfio_user::DmaAccess) + acc->count) {
      invariant_failed("DMA_WRITE whose data does not match its count");
    }
    // A full socket or a gone server is not a finding here: the session just ends.
    (void)vfio_user::send_message(peers[peer].fd.get(), reply, 100);
  }

  // Keeps what the server handed over: a VERSION reply's twin socket (served like the main
  // socket), a REGION_IO_FDS reply's ioeventfds (rung once each); everything else is closed.
  void take_fds(Message& m) {
    const auto cmd = static_cast<Command>(m.hdr.command);
    for (auto& fd : m.fds) {
      if (cmd == Command::kVersion) {
        peers.push_back(Peer{std::move(fd), MessageReader(), true});
      } else if (cmd == Command::kDeviceGetRegionIoFds) {
        const uint64_t one = 1;
        (void)!::write(fd.get(), &one, sizeof one);
        doorbells.push_back(std::move(fd));
      }
    }
    m.fds.clear();
  }

  // Sends one chunk; false when the server is gone (the session ends).
  bool send_chunk(const FuzzChunk& c) {
    std::vector<uint8_t> bytes(c.bytes.begin(), c.bytes.end());
    if (!c.raw_size() && bytes.size() >= sizeof(vfio_user::Header)) {
      const auto size = static_cast<uint32_t>(bytes.size());
      std::memcpy(bytes.data() + offsetof(vfio_user::Header, msg_size), &size, sizeof size);
    }
    std::vector<UniqueFd> fds;
    std::vector<int> fd_numbers;
    for (unsigned i = 0; i < c.fd_count(); ++i) {
      UniqueFd fd = make_fd(c.memfd());
      if (!fd) invariant_failed("cannot create an fd for the input");
      fd_numbers.push_back(fd.get());
      fds.push_back(std::move(fd));
    }
    if (bytes.empty()) {
      if (!fds.empty()) {
        // fds need at least one byte to travel with: a lone zero byte (a truncated header).
        bytes.push_back(0);
      } else {
        return true;
      }
    }
    size_t sent = 0;
    size_t split_at = c.split() ? bytes.size() / 2 : bytes.size();
    if (split_at == 0) split_at = bytes.size();
    for (int tries = 0; sent < bytes.size(); ++tries) {
      if (tries > 2000) return false;  // the server stopped reading: it will time the client out
      const size_t end = sent < split_at ? split_at : bytes.size();
      // Not send_message: the chunk's bytes go as they are (a short or lying header included),
      // and a full socket must come back here so pump() drains it (the loop runs on this
      // thread), not be waited out with poll.
      iovec iov{bytes.data() + sent, end - sent};
      const int64_t n = vfio_user::send_some(
          peers[0].fd.get(), std::span(&iov, 1),
          sent == 0 ? std::span<const int>(fd_numbers) : std::span<const int>());
      if (n == -EAGAIN || n == -EINTR) {
        pump(4);
        continue;
      }
      if (n < 0) return false;  // EPIPE/ECONNRESET: the server dropped the client
      sent += static_cast<size_t>(n);
      if (sent == split_at && split_at < bytes.size()) pump();
    }
    pump();
    return true;
  }
};

ServerHarness& ServerHarness::instance() {
  static auto* h = new ServerHarness();  // never destroyed: outlives every input
  return *h;
}

ServerHarness::ServerHarness() : trace_(std::getenv("UVFIO_FUZZ_TRACE") != nullptr) {
  vfio_user::ServerOptions o;
  o.io_timeout_ms = kServerIoTimeoutMs;
  o.dma_timeout_ms = kServerDmaTimeoutMs;
  auto server = vfio_user::Server::create(o);
  if (!server) invariant_failed("Server::create: " + std::string(std::strerror(server.error())));
  server_ = std::move(*server);
  // The device is built once; every session is a new client of it, as after a reconnect.
  std::string why;
  auto model = devices::make_emulated_device(
      "edu", {{"dma_delay_us", "0"}, {"factorial_delay_us", "0"}}, &why);
  if (!model) invariant_failed("make_emulated_device: " + why);
  auto ops = pci::make_vfio_pci_device(std::move(*model));
  if (!ops) invariant_failed("make_vfio_pci_device failed");
  UniqueFd client;
  auto id = server_->serve_connected_fd(std::move(*ops), connected_pair(client));
  if (!id) invariant_failed("serve_connected_fd: " + std::string(std::strerror(id.error())));
  id_ = *id;
  // A first client that leaves at once, so what the server keeps for the device's lifetime is
  // open before the first input counts fds.
  client.reset();
  wait_disconnected(-1);
}

UniqueFd ServerHarness::connected_pair(UniqueFd& client) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    invariant_failed(std::string("socketpair: ") + std::strerror(errno));
  }
  client.reset(sv[0]);
  return UniqueFd(sv[1]);
}

void ServerHarness::wait_disconnected(int fds_before) {
  const auto deadline = std::chrono::steady_clock::now() + kDisconnectDeadline;
  for (;;) {
    const int n = server_->run_once(1);
    if (n < 0) invariant_failed("run_once failed: " + std::string(std::strerror(-n)));
    if (!server_->client_connected(id_) && (fds_before < 0 || count_open_fds() == fds_before)) {
      return;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      if (server_->client_connected(id_)) invariant_failed("the server kept a closed client");
      invariant_failed("fds leaked by a session: " + std::to_string(fds_before) + " before, " +
                       std::to_string(count_open_fds()) + " after");
    }
  }
}

void ServerHarness::run(std::span<const uint8_t> input) {
  const std::vector<FuzzChunk> chunks = parse_fuzz_input(input);
  const int fds_before = count_open_fds();

  UniqueFd client;
  if (auto r = server_->attach_client(id_, connected_pair(client)); !r) {
    invariant_failed("the device refused a new client after the last one left: " +
                     std::string(std::strerror(r.error())));
  }
  ++totals_.sessions;

  {
    Session s(*this);
    s.peers.push_back(Session::Peer{std::move(client), MessageReader(), true});
    for (const FuzzChunk& c : chunks) {
      if (!s.send_chunk(c) || c.close_after()) break;
      if (c.settle_after()) s.settle(kSettleQuietSteps);
    }
    s.settle(1);
    // Session end: every client fd closes here.
  }

  // The server must see the hang-up, reset the device and let go of everything.
  wait_disconnected(fds_before);
}

}  // namespace uvfio::fuzz
