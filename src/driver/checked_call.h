// checked(): turns a system-call style result (>= 0 or -errno) into a value or a driver::Error.
#pragma once

#include <cerrno>
#include <string>

#include "uvfio/driver/error.h"

namespace uvfio::driver::detail {

/// Returns `rc` when >= 0; otherwise throws Error(op, target, -rc, detail).
inline long checked(long rc, const std::string& op, const std::string& target,
                    const std::string& detail = {}) {
  if (rc < 0) {
    // A value below -4095 is not an errno; report it as EIO rather than a nonsense name.
    const int err = rc >= -4095 ? static_cast<int>(-rc) : EIO;
    throw Error(op, target, err, detail);
  }
  return rc;
}

}  // namespace uvfio::driver::detail
