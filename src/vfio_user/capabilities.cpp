#include "vfio_user/capabilities.h"

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

namespace uvfio::vfio_user {
namespace {

using nlohmann::json;

Errno fail(std::string* why, std::string text) {
  if (why) *why = std::move(text);
  return Errno{EINVAL};
}

// Reads an unsigned integer key into `out`: true if absent or valid.
bool get_uint(const json& obj, const char* key, uint64_t max, uint64_t& out, std::string* why) {
  auto it = obj.find(key);
  if (it == obj.end()) return true;
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
    if (why) *why = std::string("capability '") + key + "' must be a non-negative integer";
    return false;
  }
  const uint64_t v = it->get<uint64_t>();
  if (v > max) {
    if (why)
      *why = std::string("capability '") + key + "' = " + std::to_string(v) + " exceeds " +
             std::to_string(max);
    return false;
  }
  out = v;
  return true;
}

}  // namespace

Result<Capabilities> parse_capabilities(std::string_view text, std::string* why) {
  Capabilities caps;
  if (text.empty()) return caps;
  const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail(why, "VERSION JSON does not parse");
  if (!doc.is_object()) return fail(why, "VERSION JSON is not an object");
  auto top = doc.find("capabilities");
  if (top == doc.end()) return caps;
  if (!top->is_object()) return fail(why, "'capabilities' is not an object");
  const json& c = *top;
  uint64_t v = caps.max_msg_fds;
  if (!get_uint(c, "max_msg_fds", kMaxMsgFdsLimit, v, why)) return Errno{EINVAL};
  caps.max_msg_fds = static_cast<uint32_t>(v);
  if (!get_uint(c, "max_data_xfer_size", kMaxDataXferLimit, caps.max_data_xfer_size, why)) {
    return Errno{EINVAL};
  }
  if (caps.max_data_xfer_size == 0) return fail(why, "capability 'max_data_xfer_size' is 0");
  v = caps.max_dma_maps;
  if (!get_uint(c, "max_dma_maps", UINT32_MAX, v, why)) return Errno{EINVAL};
  caps.max_dma_maps = static_cast<uint32_t>(v);
  if (!get_uint(c, "pgsizes", UINT64_MAX, caps.pgsizes, why)) return Errno{EINVAL};
  if ((caps.pgsizes & ~uint64_t{4095}) == 0) {
    return fail(why, "capability 'pgsizes' has no page size of 4 KiB or more");
  }
  if (auto it = c.find("write_multiple"); it != c.end()) {
    if (!it->is_boolean()) return fail(why, "capability 'write_multiple' must be a boolean");
    caps.write_multiple = it->get<bool>();
  }
  if (auto it = c.find("twin_socket"); it != c.end()) {
    if (!it->is_object()) return fail(why, "capability 'twin_socket' must be an object");
    if (auto s = it->find("supported"); s != it->end()) {
      if (!s->is_boolean()) return fail(why, "'twin_socket.supported' must be a boolean");
      caps.twin_socket = s->get<bool>();
    }
    if (it->contains("fd_index")) {
      uint64_t idx = 0;
      if (!get_uint(*it, "fd_index", kMaxMsgFdsLimit, idx, why)) return Errno{EINVAL};
      if (!caps.twin_socket) {
        return fail(why, "'twin_socket.fd_index' given without supported=true");
      }
      caps.twin_fd_index = static_cast<uint32_t>(idx);
    }
  }
  if (auto it = c.find("migration"); it != c.end()) {
    if (!it->is_object()) return fail(why, "capability 'migration' must be an object");
    uint64_t pg = 0;
    if (!get_uint(*it, "pgsize", UINT64_MAX, pg, why)) return Errno{EINVAL};
    if (it->contains("pgsize")) caps.migration_pgsize = pg;
  }
  return caps;
}

std::string to_json(const Capabilities& caps) {
  json c = {
      {"max_msg_fds", caps.max_msg_fds},       {"max_data_xfer_size", caps.max_data_xfer_size},
      {"max_dma_maps", caps.max_dma_maps},     {"pgsizes", caps.pgsizes},
      {"write_multiple", caps.write_multiple},
  };
  if (caps.twin_socket || caps.twin_fd_index) {
    json t = {{"supported", caps.twin_socket}};
    if (caps.twin_fd_index) t["fd_index"] = *caps.twin_fd_index;
    c["twin_socket"] = t;
  }
  if (caps.migration_pgsize) c["migration"] = {{"pgsize", *caps.migration_pgsize}};
  return json{{"capabilities", c}}.dump();
}

Result<VersionPayload> parse_version_payload(std::string_view payload, std::string* why) {
  if (payload.size() < sizeof(VersionHead)) return fail(why, "VERSION payload under 4 bytes");
  VersionPayload v;
  VersionHead h;
  std::memcpy(&h, payload.data(), sizeof(h));
  v.major = h.major;
  v.minor = h.minor;
  std::string_view text = payload.substr(sizeof(h));
  if (text.empty()) return v;
  if (text.back() != '\0') return fail(why, "VERSION JSON is not NUL-terminated");
  text.remove_suffix(1);
  if (text.find('\0') != std::string_view::npos) return fail(why, "VERSION JSON has a NUL inside");
  v.json = std::string(text);
  return v;
}

}  // namespace uvfio::vfio_user
