// VERSION capabilities: the JSON object each side states in VERSION, parsed strictly and written
// with every key present (reference §3: peers disagree on defaults, so never omit one).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "uvfio/base/result.h"
#include "uvfio/vfio_user/protocol.h"

namespace uvfio::vfio_user {

/// What the sender of a VERSION JSON can receive and supports. Defaults are the spec's values
/// for an absent key.
struct Capabilities {
  uint32_t max_msg_fds = kDefaultMaxMsgFds;
  uint64_t max_data_xfer_size = kDefaultMaxDataXfer;
  uint32_t max_dma_maps = kDefaultMaxDmaMaps;
  uint64_t pgsizes = kDefaultPgsizes;
  bool twin_socket = false;
  std::optional<uint32_t> twin_fd_index;  // replies only: where the twin socket's fd is
  bool write_multiple = false;
  std::optional<uint64_t> migration_pgsize;  // legacy key QEMU and libvfio-user still send
};

/// Limits a parsed capability set must respect, so a peer cannot make us allocate absurd buffers.
inline constexpr uint32_t kMaxMsgFdsLimit = 1024;           // libvfio-user's bound
inline constexpr uint64_t kMaxDataXferLimit = 64ull << 20;  // QEMU's bound

/// Parses `text` (the VERSION payload after major/minor, without its NUL; may be empty: all
/// defaults). EINVAL, with `*why` set, for malformed JSON, a non-object, wrong value types
/// (integers must be JSON integers, flags booleans), values out of range (max_msg_fds >
/// kMaxMsgFdsLimit, max_data_xfer_size of 0 or > kMaxDataXferLimit, pgsizes without a bit at or
/// above 4 KiB, a twin_socket fd_index without supported=true). Unknown keys are ignored.
Result<Capabilities> parse_capabilities(std::string_view text, std::string* why = nullptr);

/// `{"capabilities":{...}}` with every key of `caps` (twin_socket and migration only when set).
std::string to_json(const Capabilities& caps);

/// Splits a VERSION payload into version and JSON text: EINVAL if shorter than 4 bytes, or if
/// JSON text is present but not NUL-terminated or has a NUL inside.
struct VersionPayload {
  uint16_t major = 0;
  uint16_t minor = 0;
  std::string json;
};
Result<VersionPayload> parse_version_payload(std::string_view payload, std::string* why = nullptr);

}  // namespace uvfio::vfio_user
