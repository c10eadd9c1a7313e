// `uvfio serve` as a user runs it: the real binary in a temp dir, started and stopped by pid —
// the listening line, a session through each socket, a clean SIGTERM that removes the sockets,
// an inherited listening fd, and argument errors.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "uvfio/devices/edu.h"
#include "vfio_user_server_fixture.h"

namespace uvfio::test {
namespace {

using namespace std::chrono_literals;

// One `uvfio serve` process; killed by pid if a test leaves it running.
class ServeProcess {
 public:
  ServeProcess(const std::string& dir, std::vector<std::string> args, int inherit_fd = -1)
      : log_(dir + "/serve.log") {
    std::vector<std::string> argv = {UVFIO_CLI_PATH, "serve"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> raw;
    raw.reserve(argv.size() + 1);
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (inherit_fd >= 0) posix_spawn_file_actions_adddup2(&fa, inherit_fd, 3);
    EXPECT_EQ(posix_spawn(&pid_, raw[0], &fa, nullptr, raw.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string log() const {
    std::ifstream f(log_);
    return {std::istreambuf_iterator<char>(f), {}};
  }
  // Waits until the log holds `text` (or the process exited).
  bool wait_for(const std::string& text, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (log().find(text) != std::string::npos) return true;
      int status;
      if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_ = status;
        return log().find(text) != std::string::npos;
      }
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
  // Sends `sig` and returns the exit status (-1 if it does not exit in time).
  int stop(int sig = SIGTERM) {
    if (pid_ > 0) ::kill(pid_, sig);
    return wait_exit();
  }
  int wait_exit() {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_ = status;
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
    if (pid_ > 0) return -1;
    return WIFEXITED(exit_) ? WEXITSTATUS(exit_) : 128 + WTERMSIG(exit_);
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int exit_ = 0;
};

class ServeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvfio-serve-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  static void use(const std::string& path) {
    RawClient c(connect_to(path));
    ASSERT_GE(c.fd(), 0) << path;
    negotiate(c);
    EXPECT_EQ(c.read_reg(kBar0, devices::edu_reg::kIdentification), 0x010000edu);
  }
  std::string dir_;
};

TEST_F(ServeCliTest, ServesSeveralDevicesAndStopsCleanlyOnSigterm) {
  const std::string a = dir_ + "/a.sock", b = dir_ + "/b.sock";
  ServeProcess p(dir_, {"edu", "--socket", a, "edu,dma_delay_us=0", "--socket=" + b});
  ASSERT_TRUE(p.wait_for("listening on " + b)) << p.log();
  EXPECT_NE(p.log().find("listening on " + a + " (edu)"), std::string::npos);
  use(a);
  use(b);
  use(a);  // the device is free again after the previous client left
  EXPECT_EQ(p.stop(SIGTERM), 0) << p.log();
  EXPECT_FALSE(std::filesystem::exists(a));
  EXPECT_FALSE(std::filesystem::exists(b));
  EXPECT_NE(p.log().find("stopped (3 clients served"), std::string::npos) << p.log();
}

TEST_F(ServeCliTest, SigintStopsToo) {
  const std::string a = dir_ + "/a.sock";
  ServeProcess p(dir_, {"edu", "--socket", a});
  ASSERT_TRUE(p.wait_for("listening on " + a)) << p.log();
  RawClient c(connect_to(a));  // a client still connected at the stop
  ASSERT_TRUE(c.version().has_value());
  EXPECT_EQ(p.stop(SIGINT), 0) << p.log();
  EXPECT_FALSE(std::filesystem::exists(a));
}

TEST_F(ServeCliTest, ServesAnInheritedListeningSocket) {
  const std::string path = dir_ + "/inherited.sock";
  UniqueFd l(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  ASSERT_EQ(::bind(l.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(l.get(), 4), 0);
  ServeProcess p(dir_, {"edu", "--fd", "3"}, l.get());
  ASSERT_TRUE(p.wait_for("listening on fd 3")) << p.log();
  l.reset();
  use(path);
  EXPECT_EQ(p.stop(), 0) << p.log();
}

TEST_F(ServeCliTest, ArgumentErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"edu"},
           {"--socket", dir_ + "/x.sock"},
           {"nope", "--socket", dir_ + "/x.sock"},
           {"edu,dma_mask=zz", "--socket", dir_ + "/x.sock"},
           {"edu", "--socket", dir_ + "/x.sock", "--fd", "3"},
           {"edu", "--socket", dir_ + "/x.sock", "--bogus"},
       }) {
    ServeProcess p(dir_, args);
    EXPECT_EQ(p.wait_exit(), 2) << p.log();
    EXPECT_NE(p.log().find("uvfio serve: "), std::string::npos);
  }
  // A path that cannot be served: exit 1, naming it.
  std::ofstream(dir_ + "/file") << "x";
  ServeProcess p(dir_, {"edu", "--socket", dir_ + "/file"});
  EXPECT_EQ(p.wait_exit(), 1);
  EXPECT_NE(p.log().find("cannot listen on " + dir_ + "/file"), std::string::npos) << p.log();
}

}  // namespace
}  // namespace uvfio::test
