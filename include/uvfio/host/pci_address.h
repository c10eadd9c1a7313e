// PCI bus addresses ("BDF") as sysfs names them: DDDD:BB:DD.F, lowercase hex.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace uvfio::host {

/// "0000:00:03.0" from "0000:00:03.0", "00:03.0" (domain 0 implied) or upper-case hex; nullopt
/// when `text` is not a function address (bus 2 hex digits, device 0-1f, function 0-7, domain up
/// to 8 hex digits as on VMD hosts).
std::optional<std::string> normalize_bdf(std::string_view text);

}  // namespace uvfio::host
