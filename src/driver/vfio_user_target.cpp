#include "driver/vfio_user_target.h"

#include <cerrno>
#include <charconv>

#include "driver/device_core.h"

namespace uvfio::driver::detail {
namespace {

constexpr const char* kOptionsHelp = "timeout_ms=N, posted=auto|off, twin=on|off, ioeventfd=on|off";

[[noreturn]] void bad_option(const Target& t, const std::string& why) {
  throw Error("open", t.text, EINVAL, why + " (vfio-user options: " + kOptionsHelp + ")");
}

}  // namespace

VfioUserTargetOptions parse_vfio_user_options(const Target& t) {
  VfioUserTargetOptions o;
  for (const auto& [key, value] : t.options) {
    if (key == "timeout_ms") {
      uint64_t ms = 0;
      const auto* end = value.data() + value.size();
      const auto [p, ec] = std::from_chars(value.data(), end, ms);
      if (ec != std::errc() || p != end || ms == 0 || ms > 3600000) {
        bad_option(t, "timeout_ms='" + value + "' is not a number of milliseconds in 1..3600000");
      }
      o.client.timeout = std::chrono::milliseconds(ms);
    } else if (key == "posted") {
      if (value == "auto") {
        o.posting = VfioUserPosting::kAuto;
      } else if (value == "off") {
        o.posting = VfioUserPosting::kOff;
      } else {
        bad_option(t, "posted='" + value + "' is neither auto nor off");
      }
    } else if (key == "twin") {
      if (value != "on" && value != "off")
        bad_option(t, "twin='" + value + "' is neither on nor off");
      o.client.twin_socket = value == "on";
    } else if (key == "ioeventfd") {
      if (value != "on" && value != "off") {
        bad_option(t, "ioeventfd='" + value + "' is neither on nor off");
      }
      o.ioeventfds = value == "on";
    } else {
      bad_option(t, "unknown option '" + key + "'");
    }
  }
  return o;
}

namespace {

Device open_on(std::shared_ptr<VfioUserConnection> conn, const std::string& target_text,
               const std::string& name, const VfioUserTargetOptions& o) {
  auto transport =
      std::make_unique<VfioUserDeviceTransport>(std::move(conn), name, o.posting, o.ioeventfds);
  return DeviceAccess::make(std::make_shared<DeviceCore>(target_text, std::move(transport)));
}

}  // namespace

Device open_vfio_user_target(const Target& target) {
  const VfioUserTargetOptions o = parse_vfio_user_options(target);
  auto conn = VfioUserConnection::connect(target.name, target.text, o.client);
  return open_on(std::move(conn), target.text, target.name, o);
}

Device open_vfio_user_socket(UniqueFd socket, const std::string& target_text,
                             const VfioUserTargetOptions& options) {
  auto conn = VfioUserConnection::adopt(std::move(socket), target_text, options.client);
  return open_on(std::move(conn), target_text, target_text, options);
}

}  // namespace uvfio::driver::detail
