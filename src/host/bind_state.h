// BindState: what a function was bound to before `uvfio bind`, kept in a file until unbind.
#pragma once

#include <optional>
#include <string>

#include "uvfio/host/sysfs.h"

namespace uvfio::host {

/// Plain value, stored as "driver=NAME\noverride=VALUE\n" in kBindStateDir/<bdf>.
struct BindState {
  std::string driver;           // "" = it had none
  std::string driver_override;  // "" = none
};

/// nullopt when nothing is recorded (or the file is unreadable or malformed).
std::optional<BindState> load_bind_state(const Sysfs& fs, const std::string& bdf);
/// Throws HostError when the state cannot be written (the bind must not go ahead then).
void save_bind_state(const Sysfs& fs, const std::string& bdf, const BindState& state);
void erase_bind_state(const Sysfs& fs, const std::string& bdf);

}  // namespace uvfio::host
