#include "uvfio/base/errno_name.h"

#include <cstring>
#include <string>

namespace uvfio {

std::string errno_name(int err) {
  // glibc >= 2.32 knows every symbolic name; NULL for values it does not.
  if (const char* name = strerrorname_np(err)) return name;
  return "E" + std::to_string(err);
}

std::string errno_describe(int err) {
  return errno_name(err) + " (" + strerrordesc_np(err) + ")";
}

}  // namespace uvfio
