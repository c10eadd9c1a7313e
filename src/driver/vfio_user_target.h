// The vfio-user: target of driver::open(): `vfio-user:PATH[,timeout_ms=N][,posted=auto|off]
// [,twin=on|off][,ioeventfd=on|off]` connects to the server's UNIX socket PATH.
#pragma once

#include <string>

#include "driver/vfio_user_connection.h"
#include "driver/vfio_user_transport.h"
#include "uvfio/base/unique_fd.h"
#include "uvfio/driver/device.h"
#include "uvfio/driver/target.h"

namespace uvfio::driver::detail {

/// Options of a vfio-user target, parsed.
struct VfioUserTargetOptions {
  VfioUserClientOptions client;
  VfioUserPosting posting = VfioUserPosting::kAuto;
  /// Doorbell writes signal the server's ioeventfds (GET_REGION_IO_FDS) instead of messages.
  bool ioeventfds = true;
};

/// Parses the options of a vfio-user: target. Throws driver::Error("open", EINVAL) naming an
/// unknown option or a bad value.
VfioUserTargetOptions parse_vfio_user_options(const Target& target);

/// `vfio-user:PATH[,...]`: connects, negotiates and opens the device.
Device open_vfio_user_target(const Target& target);

/// The same over a socket already connected to a server (tests: a socketpair); `target_text`
/// names the device in errors.
Device open_vfio_user_socket(UniqueFd socket, const std::string& target_text,
                             const VfioUserTargetOptions& options = {});

}  // namespace uvfio::driver::detail
