// Levelled logging to stderr. Quiet by default: only warnings and errors are printed unless the
// level is raised with set_log_level() or the UVFIO_LOG environment variable
// (error|warn|info|debug|trace).
#pragma once

#include <string_view>

namespace uvfio {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3, kTrace = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();
/// Parses "error", "warn", "info", "debug" or "trace"; false if the name is unknown.
bool parse_log_level(std::string_view name, LogLevel* out);

/// True when a message at this level would be printed (cheap: one relaxed load).
bool log_enabled(LogLevel level);

/// Writes one line "uvfio[<level>] <component>: <message>" atomically to stderr.
void log_write(LogLevel level, std::string_view component, std::string_view message);

}  // namespace uvfio
