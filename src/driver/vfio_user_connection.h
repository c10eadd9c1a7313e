// VfioUserConnection: the client end of one vfio-user socket. Connects, negotiates VERSION
// (every capability key sent; the server's limits then enforced by the callers through
// server()), and carries requests: several may be outstanding (pipelined, from one thread with
// start()/finish() or from many threads), each waiting only for its own reply, with a
// per-request timeout; the server's DMA_READ / DMA_WRITE for fd-less maps are answered from
// fdless_maps() — on the twin socket when negotiated (a thread of its own), else on the main
// socket.
//
// Reading the main socket is a role, not a thread: a caller waiting for a reply reads the
// socket itself when nobody else is (so a synchronous request costs one sendmsg and one
// recvmsg, no thread hop), hands every other reply to its waiter, and passes the role on when
// its own reply has come. Only when fd-less maps exist and there is no twin socket does a
// background thread take the role for good, so the server's DMA requests are answered even
// when no request is outstanding.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "driver/vfio_user_fdless_maps.h"
#include "driver/vfio_user_receiver.h"
#include "uvfio/base/thread.h"
#include "uvfio/base/unique_fd.h"
#include "uvfio/vfio_user/protocol.h"
#include "vfio_user/capabilities.h"

namespace uvfio::driver::detail {

struct VfioUserClientOptions {
  /// Longest wait for any one reply (QEMU's x-msg-timeout default); target option timeout_ms=.
  std::chrono::milliseconds timeout{5000};
  /// Ask for a twin socket (server -> client DMA requests on a socket of their own).
  bool twin_socket = true;
  /// Most fds this client accepts in one message (stated in VERSION).
  uint32_t max_msg_fds = 16;
  /// Largest DMA_READ / DMA_WRITE count this client accepts (stated in VERSION).
  uint64_t max_data_xfer_size = vfio_user::kDefaultMaxDataXfer;
};

/// Thread-safe; shared by the device and DMA transports (shared_ptr). Calls (below) are owned
/// by their callers.
class VfioUserConnection {
 public:
  /// One request in flight and, after finish(), its reply. Owned by the caller, which must not
  /// move it while it is started; destroying a started call abandons it (a late reply is then
  /// dropped). Not thread-safe: one caller per call.
  class Call {
   public:
    Call() = default;
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;
    ~Call();

    /// The reply's header, payload and fds (valid after a successful finish()).
    const vfio_user::Header& header() const { return hdr_; }
    const std::vector<uint8_t>& payload() const { return payload_; }
    std::vector<UniqueFd>& fds() { return fds_; }
    /// A copy of the POD at payload offset `off`, or false if the reply is too short.
    template <class T>
    bool get(T& out, size_t off = 0) const {
      if (off > payload_.size() || payload_.size() - off < sizeof(T)) return false;
      std::memcpy(&out, payload_.data() + off, sizeof(T));
      return true;
    }

   private:
    friend class VfioUserConnection;
    VfioUserConnection* conn_ = nullptr;  // set while started
    uint16_t id_ = 0;
    uint16_t cmd_ = 0;
    bool done_ = false;
    bool waiting_ = false;  // blocked in finish(): may be handed the reader role
    int err_ = 0;           // positive errno once done with an error
    const char* why_ = "";  // detail for err_ (static text)
    std::chrono::steady_clock::time_point deadline_;
    std::condition_variable cv_;
    vfio_user::Header hdr_{};
    std::vector<uint8_t> payload_;
    std::vector<UniqueFd> fds_;
  };

  /// Connects to the UNIX socket `path` and negotiates. `target` names the connection in
  /// errors. Throws driver::Error: "connect(PATH)" with the socket's errno, or "VERSION" when
  /// the server refuses or answers something this client cannot accept.
  static std::shared_ptr<VfioUserConnection> connect(const std::string& path,
                                                     const std::string& target,
                                                     const VfioUserClientOptions& options = {});
  /// The same over a socket already connected (a socketpair in tests, an inherited fd).
  static std::shared_ptr<VfioUserConnection> adopt(UniqueFd socket, const std::string& target,
                                                   const VfioUserClientOptions& options = {});

  VfioUserConnection(const VfioUserConnection&) = delete;
  VfioUserConnection& operator=(const VfioUserConnection&) = delete;
  ~VfioUserConnection();

  const std::string& target() const { return target_; }
  const VfioUserClientOptions& options() const { return options_; }
  /// What the server stated in its VERSION reply (its limits: enforce them).
  const vfio_user::Capabilities& server() const { return server_; }
  uint16_t version_major() const { return major_; }
  uint16_t version_minor() const { return minor_; }
  bool twin_socket() const { return twin_.valid(); }
  /// Largest REGION_READ / REGION_WRITE count: the server's limit and this client's.
  uint64_t max_xfer() const;

