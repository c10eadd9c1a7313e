// Connection: one client's sockets as the server uses them. The main socket carries the client's
// commands in and the replies out; without a twin socket it also carries the server's own
// DMA_READ/DMA_WRITE requests out and their replies in, so its input is demultiplexed here. The
// optional twin socket carries only the server's DMA requests and their replies.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "uvfio/base/eventfd.h"
#include "uvfio/base/result.h"
#include "uvfio/base/unique_fd.h"
#include "vfio_user/message_io.h"
#include "vfio_user/output_queue.h"
#include "vfio_user/server_counters.h"

namespace uvfio::vfio_user {

/// Shared by a session (on the event loop thread) and by device threads doing DMA through
/// messages (ClientMemory); thread-safe. Reading the main socket is guarded by a token: the loop
/// reads while it is free, and a device thread waiting for a DMA reply takes it when the loop is
/// busy elsewhere (for instance inside a command handler that waits for that very device), so a
/// reply is never stuck behind the loop. Commands a device thread reads are queued for the loop,
/// in order, and the wake eventfd tells the loop to come and get them.
class Connection {
 public:
  struct Limits {
    int io_timeout_ms = 5000;   // a send that cannot progress for this long fails
    int dma_timeout_ms = 5000;  // a DMA request without a reply for this long fails
    uint32_t max_msg_size = kMaxMessageSize;
    uint32_t max_msg_fds = 8;  // fds accepted in one message
  };
  /// Adopts the connected stream socket `sock` (made non-blocking). Errno of eventfd/fcntl.
  static Result<std::shared_ptr<Connection>> create(UniqueFd sock, const Limits& limits,
                                                    std::shared_ptr<ServerCounters> counters);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return sock_.get(); }
  /// Readable when a device thread queued commands or saw the stream end: call next() again.
  int wake_fd() const { return wake_.fd(); }
  /// Consumes the wake eventfd's count.
  void clear_wake() const { (void)wake_.consume(); }

  enum class Next {
    kMessage,  // `out` holds a command (or a reply-type message no DMA request claimed)
    kNone,     // nothing whole yet
    kClosed,   // the peer closed the stream at a message boundary
    kError,    // framing error or stream error: error(), bad_header(); resync() to go on
  };
  /// Event loop only: the next message for the session, queued ones first.
  Next next(Message& out);
  int error() const { return error_; }
  const Header& bad_header() const { return bad_header_; }
  /// Bytes of an incomplete message are buffered.
  bool partial();
  /// Input is buffered here or queued by a device thread, so next() may return a message
  /// without the socket becoming readable again (true while a device thread holds the token).
  bool has_buffered();
  /// The header of the incomplete message buffered now, once all 16 bytes of it arrived.
  std::optional<Header> partial_header();
  /// Drops buffered input and whatever the socket holds now (after a framing error or a message
  /// that stalled half-way).
  void resync();

  /// Sends one whole message, or queues what the socket does not take now (and everything
  /// queued before it goes first); thread-safe, never waits for the client. For a device
  /// thread's DMA request: it also sends the replies the loop is gathering, so a handler that
  /// waits for that thread cannot hold its request back. 0 or -errno; a failure leaves the
  /// stream unusable and marks the connection broken. A message left queued wakes the loop
  /// (wake_fd()) so it watches the socket for room.
  int send(const Header& hdr, std::span<const std::span<const uint8_t>> pieces,
           std::span<const int> fds = {});
  /// A reply: while corked it is gathered, else sent as send() does. 0 or -errno as send().
  int send_reply(const Header& hdr, std::span<const std::span<const uint8_t>> pieces,
                 std::span<const int> fds = {});
  /// A header-only error reply to `request` (never for NO_REPLY commands: the caller checks).
  int send_error(const Header& request, int err);
  /// Event loop: between cork() and uncork() replies are gathered and go out together at
  /// uncork(), so a burst of pipelined requests costs one syscall for all its replies.
  void cork();
  int uncork();
  /// Event loop, when the socket has room: writes what is queued. 0 or -errno (broken).
  int flush();
  /// Unsent bytes queued (the loop stops reading a client's commands while this is high).
  size_t output_backlog() const;
  /// When the queued output counts as stuck: io_timeout_ms after the socket last took a byte
  /// of it; nullopt while nothing is queued.
  std::optional<std::chrono::steady_clock::time_point> output_deadline();

