#include "server_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "uvfio/base/unique_fd.h"

namespace uvfio::interop {

#ifndef UVFIO_CLI_PATH
#error "UVFIO_CLI_PATH must name the uvfio binary"
#endif

const char* uvfio_cli_path() {
  return UVFIO_CLI_PATH;
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollStep = std::chrono::milliseconds(5);

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ExitStatus decode(int st) {
  ExitStatus s;
  if (WIFEXITED(st)) {
    s.exited = true;
    s.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    s.signal = WTERMSIG(st);
  }
  return s;
}

// Spawns `args` with stdin from /dev/null and stdout/stderr into the named files; the pid
// (throws: the tests cannot go on without the process).
pid_t spawn(const std::vector<std::string>& args, const std::string& out_path,
            const std::string& err_path, int inherit_fd = -1) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  // The inherited socket becomes fd 3 of the child (dup2 clears its close-on-exec flag).
  if (inherit_fd >= 0) posix_spawn_file_actions_adddup2(&fa, inherit_fd, 3);
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    throw std::runtime_error("posix_spawn " + args[0] + ": " + std::strerror(rc));
  }
  return pid;
}

// The UNIX socket at `path` is listening: /proc/net/unix lists it with __SO_ACCEPTCON (0x10000)
// in its flags. Asking the kernel avoids a probe connection, which the server would count as a
// client.
bool listening(const std::string& path) {
  std::ifstream in("/proc/net/unix");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    // Num RefCount Protocol Flags Type St Inode Path
    std::istringstream ls(line);
    std::string num, refs, proto, flags, type, st, inode, p;
    if (!(ls >> num >> refs >> proto >> flags >> type >> st >> inode >> p)) continue;
    if (p != path) continue;
    if ((std::stoul(flags, nullptr, 16) & 0x10000) != 0) return true;
  }
  return false;
}

}  // namespace

std::string ExitStatus::describe() const {
  if (exited) return "exit " + std::to_string(code);
  if (signal != 0) return std::string("killed by ") + strsignal(signal);
  return "still running";
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/uvfio-interop-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  path_ = tmpl;
}

TempDir::TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) {
  o.path_.clear();
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ServerProcess::ServerProcess(const std::string& device, std::vector<std::string> extra,
                             std::chrono::milliseconds timeout)
    : socket_(dir_.file("x.sock")), log_path_(dir_.file("server.log")) {
  // Server options go before the DEVICE (uvfio serve's syntax).
  std::vector<std::string> args = {uvfio_cli_path(), "serve"};
  args.insert(args.end(), extra.begin(), extra.end());
  args.insert(args.end(), {device, "--socket", socket_});
  start(args, -1, timeout);
}

ServerProcess::ServerProcess(Endpoint endpoint, const std::string& device)
    : socket_(dir_.file("x.sock")), log_path_(dir_.file("server.log")) {
  if (endpoint == Endpoint::kSocketPath) {
    start({uvfio_cli_path(), "serve", device, "--socket", socket_}, -1, std::chrono::seconds(10));
    return;
  }
  UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, socket_.c_str(), socket_.size() + 1);
  if (!sock || ::bind(sock.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(sock.get(), 16) != 0) {
    throw std::runtime_error(std::string("listening socket: ") + std::strerror(errno));
  }
  // Our copy closes when this constructor returns: the server's is the only listener left.
  start({uvfio_cli_path(), "serve", device, "--fd", "3"}, sock.get(), std::chrono::seconds(10));
}

void ServerProcess::start(const std::vector<std::string>& args, int inherit_fd,
                          std::chrono::milliseconds timeout) {
  pid_ = spawn(args, dir_.file("server.out"), log_path_, inherit_fd);
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (!alive()) return;  // log() says why
    struct stat st {};
    if (::stat(socket_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && listening(socket_)) {
      started_ = true;
      return;
    }
    std::this_thread::sleep_for(kPollStep);
  }
}

ServerProcess::~ServerProcess() {
  stop(std::chrono::seconds(2));
}

std::string ServerProcess::log() const {
  return read_text(log_path_);
}

bool ServerProcess::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (log().find(text) != std::string::npos) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollStep);
  }
}

int ServerProcess::open_fds() const {
  DIR* d = ::opendir(("/proc/" + std::to_string(pid_) + "/fd").c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

bool ServerProcess::alive() {
  if (status_ || pid_ <= 0) return false;
  int st = 0;
  const pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = decode(st);
    return false;
  }
  return r == 0;
}

ExitStatus ServerProcess::reap(std::chrono::milliseconds wait) {
  const auto deadline = Clock::now() + wait;
  while (alive()) {
    if (Clock::now() >= deadline) return {};
    std::this_thread::sleep_for(kPollStep);
  }
  return status_.value_or(ExitStatus{});
}

ExitStatus ServerProcess::stop(std::chrono::milliseconds grace) {
  if (status_ || pid_ <= 0) return status_.value_or(ExitStatus{});
  ::kill(pid_, SIGTERM);
  ExitStatus s = reap(grace);
  if (status_) return s;
  return kill_now();
}

ExitStatus ServerProcess::kill_now() {
  if (status_ || pid_ <= 0) return status_.value_or(ExitStatus{});
  ::kill(pid_, SIGKILL);
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
  }
  status_ = decode(st);
  return *status_;
}

CliRun run_cli(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  TempDir dir;
  std::vector<std::string> argv = {uvfio_cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = spawn(argv, dir.file("out"), dir.file("err"));
  CliRun r;
  const auto deadline = Clock::now() + timeout;
  int st = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &st, WNOHANG);
    if (w == pid) {
      r.status = decode(st);
      break;
    }
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      r.status = decode(st);
      r.err = "(timed out and killed)\n";
      break;
    }
    std::this_thread::sleep_for(kPollStep);
  }
  r.out = read_text(dir.file("out"));
  r.err += read_text(dir.file("err"));
  return r;
}

}  // namespace uvfio::interop
