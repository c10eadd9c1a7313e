// VfioUserReceiver: the client's reassembler of vfio-user messages from one stream socket. Unlike
// vfio_user::MessageReader (built for the server's event loop) it reads with one blocking
// recvmsg and hands out views into its own buffer, so a reply costs one system call and no
// allocation once the buffers have grown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "uvfio/base/unique_fd.h"
#include "uvfio/vfio_user/protocol.h"

namespace uvfio::driver::detail {

/// One socket's receive side. Not thread-safe: whoever holds the connection's reader role uses
/// it, one thread at a time.
class VfioUserReceiver {
 public:
  /// A whole message, valid until the next call of next() or fill().
  struct View {
    vfio_user::Header hdr{};
    std::span<const uint8_t> payload;
    /// The fds that came with this message (moved out by the consumer, closed otherwise).
    std::vector<UniqueFd>* fds = nullptr;
    /// More fds arrived than the receiver accepts (the kernel dropped the rest).
    bool fds_truncated = false;
  };

  /// `max_message_size`: largest msg_size accepted; `max_fds`: most fds one message may carry.
  VfioUserReceiver(uint32_t max_message_size, size_t max_fds);

  /// The next whole buffered message. 1: `out` is set; 0: nothing whole is buffered yet;
  /// -EPROTO: the buffered header's msg_size is below 16 or above the maximum (the stream
  /// cannot be trusted any more; framing is lost).
  int next(View& out);
  /// Reads once from `fd` (blocking, bounded by the socket's SO_RCVTIMEO). 1: bytes arrived;
  /// 0: the peer closed the stream; -EAGAIN: nothing within the receive timeout; -errno.
  int fill(int fd);
  /// The header of the message next() refused with -EPROTO.
  const vfio_user::Header& bad_header() const { return bad_; }

 private:
  void compact(size_t need);

  uint32_t max_size_;
  std::vector<uint8_t> buf_;
  size_t head_ = 0;        // first unconsumed byte
  size_t tail_ = 0;        // end of received bytes
  uint64_t consumed_ = 0;  // stream position of buf_[head_]
  std::vector<char> control_;
  // Fds waiting for their message: the stream position where that message starts.
  struct PendingFd {
    uint64_t pos;
    UniqueFd fd;
    bool truncated;
  };
  std::vector<PendingFd> pending_;
  std::vector<UniqueFd> out_fds_;
  vfio_user::Header bad_{};
};

}  // namespace uvfio::driver::detail
