// Errno values rendered as their symbolic names ("EEXIST", not 17).
#pragma once

#include <string>
#include <string_view>

namespace uvfio {

/// Symbolic name of an errno value ("EEXIST"); "E<n>" for values the C library does not know.
std::string errno_name(int err);

/// "EEXIST (File exists)": the name and the C library's description.
std::string errno_describe(int err);

}  // namespace uvfio
