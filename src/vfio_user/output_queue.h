// OutputQueue: the messages a server connection has produced but its socket has not taken yet.
// The event loop never waits for a client to read: what does not fit in the socket buffer waits
// here, and the loop writes it out when the socket turns writable (EPOLLOUT).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "uvfio/base/unique_fd.h"
#include "vfio_user/message.h"

namespace uvfio::vfio_user {

/// Not thread-safe: its owner (Connection) serializes every call.
class OutputQueue {
 public:
  /// Sends one whole message on the non-blocking stream socket `fd`, or queues what the socket
  /// does not take now. With `hold` the message is only queued (replies gathered for one send).
  /// Order is kept: nothing is sent directly while older messages wait. The fds travel with the
  /// message's first byte; queued ones are duplicated (the caller keeps its own).
  /// 0 when sent or queued; -EMSGSIZE beyond 4 GiB, -EINVAL beyond 253 fds, -errno of a dup
  /// or of the socket (EPIPE, ECONNRESET: the stream is unusable).
  int send(int fd, const Header& hdr, std::span<const std::span<const uint8_t>> pieces,
           std::span<const int> fds, bool hold);
  /// Writes queued messages until the queue is empty or the socket is full. 0 or -errno.
  int flush(int fd);

  bool empty() const { return queue_.empty(); }
  /// Unsent bytes queued.
  size_t bytes() const { return bytes_; }
  /// Bytes the socket took from this queue so far (progress, for stall detection).
  uint64_t sent_total() const { return sent_total_; }
  /// Drops everything queued (the connection is over).
  void clear();

 private:
  // A run of whole fd-less messages, or one message with its fds; one sendmsg each.
  struct Entry {
    std::vector<uint8_t> bytes;
    std::vector<UniqueFd> fds;
    size_t sent = 0;
  };
  /// Appends `hdr` and `pieces` from byte `skip` on (the part a direct send did not take).
  int push(const Header& hdr, std::span<const std::span<const uint8_t>> pieces,
           std::span<const int> fds, size_t skip);

  std::deque<Entry> queue_;
  size_t bytes_ = 0;
  uint64_t sent_total_ = 0;
};

}  // namespace uvfio::vfio_user
