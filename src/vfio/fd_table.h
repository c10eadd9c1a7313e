// FdTable: the emulated system's file descriptors. One open file may be referenced by several fds
// (a VfioFile is released when its last fd closes, and device files also hold their group's).
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "uvfio/vfio/vfio_system.h"
#include "vfio/vfio_file.h"

namespace uvfio::vfio {

/// Maps fd numbers to files; each fd holds a file reference. Thread-safe. Fds start at 1000 so
/// they are easy to tell from real ones in logs.
class FdTable {
 public:
  explicit FdTable(Credentials creds = {}) : creds_(std::move(creds)) {}
  /// The credentials of the process owning this table (what capable() checks).
  const Credentials& creds() const { return creds_; }

  /// Installs `file` and returns its fd, or -EMFILE.
  int install(std::shared_ptr<VfioFile> file);
  /// The file behind `fd`, or null (EBADF).
  std::shared_ptr<VfioFile> get(int fd) const;
  /// Closes `fd`: -EBADF if unknown. The file's release() runs when its last reference goes.
  int close(int fd);
  /// Closes every fd (a process exiting).
  void close_all();
  size_t size() const;

 private:
  const Credentials creds_;
  mutable std::mutex mu_;
  std::map<int, std::shared_ptr<VfioFile>> fds_;
  int next_ = 1000;
};

}  // namespace uvfio::vfio
