// The walk-throughs' step printer: numbers each call and shows its result as the kernel would
// report it (a value, or -ERRNO).
#pragma once

#include <cstdio>
#include <string>

#include "uvfio/base/errno_name.h"

namespace uvfio::examples {

inline long step(const char* what, long result) {
  static int n = 0;
  const std::string shown =
      result < 0 ? "-" + errno_name(static_cast<int>(-result)) : std::to_string(result);
  std::printf("%2d. %-52s -> %s\n", ++n, what, shown.c_str());
  return result;
}

}  // namespace uvfio::examples
