// RawClient: a bare vfio-user client for the interop tests — a connected socket, message I/O
// (src/vfio_user/message_io) and nothing else, so tests can send exactly the bytes they want
// (malformed ones included) to a server process and read exactly what comes back.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "uvfio/base/result.h"
#include "uvfio/base/unique_fd.h"
#include "vfio_user/message.h"
#include "vfio_user/message_io.h"

namespace uvfio::interop {

using namespace std::chrono_literals;

/// One connection. Owns its socket. Not thread-safe (one test thread).
class RawClient {
 public:
  /// Connects to the UNIX socket at `path`: the errno of socket/connect on failure.
  static Result<RawClient> connect(const std::string& path);

  RawClient(RawClient&&) noexcept = default;
  RawClient& operator=(RawClient&&) noexcept = default;
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  ~RawClient() = default;

  int fd() const { return fd_.get(); }
  /// A fresh message id (1, 2, ...).
  uint16_t next_id() { return ++id_; }

  /// Sends `m` as is except msg_size (computed) — 0 or -errno.
  int send(vfio_user::Message& m);
  /// Sends raw bytes with `fds` attached to the first byte: 0 or -errno.
  int send_bytes(std::span<const uint8_t> bytes, std::span<const int> fds = {});

  /// The next message from the server within `timeout`; nullopt on timeout, on EOF or on a
  /// stream error (then eof() / error() tell which).
  std::optional<vfio_user::Message> receive(std::chrono::milliseconds timeout = 5s);
  /// Sends command `m` (its id set to next_id()) and returns the reply with the same id,
  /// answering DMA_READ/DMA_WRITE requests that come first from `dma_memory` (see below). EPIPE
  /// if the server closed, ETIMEDOUT if no reply came within `timeout`, EPROTO on a stream
  /// error.
  Result<vfio_user::Message> request(vfio_user::Message m, std::chrono::milliseconds timeout = 5s);

  /// VERSION with `json` (empty: none): the reply (an error reply is a reply too).
  Result<vfio_user::Message> version(
      const std::string& json = R"({"capabilities":{"max_msg_fds":8}})");

  /// Waits until the server closes the connection (true) or `timeout` passes (false). Messages
  /// that arrive meanwhile are discarded.
  bool wait_closed(std::chrono::milliseconds timeout = 5s);
  bool eof() const { return eof_; }
  int error() const { return error_; }

  /// Memory served to the server's fd-less DMA: DMA_READ/WRITE at [base, base+size) are
  /// answered from/into it; anything else gets an EFAULT error reply.
  void serve_dma(uint64_t base, std::span<uint8_t> memory) {
    dma_base_ = base;
    dma_memory_ = memory;
  }
  /// DMA requests answered so far.
  uint64_t dma_requests() const { return dma_requests_; }

  void close() { fd_.reset(); }

 private:
  explicit RawClient(UniqueFd fd) : fd_(std::move(fd)) {}
  void answer_dma(vfio_user::Message& m);

  UniqueFd fd_;
  vfio_user::MessageReader reader_;
  uint16_t id_ = 0;
  bool eof_ = false;
  int error_ = 0;
  uint64_t dma_base_ = 0;
  std::span<uint8_t> dma_memory_;
  uint64_t dma_requests_ = 0;
};

/// The errno of a reply: 0 for success, error_no for an error reply.
inline int reply_errno(const vfio_user::Message& m) {
  return m.is_error() ? static_cast<int>(m.hdr.error_no) : 0;
}

}  // namespace uvfio::interop
