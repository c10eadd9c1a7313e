// Message I/O on a vfio-user stream socket: whole messages out (header, payload and fds in one
// sendmsg, so libvfio-user's single-recv reader sees them together) and messages reassembled from
// a stream in (buffered, non-blocking friendly, fds attributed to the message they came with).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "vfio_user/message.h"

namespace uvfio::vfio_user {

/// Sends `m` on the stream socket `fd` with msg_size filled in: one sendmsg carrying the fds
/// (SCM_RIGHTS on the first byte), then the rest of a partial send without them. A full socket
/// buffer is waited out with poll for up to `timeout_ms` (-1: forever). Returns 0, or -errno:
/// EPIPE/ECONNRESET when the peer is gone, ETIMEDOUT when it stopped reading, EMSGSIZE if the
/// message exceeds 4 GiB, EINVAL for more than 253 fds (SCM_MAX_FD).
int send_message(int fd, Message& m, int timeout_ms = -1);
/// The same for a header and payload pieces the caller holds (no copy of the data).
int send_message(int fd, Header hdr, std::span<const std::span<const uint8_t>> pieces,
                 std::span<const int> fds, int timeout_ms = -1);

/// The iovecs of one message for sendmsg: its header, with msg_size filled in, then each
/// non-empty payload piece. Up to 7 pieces live inline (no allocation on the request path).
/// Points into itself and at `hdr` and the pieces, which must outlive it: not copyable.
class MessageIovecs {
 public:
  MessageIovecs(Header& hdr, std::span<const std::span<const uint8_t>> pieces);
  MessageIovecs(const MessageIovecs&) = delete;
  MessageIovecs& operator=(const MessageIovecs&) = delete;
  ~MessageIovecs() = default;
  /// false when the message would exceed 4 GiB (nothing else is set up then).
  bool ok() const { return total_ <= UINT32_MAX; }
  uint64_t total() const { return total_; }
  std::span<iovec> iov() { return {data_, count_}; }

 private:
  iovec small_[8];
  std::vector<iovec> large_;
  iovec* data_ = small_;
  size_t count_ = 0;
  uint64_t total_ = sizeof(Header);
};

/// Sends as much of `iov` as the non-blocking stream socket `fd` takes now (`fds` with the first
/// byte). Returns the bytes sent, with `iov` advanced past them (a fully sent entry is left with
/// length 0); -EAGAIN when the socket took nothing, or -errno (EINVAL beyond 253 fds).
int64_t send_some(int fd, std::span<iovec> iov, std::span<const int> fds);

/// Sends all of `iov` (advanced in place), `fds` with the first byte, waiting out a full socket
/// buffer with poll for up to `timeout_ms` at a time (-1: forever). 0, -ETIMEDOUT or -errno.
int send_all(int fd, std::span<iovec> iov, std::span<const int> fds, int timeout_ms = -1);

/// Sends bytes that already hold whole messages (gathered replies), without fds; waits out a
/// full socket buffer as send_message does. 0 or -errno.
int send_bytes(int fd, std::span<const uint8_t> bytes, int timeout_ms = -1);

/// Reassembles messages from one stream socket. Reads up to 64 KiB at a time, so one recvmsg
/// usually brings a whole small message (a round trip costs no more syscalls than a raw
/// ping-pong). Not thread-safe: one reader per socket, used by one thread at a time.
class MessageReader {
 public:
  enum class Status {
    kMessage,  // `out` holds a whole message
    kAgain,    // no whole message yet (non-blocking socket drained, or timeout)
    kClosed,   // the peer closed the stream at a message boundary
    kError,    // error(): see below; the connection cannot be trusted further unless resync()
  };
  /// `max_size`: largest msg_size accepted; `max_fds`: most fds one message may carry.
  explicit MessageReader(uint32_t max_size = kMaxMessageSize, size_t max_fds = 16);

  /// Returns the next whole message, reading from `fd` as needed. With `timeout_ms` >= 0 it
  /// waits at most that long for data (poll) and returns kAgain when nothing complete arrived;
  /// with -1 it blocks; with 0 it never waits (for non-blocking event loops).
  /// kError with error() = -EPROTO: the stream ended inside a message; -EMSGSIZE: msg_size is
  /// below 16 or above max_size (header() holds the offending header, so a reply can name it);
  /// or -errno of recvmsg/poll.
  Status read(int fd, Message& out, int timeout_ms = 0);
  int error() const { return error_; }
  const Header& header() const { return bad_header_; }
  /// Bytes of an incomplete message are buffered (a peer that stops mid-message).
  bool partial() const { return begin_ != end_; }
  /// The header of that incomplete message, once all of its 16 bytes are buffered.
  std::optional<Header> partial_header() const;
  /// After a framing error or a stalled partial message: drops what is buffered and whatever
  /// the socket holds right now, so the next message a well-behaved peer sends is read cleanly.
  void resync(int fd);

 private:
  Status take(Message& out);
  int fill(int fd, int timeout_ms);

  uint32_t max_size_;
  size_t max_fds_;
  // Storage reused from read to read (no allocation or zero-fill per message): the unconsumed
  // bytes are [begin_, end_), starting at a message boundary.
  std::vector<uint8_t> buf_;
  size_t begin_ = 0;
  size_t end_ = 0;
  std::vector<char> control_;  // recvmsg's ancillary buffer, sized for max_fds
  // fds received, each with the position (unconsumed bytes before it) of the message they
  // belong to: the last one starting in the read that brought them (see fill()).
  struct PendingFd {
    size_t pos;
    UniqueFd fd;
    bool truncated;
  };
  std::vector<PendingFd> fds_;
  int error_ = 0;
  Header bad_header_{};
};

}  // namespace uvfio::vfio_user