  /// Sends command `cmd` (payload `pieces`, fds `fds`) and registers `call` for its reply.
  /// Throws driver::Error naming the command: ECONNRESET when the connection is gone, or the
  /// send's errno (EPIPE, ETIMEDOUT when the server stopped reading).
  void start(Call& call, vfio_user::Command cmd, std::span<const std::span<const uint8_t>> pieces,
             std::span<const int> fds = {});
  /// Waits for `call`'s reply. Returns 0, or the server's errno (positive) for an error reply.
  /// Throws driver::Error naming the command for what is not the device's answer: ETIMEDOUT
  /// (no reply within the timeout), ECONNRESET (the server went away), EPROTO (a malformed
  /// stream).
  int finish(Call& call);
  /// start() and finish(), throwing the server's errno too (detail `detail`).
  void call(Call& call, vfio_user::Command cmd, std::span<const std::span<const uint8_t>> pieces,
            std::span<const int> fds = {}, const std::string& detail = {});
  /// Sends `cmd` with NO_REPLY (a posted write): ordered before every later request, its
  /// errors never reported. Throws like start().
  void post(vfio_user::Command cmd, std::span<const std::span<const uint8_t>> pieces);

  /// One message of a batch: a request whose reply `call` will wait for, or (call nullptr) a
  /// posted command (NO_REPLY).
  struct Outgoing {
    Call* call = nullptr;
    vfio_user::Command cmd{};
    std::span<const std::span<const uint8_t>> pieces;
    std::span<const int> fds;
  };
  /// start() / post() of several messages at once, in order: the calls are registered first,
  /// then the messages leave gathered in as few sendmsg calls as possible (one unless the batch
  /// is very long). A message with fds is sent by a sendmsg of its own, so a reader attributing
  /// fds to the last message that starts in its read (the kernel ends a read after the segment
  /// that carried fds) finds the right one. Throws like start(); on a throw no call of the batch
  /// is left started.
  void start_batch(std::span<const Outgoing> batch);

  /// Signals an ioeventfd the server handed out (GET_REGION_IO_FDS) in place of sending a
  /// write: after every message whose sending began before it has wholly left (the server
  /// handles what is already in the socket before it performs a doorbell, so the doorbell stays
  /// in order with earlier writes). Throws driver::Error naming `what` when the connection is
  /// gone or the eventfd cannot be written.
  void ring(int eventfd, const char* what);

  /// The fd-less DMA maps this client serves. Call serve_fdless_dma() after adding the first.
  VfioUserFdlessMaps& fdless_maps() { return fdless_; }
  /// Makes sure the server's DMA requests are answered when no request is outstanding: a no-op
  /// with a twin socket, else starts the background reader once.
  void serve_fdless_dma();

  /// Closes the connection: every waiter fails with ECONNRESET, later calls too.
  void close() noexcept;
  bool closed() const;

  /// Throws driver::Error(`op`, target, err, detail).
  [[noreturn]] void fail(const std::string& op, int err, const std::string& detail = {}) const;

 private:
  VfioUserConnection(UniqueFd socket, std::string target, const VfioUserClientOptions& options);
  void negotiate();
  void set_receive_tick(int fd) const;
  /// Reads the main socket as the reader role until `mine` is done (nullptr: until closed or
  /// stopped). 0, or -errno when the connection broke.
  int read_main(Call* mine, const std::stop_token* stop);
  /// Handles one received message from `fd`'s stream. 1: it completed `mine`; 0: handled;
  /// -errno: the stream cannot be trusted (the connection must close).
  int dispatch(int fd, const VfioUserReceiver::View& v, Call* mine);
  void serve_request(int fd, std::mutex* send_mu, const VfioUserReceiver::View& v);
  void twin_loop(const std::stop_token& st);
  void background_loop(const std::stop_token& st);
  void break_locked(int err, const char* why);
  void handoff_locked();
  void unregister_locked(Call& call);
  int send_locked_io(int fd, const vfio_user::Header& hdr,
                     std::span<const std::span<const uint8_t>> pieces,
                     std::span<const int> fds) const;
  [[noreturn]] void fail_send(int rc, uint16_t command, const char* what);
  [[noreturn]] void throw_call(const Call& call, int err, const std::string& detail) const;

  std::string target_;
  VfioUserClientOptions options_;
  UniqueFd sock_;
  UniqueFd twin_;
  vfio_user::Capabilities server_;
  uint16_t major_ = 0;
  uint16_t minor_ = 0;

  std::mutex send_mu_;       // one sendmsg at a time on the main socket
  mutable std::mutex mu_;    // below
  bool reading_ = false;     // someone holds the main socket's reader role
  bool background_ = false;  // the background reader exists (it then keeps the role)
  bool closed_ = false;
  int closed_err_ = 0;
  const char* closed_why_ = "";
  uint16_t next_id_ = 0;
  std::vector<Call*> pending_;
  std::condition_variable role_cv_;  // the background reader waits here for the role

  // The memory model's view of fd-less DMA (the real ordering goes through the server): a
  // request sent after the driver wrote memory is released here and acquired before a DMA_READ
  // is served; a served DMA_WRITE is released and acquired when any later reply is taken, so
  // "wrote the buffer, rang the doorbell" and "saw completion, read the buffer" hold in C++ too
  // (and to ThreadSanitizer, which cannot see through sockets).
  std::atomic<uint64_t> sent_{0};
  std::atomic<uint64_t> dma_written_{0};

  VfioUserReceiver main_rx_;        // used by the reader role's holder only
  std::vector<uint8_t> dma_reply_;  // reader role's scratch for DMA replies
  VfioUserFdlessMaps fdless_;
  Thread twin_thread_;
  Thread background_thread_;
};

}  // namespace uvfio::driver::detail
