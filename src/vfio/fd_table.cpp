#include "vfio/fd_table.h"

#include <cerrno>

#include <algorithm>
#include <vector>
#include "uvfio/base/fault_injection.h"

namespace uvfio::vfio {

int FdTable::install(std::shared_ptr<VfioFile> file) {
  std::lock_guard lk(mu_);
  if (fds_.size() >= 65536 || fault::should_fail("fd: install")) return -EMFILE;
  int fd = next_++;
  file->get_ref();
  fds_.emplace(fd, std::move(file));
  return fd;
}

std::shared_ptr<VfioFile> FdTable::get(int fd) const {
  std::lock_guard lk(mu_);
  auto it = fds_.find(fd);
  return it == fds_.end() ? nullptr : it->second;
}

int FdTable::close(int fd) {
  std::shared_ptr<VfioFile> file;
  {
    std::lock_guard lk(mu_);
    auto it = fds_.find(fd);
    if (it == fds_.end()) return -EBADF;
    file = std::move(it->second);
    fds_.erase(it);
  }
  file->put_ref();  // outside the lock: release() may close other files
  return 0;
}

void FdTable::close_all() {
  std::vector<int> all;
  {
    std::lock_guard lk(mu_);
    for (auto& [fd, f] : fds_) all.push_back(fd);
  }
  // Newest first, as a process's fds close in no promised order but this one is reproducible.
  std::reverse(all.begin(), all.end());
  for (int fd : all) close(fd);
}

size_t FdTable::size() const {
  std::lock_guard lk(mu_);
  return fds_.size();
}

}  // namespace uvfio::vfio
