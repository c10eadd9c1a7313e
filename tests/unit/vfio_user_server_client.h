// A raw vfio-user test client for the server tests: builds messages byte by byte (so tests can
// make them wrong on purpose), sends them with message_io, and waits for replies while serving
// the server's DMA_READ/DMA_WRITE requests from its own buffer.
#pragma once

#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "uvfio/base/unique_fd.h"
#include "vfio_user/message_io.h"

namespace uvfio::test {

using vfio_user::Command;
using vfio_user::Header;
using vfio_user::Message;

/// Client memory the server reaches with DMA messages: [base, base + bytes.size()).
struct MessageMemory {
  uint64_t base = 0;
  std::vector<uint8_t> bytes;
  bool answer = true;  // false: never reply (a client that hangs)
  // QEMU 10.1-10.2's layout (reference §6.1): a 4-byte count, data at payload offset 12, a bare
  // header as the DMA_WRITE reply.
  bool qemu_layout = false;
  int reads = 0, writes = 0;
};

/// One connection to a server. Not thread-safe.
class RawClient {
 public:
  explicit RawClient(UniqueFd fd) : fd_(std::move(fd)) {}
  /// A socketpair: this client's end, and the server's end in `server_end`.
  static RawClient pair(UniqueFd* server_end) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    server_end->reset(sv[1]);
    return RawClient(UniqueFd(sv[0]));
  }

  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }
  MessageMemory* memory = nullptr;  // served when DMA requests arrive on the main socket

  /// Sends raw bytes (for truncated or corrupt frames).
  void send_raw(const void* data, size_t len) {
    ASSERT_EQ(::send(fd_.get(), data, len, MSG_NOSIGNAL), static_cast<ssize_t>(len));
  }
  /// Sends a command; returns its id.
  uint16_t send(Command cmd, const std::vector<uint8_t>& payload, std::vector<int> fds = {},
                uint32_t flags = 0) {
    Header h{};
    h.msg_id = ++next_id_;
    h.command = static_cast<uint16_t>(cmd);
    h.flags = flags;
    const std::span<const uint8_t> piece(payload);
    EXPECT_EQ(vfio_user::send_message(fd_.get(), h, std::span(&piece, payload.empty() ? 0 : 1), fds,
                                      2000),
              0);
    return h.msg_id;
  }
  /// The reply to `id`, serving DMA requests meanwhile. nullopt on timeout or EOF.
  std::optional<Message> wait_reply(
      uint16_t id, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      Message m;
      const auto st = reader_.read(fd_.get(), m, static_cast<int>(left.count()));
      if (st == vfio_user::MessageReader::Status::kAgain) continue;
      if (st != vfio_user::MessageReader::Status::kMessage) return std::nullopt;
      if (!m.is_reply()) {
        serve(fd_.get(), m);
        continue;
      }
      if (m.hdr.msg_id == id) return m;
      stray.push_back(std::move(m));
    }
  }
  /// Sends and waits; the errno of an error reply in *err (0 on success).
  std::optional<Message> request(Command cmd, const std::vector<uint8_t>& payload,
                                 std::vector<int> fds = {}, uint32_t flags = 0) {
    return wait_reply(send(cmd, payload, std::move(fds), flags));
  }
  /// The errno a request is answered with: 0 for success, -1 for no reply at all.
  int errno_of(Command cmd, const std::vector<uint8_t>& payload, std::vector<int> fds = {},
               uint32_t flags = 0) {
    auto r = request(cmd, payload, std::move(fds), flags);
    if (!r) return -1;
    return r->is_error() ? static_cast<int>(r->hdr.error_no) : 0;
  }

  /// VERSION 0.`minor` with `json` (no JSON if empty). The reply, whose fds hold the twin
  /// socket when one was negotiated.
  std::optional<Message> version(const std::string& json = "", uint16_t minor = 2) {
    std::vector<uint8_t> p(4, 0);
    std::memcpy(p.data() + 2, &minor, 2);
    if (!json.empty()) {
      p.insert(p.end(), json.begin(), json.end());
      p.push_back(0);
    }
    return request(Command::kVersion, p);
  }

  /// A `size`-byte register of `region` (nullopt if refused).
  std::optional<uint64_t> read_reg(uint32_t region, uint64_t off, uint32_t size = 4) {
    vfio_user::RegionAccess a{off, region, size};
    std::vector<uint8_t> p(sizeof a);
    std::memcpy(p.data(), &a, sizeof a);
    auto r = request(Command::kRegionRead, p);
    if (!r || r->is_error() || r->payload.size() != 16 + size) return std::nullopt;
    uint64_t v = 0;
    std::memcpy(&v, r->payload.data() + 16, size);
    return v;
  }
  /// Writes a register: the errno of the reply (0: done).
  int write_reg(uint32_t region, uint64_t off, uint64_t value, uint32_t size = 4) {
    vfio_user::RegionAccess a{off, region, size};
    std::vector<uint8_t> p(sizeof a + size);
    std::memcpy(p.data(), &a, sizeof a);
    std::memcpy(p.data() + sizeof a, &value, size);
    return errno_of(Command::kRegionWrite, p);
  }

  /// Serves one server->client DMA request `m` arriving on `fd` from `memory`.
  void serve(int fd, const Message& m) {
    Header h{};
    h.msg_id = m.hdr.msg_id;
    h.command = m.hdr.command;
    h.flags = vfio_user::kTypeReply;
    if (memory == nullptr || !memory->answer) return;
    uint64_t addr = 0, count = 0;
    std::memcpy(&addr, m.payload.data(), 8);
    std::memcpy(&count, m.payload.data() + 8, 8);
    if (memory->qemu_layout) count &= 0xffffffff;  // QEMU reads a 4-byte count
    const bool inside = addr >= memory->base && count <= memory->bytes.size() &&
                        addr - memory->base <= memory->bytes.size() - count;
    const size_t data_at = memory->qemu_layout ? 12 : 16;
    std::vector<uint8_t> out(m.payload.begin(), m.payload.begin() + 16);
    if (!inside) {
      h.flags |= vfio_user::kFlagError;
      h.error_no = EFAULT;
      out.clear();
    } else if (m.hdr.command == static_cast<uint16_t>(Command::kDmaRead)) {
      ++memory->reads;
      const uint8_t* src = memory->bytes.data() + (addr - memory->base);
      out.resize(data_at);
      out.insert(out.end(), src, src + count);
      if (memory->qemu_layout) out.resize(out.size() + 4, 0);  // its struct's padding
    } else {
      ++memory->writes;
      std::memcpy(memory->bytes.data() + (addr - memory->base), m.payload.data() + data_at, count);
      if (memory->qemu_layout) out.clear();
    }
    const std::span<const uint8_t> piece(out);
    (void)vfio_user::send_message(fd, h, std::span(&piece, out.empty() ? 0 : 1), {}, 2000);
  }

  std::vector<Message> stray;  // replies that did not match a waited-for id

 private:
  UniqueFd fd_;
  vfio_user::MessageReader reader_;
  uint16_t next_id_ = 0;
};

/// Bytes of a POD.
template <class T>
std::vector<uint8_t> bytes_of(const T& v) {
  std::vector<uint8_t> b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

/// A command's header with `msg_size` as given (a frame may lie about its size on purpose).
inline Header command_header(uint16_t id, Command cmd, uint32_t msg_size, uint32_t flags = 0) {
  Header h{};
  h.msg_id = id;
  h.command = static_cast<uint16_t>(cmd);
  h.msg_size = msg_size;
  h.flags = flags;
  return h;
}
/// A whole command message as bytes (several of them make a burst sent in one write).
inline std::vector<uint8_t> command_bytes(uint16_t id, Command cmd,
                                          const std::vector<uint8_t>& payload, uint32_t flags = 0) {
  auto b = bytes_of(
      command_header(id, cmd, static_cast<uint32_t>(sizeof(Header) + payload.size()), flags));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

inline std::vector<uint8_t> region_access(uint32_t region, uint64_t offset, uint32_t count,
                                          const std::vector<uint8_t>& data = {}) {
  vfio_user::RegionAccess a{offset, region, count};
  auto b = bytes_of(a);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

}  // namespace uvfio::test
