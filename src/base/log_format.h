// Internal: fmt-style logging helpers over uvfio/base/log.h.
#pragma once

#include <fmt/format.h>

#include "uvfio/base/log.h"

namespace uvfio {

template <class... A>
void log_at(LogLevel level, std::string_view component, fmt::format_string<A...> f, A&&... args) {
  if (log_enabled(level)) log_write(level, component, fmt::format(f, std::forward<A>(args)...));
}
template <class... A>
void log_error(std::string_view c, fmt::format_string<A...> f, A&&... a) {
  log_at(LogLevel::kError, c, f, std::forward<A>(a)...);
}
template <class... A>
void log_warn(std::string_view c, fmt::format_string<A...> f, A&&... a) {
  log_at(LogLevel::kWarn, c, f, std::forward<A>(a)...);
}
template <class... A>
void log_info(std::string_view c, fmt::format_string<A...> f, A&&... a) {
  log_at(LogLevel::kInfo, c, f, std::forward<A>(a)...);
}
template <class... A>
void log_debug(std::string_view c, fmt::format_string<A...> f, A&&... a) {
  log_at(LogLevel::kDebug, c, f, std::forward<A>(a)...);
}

}  // namespace uvfio
