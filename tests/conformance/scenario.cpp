#include "scenario.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "uvfio/base/errno_name.h"

namespace uvfio::conformance {

Env::~Env() {
  // A fixed order (reverse slot name), so every run tears down alike. (std::views::reverse would
  // do, but clang-tidy's clang 14 cannot parse libstdc++ 12's ranges.)
  for (auto it = fds_.rbegin(); it != fds_.rend(); ++it) {  // NOLINT(modernize-loop-convert)
    if (it->second >= 0) sys().close(it->second);
  }
  for (auto& [name, b] : bufs_) ::munmap(b.p, b.size);
  for (auto& [name, fd] : eventfds_) ::close(fd);
}

long Env::open(const std::string& slot, const std::string& path) {
  long fd = sys().open(path, 2 /*O_RDWR*/);
  if (fd >= 0) fds_[slot] = static_cast<int>(fd);
  return fd;
}

long Env::close(const std::string& slot) {
  auto it = fds_.find(slot);
  if (it == fds_.end()) return -EBADF;
  long r = sys().close(it->second);
  fds_.erase(it);
  return r;
}

int Env::fd(const std::string& slot) const {
  auto it = fds_.find(slot);
  return it == fds_.end() ? -1 : it->second;
}

long Env::ioctl(const std::string& slot, unsigned long request, unsigned long arg) {
  return sys().ioctl(fd(slot), request, arg);
}

long Env::keep(const std::string& slot, long fd_or_error) {
  if (fd_or_error >= 0) fds_[slot] = static_cast<int>(fd_or_error);
  return fd_or_error;
}

void* Env::buffer(const std::string& name, size_t size) {
  auto it = bufs_.find(name);
  if (it != bufs_.end()) return it->second.p;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  bufs_[name] = {p, size};
  return p;
}

int Env::eventfd(const std::string& name) {
  auto it = eventfds_.find(name);
  if (it != eventfds_.end()) return it->second;
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd >= 0) eventfds_[name] = fd;
  return fd;
}

long Env::wait_eventfd(const std::string& name, int timeout_ms) {
  const int fd = eventfd(name);
  if (fd < 0) return -EBADF;
  pollfd p{fd, POLLIN, 0};
  const int r = ::poll(&p, 1, timeout_ms);
  if (r < 0) return -errno;
  if (r == 0) return 0;
  uint64_t count = 0;
  if (::read(fd, &count, sizeof count) != static_cast<ssize_t>(sizeof count)) return -errno;
  return static_cast<long>(count);
}

std::string describe(long v) {
  if (v == Step::kAnyFd) return "an fd";
  if (v == Step::kPositive) return ">0";
  if (v < 0) return "-" + errno_name(static_cast<int>(-v));
  return std::to_string(v);
}

bool result_matches(long expect, long got) {
  if (expect == Step::kAnyFd) return got >= 0;
  if (expect == Step::kPositive) return got > 0;
  return expect == got;
}

Outcome run(const Scenario& s, Provider& provider) {
  Outcome o;
  o.scenario = s.name;
  auto world = provider.make(s.setup);
  if (!world) {
    o.skipped = true;
    o.detail = "setup not available on " + provider.name();
    return o;
  }
  {
    Env env(*world);
    o.passed = true;
    for (size_t i = 0; i < s.steps.size(); ++i) {
      const Step& st = s.steps[i];
      long got = st.call(env);
      o.results.push_back(got);
      if (!result_matches(st.expect, got) && o.passed) {
        o.passed = false;
        o.detail = "step " + std::to_string(i + 1) + " (" + st.what + "): expected " +
                   describe(st.expect) + ", got " + describe(got);
      }
    }
  }
  provider.destroy(std::move(world));
  return o;
}

const std::vector<Scenario>& all_scenarios() {
  static const std::vector<Scenario> all = [] {
    std::vector<Scenario> v;
    add_container_scenarios(v);
    add_group_scenarios(v);
    add_type1_scenarios(v);
    add_noiommu_scenarios(v);
    add_iommufd_scenarios(v);
    add_vfio_pci_scenarios(v);
    return v;
  }();
  return all;
}

}  // namespace uvfio::conformance
