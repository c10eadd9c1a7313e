// EmulatedSystem: the VfioSystem answered by uvfio's own files on a Host.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "uvfio/vfio/vfio_system.h"
#include "vfio/fd_table.h"
#include "vfio/host.h"

namespace uvfio::vfio {

/// One "process" using the host: its fd table and credentials. Thread-safe.
class EmulatedSystem : public VfioSystem {
 public:
  EmulatedSystem(std::shared_ptr<Host> host, Credentials creds);
  ~EmulatedSystem() override;  // closes every fd, as a process exit does

  int open(const std::string& path, int flags) override;
  int close(int fd) override;
  using VfioSystem::ioctl;
  long ioctl(int fd, unsigned long request, unsigned long arg) override;
  ssize_t pread(int fd, void* buf, size_t count, uint64_t offset) override;
  ssize_t pwrite(int fd, const void* buf, size_t count, uint64_t offset) override;
  void* mmap(int fd, size_t length, int prot, int flags, uint64_t offset) override;
  int munmap(void* addr, size_t length) override;
  std::string kind() const override { return "emulated"; }

  Host& host() { return *host_; }
  FdTable& fds() { return fds_; }
  const Credentials& credentials() const { return creds_; }

 private:
  std::shared_ptr<Host> host_;
  Credentials creds_;
  FdTable fds_;
};

}  // namespace uvfio::vfio
