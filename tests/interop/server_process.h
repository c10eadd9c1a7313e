// ServerProcess: a real `uvfio serve DEVICE --socket PATH` process for the interop tests — started
// with posix_spawn in its own temp dir, waited for until it listens, stopped by pid (SIGTERM, then
// SIGKILL if it does not go), its stderr kept in a file the tests can read.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace uvfio::interop {

/// The uvfio binary under test (set by CMake).
const char* uvfio_cli_path();

/// How a process ended.
struct ExitStatus {
  bool exited = false;  // normal exit (code valid) or killed by a signal (signal valid)
  int code = -1;
  int signal = 0;
  std::string describe() const;
};

/// A temp dir (mkdtemp under $TMPDIR or /tmp) removed with everything in it on destruction.
/// Move-only. Not thread-safe.
class TempDir {
 public:
  TempDir();
  TempDir(TempDir&& o) noexcept;
  TempDir& operator=(TempDir&&) = delete;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// One server process and its temp dir. Owns the pid: the destructor stops the process (SIGTERM,
/// SIGKILL after a grace period) and reaps it, then removes the temp dir. Not thread-safe.
class ServerProcess {
 public:
  /// Starts `uvfio serve EXTRA... DEVICE --socket <tmp>/x.sock` and waits until
  /// the socket exists and accepts connections (or the process dies / `timeout` passes: then
  /// started() is false and log() says why).
  explicit ServerProcess(const std::string& device = "edu", std::vector<std::string> extra = {},
                         std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// How the socket reaches the server.
  enum class Endpoint {
    kSocketPath,   // --socket PATH: the server creates (and on exit removes) the socket
    kInheritedFd,  // --fd 3: this process binds and listens, the child inherits the socket
  };
  ServerProcess(Endpoint endpoint, const std::string& device);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool started() const { return started_; }
  pid_t pid() const { return pid_; }
  const std::string& socket_path() const { return socket_; }
  /// "vfio-user:<socket>".
  std::string target() const { return "vfio-user:" + socket_; }
  const TempDir& dir() const { return dir_; }

  /// Everything the server wrote to stderr so far.
  std::string log() const;
  /// Waits until the log contains `text` (true) or `timeout` passes (false).
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const;
  /// Entries in /proc/PID/fd now (-1 if the process is gone).
  int open_fds() const;
  /// The process is still running (not exited, not a zombie).
  bool alive();

  /// Sends SIGTERM and waits up to `grace` for the exit; then SIGKILL. Returns how it ended.
  /// Idempotent: a second call returns the first result.
  ExitStatus stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  /// SIGKILL now (a crash, from the clients' point of view) and reap.
  ExitStatus kill_now();

 private:
  ExitStatus reap(std::chrono::milliseconds wait);

  void start(const std::vector<std::string>& args, int inherit_fd,
             std::chrono::milliseconds timeout);

  TempDir dir_;
  std::string socket_;
  std::string log_path_;
  pid_t pid_ = -1;
  bool started_ = false;
  std::optional<ExitStatus> status_;
};

/// Runs `uvfio ARGS...` to completion (stdout and stderr captured separately, a `timeout` after
/// which it is killed). For `uvfio demo` / `uvfio info` as a user runs them.
struct CliRun {
  ExitStatus status;
  std::string out;
  std::string err;
};
CliRun run_cli(const std::vector<std::string>& args,
               std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace uvfio::interop
