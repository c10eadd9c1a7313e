// Message: one vfio-user message as it travels — header, payload and the fds that came with it.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "uvfio/base/unique_fd.h"
#include "uvfio/vfio_user/protocol.h"

namespace uvfio::vfio_user {

/// A received or to-be-sent message. Owns its fds. Not thread-safe.
struct Message {
  Header hdr{};
  std::vector<uint8_t> payload;  // msg_size - 16 bytes
  std::vector<UniqueFd> fds;
  /// More fds arrived than the reader accepts: the kernel closed the rest (MSG_CTRUNC). The
  /// message must be refused (EINVAL), never half-used.
  bool fds_truncated = false;

  uint32_t type() const { return hdr.flags & kTypeMask; }
  bool is_reply() const { return type() == kTypeReply; }
  bool no_reply() const { return (hdr.flags & kFlagNoReply) != 0; }
  bool is_error() const { return (hdr.flags & kFlagError) != 0; }

  /// A copy of the POD at payload offset `off`, or nullopt if the payload is too short.
  template <class T>
  std::optional<T> get(size_t off = 0) const {
    if (off > payload.size() || payload.size() - off < sizeof(T)) return std::nullopt;
    T v;
    std::memcpy(&v, payload.data() + off, sizeof(T));
    return v;
  }
  /// Appends the bytes of a POD to the payload.
  template <class T>
  void put(const T& v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    payload.insert(payload.end(), p, p + sizeof(T));
  }
  void put_bytes(std::span<const uint8_t> bytes) {
    payload.insert(payload.end(), bytes.begin(), bytes.end());
  }
};

/// A command with id `msg_id` (payload and fds added by the caller; msg_size is set on send).
Message make_command(uint16_t msg_id, Command cmd, uint32_t extra_flags = 0);
/// A successful reply to `request` (same id and command).
Message make_reply(const Header& request);
/// An error reply to `request`: header only, kFlagError, error_no = `err` (positive errno).
Message make_error_reply(const Header& request, int err);

}  // namespace uvfio::vfio_user