  /// The client's limits from VERSION: DMA requests are split into chunks of at most
  /// `max_data_xfer_size` bytes.
  void set_peer_max_data_xfer(uint64_t max_data_xfer_size);
  /// From VERSION on, DMA requests travel on `twin` (the server's end of the socketpair).
  void set_twin(UniqueFd twin);

  /// Reads client memory at `addr` with DMA_READ messages. 0 or -errno (-EIO once the
  /// connection is over, -ETIMEDOUT, -EINVAL for a malformed reply, or the client's errno).
  int dma_read(uint64_t addr, void* dst, size_t len);
  /// Writes client memory with DMA_WRITE messages. As dma_read.
  int dma_write(uint64_t addr, const void* src, size_t len);

  /// The session is over: waiting and later DMA requests fail with -EIO, sends fail, both
  /// sockets are shut down (the peer sees EOF; fds close when the last holder lets go).
  void shutdown();
  bool dead() const { return dead_.load(std::memory_order_acquire); }
  /// A send or a DMA round trip failed in a way that leaves the stream unusable: the loop ends
  /// the session (it is woken through wake_fd()).
  bool broken() const { return broken_.load(std::memory_order_acquire); }

 private:
  struct Waiter {
    uint16_t id;
    uint16_t command;
    bool done = false;
    Message reply;
  };
  // How the client lays out DMA_READ/DMA_WRITE: learned from its replies (QEMU 10.x puts the
  // data at payload offset 12 and answers DMA_WRITE with a bare header; reference §6.1).
  enum class Layout : uint8_t { kUnknown, kSpec, kQemu };

  Connection(UniqueFd sock, const Limits& limits, std::shared_ptr<ServerCounters> counters,
             EventFd wake);
  int dma(bool write, uint64_t addr, std::byte* buf, size_t len);
  int dma_chunk(bool write, uint64_t addr, std::byte* buf, size_t len);
  /// Waits for the reply to `w` on the main socket (pumping it when the loop is busy).
  int wait_main(Waiter& w);
  /// Sends on the twin socket and reads the reply there. Twin mutex held.
  int round_trip_twin(const Header& hdr, std::span<const std::span<const uint8_t>> pieces,
                      Message& reply);
  /// Hands a reply-type message to the DMA request waiting for it; false if none is.
  bool deliver(Message& m);
  /// A device thread reads what the main socket holds, if the token is free.
  void pump();
  int check_reply(bool write, uint64_t addr, std::byte* buf, size_t len, const Message& reply);
  void mark_broken();

  UniqueFd sock_;
  const Limits limits_;
  std::shared_ptr<ServerCounters> counters_;
  EventFd wake_;

  std::mutex send_mu_;              // the output queue and the main socket's sending side
  bool corked_ = false;             // send_mu_: replies are being gathered
  OutputQueue out_;                 // send_mu_
  std::atomic<size_t> backlog_{0};  // out_.bytes() as of the last send or flush (lock-free read)
  uint64_t out_seen_ = 0;           // send_mu_: out_.sent_total() when progress was last noted
  std::optional<std::chrono::steady_clock::time_point> out_since_;  // send_mu_: stuck since
  /// After a send or flush (send_mu_ held): notes progress, logs and marks a failure.
  int after_output_locked(int rc, uint16_t command);

  std::mutex token_;  // whoever holds it reads the main socket
  MessageReader reader_;
  int error_ = 0;  // of the last kError (loop thread)
  Header bad_header_{};

  std::mutex inbox_mu_;
  std::deque<Message> inbox_;  // commands read by device threads, for the loop

  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  std::vector<Waiter*> waiters_;

  std::mutex twin_mu_;  // one DMA round trip at a time on the twin socket
  UniqueFd twin_;
  MessageReader twin_reader_;
  std::atomic<bool> has_twin_{false};
  std::atomic<int> twin_raw_{-1};  // for shutdown() while a round trip holds twin_mu_

  std::atomic<uint64_t> peer_max_xfer_{kDefaultMaxDataXfer};
  std::atomic<uint16_t> next_id_{1};
  std::atomic<Layout> layout_{Layout::kUnknown};
  std::atomic<bool> dead_{false};
  std::atomic<bool> broken_{false};
};

}  // namespace uvfio::vfio_user
