#include "uvfio/base/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace uvfio {
namespace {

LogLevel initial_level() {
  LogLevel l = LogLevel::kWarn;
  if (const char* env = std::getenv("UVFIO_LOG")) parse_log_level(env, &l);
  return l;
}

std::atomic<int>& level_var() {
  static std::atomic<int> level{static_cast<int>(initial_level())};
  return level;
}

constexpr std::string_view kNames[] = {"error", "warn", "info", "debug", "trace"};

}  // namespace

void set_log_level(LogLevel level) {
  level_var().store(static_cast<int>(level));
}
LogLevel log_level() {
  return static_cast<LogLevel>(level_var().load(std::memory_order_relaxed));
}

bool parse_log_level(std::string_view name, LogLevel* out) {
  for (int i = 0; i < 5; ++i) {
    if (name == kNames[i]) {
      *out = static_cast<LogLevel>(i);
      return true;
    }
  }
  return false;
}

bool log_enabled(LogLevel level) {
  return static_cast<int>(level) <= level_var().load(std::memory_order_relaxed);
}

void log_write(LogLevel level, std::string_view component, std::string_view message) {
  std::string line = "uvfio[";
  line += kNames[static_cast<int>(level)];
  line += "] ";
  line += component;
  line += ": ";
  line += message;
  line += '\n';
  // One write(2) per line so concurrent lines never interleave.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace uvfio
