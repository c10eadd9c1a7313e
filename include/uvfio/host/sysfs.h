// Sysfs: the host's files (sysfs, /dev, /proc parameters) under an injectable root, so discovery
// and binding run on the real host ("/") and on fake trees built by tests.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace uvfio::host {

/// A host-side failure (sysfs, binding): what() says what went wrong and what to do about it.
/// Immutable; safe to copy between threads.
class HostError : public std::runtime_error {
 public:
  HostError(int err, const std::string& message) : std::runtime_error(message), err_(err) {}
  /// The positive errno.
  int error() const { return err_; }

 private:
  int err_;
};

/// Reads and writes host files relative to a root directory. Paths passed in are absolute host
/// paths ("/sys/bus/pci/devices"); the root is prefixed. Stateless apart from the root: safe to
/// share between threads. write() is virtual so tests can watch writes and play the kernel's
/// part (a probe that moves the `driver` link).
class Sysfs {
 public:
  /// `root` "/" (or "") is the real host.
  explicit Sysfs(std::string root = "/");
  virtual ~Sysfs() = default;
  Sysfs(const Sysfs&) = default;
  Sysfs& operator=(const Sysfs&) = default;

  const std::string& root() const { return root_; }
  /// root + path.
  std::string real(const std::string& path) const;

  bool exists(const std::string& path) const;
  bool is_dir(const std::string& path) const;
  /// The file's contents without trailing whitespace; nullopt if it cannot be read.
  std::optional<std::string> read(const std::string& path) const;
  /// The last component of a symlink's target ("vfio-pci" for .../driver); nullopt if `path`
  /// is not a symlink.
  std::optional<std::string> link_name(const std::string& path) const;
  /// Names in a directory, sorted; empty if it does not exist.
  std::vector<std::string> list(const std::string& path) const;
  /// Writes `value` to an existing file in one write(2), as `echo -n value > path` does. Returns 0
  /// or the positive errno (a sysfs store's refusal: EINVAL, ENODEV, EBUSY, EACCES, ...).
  virtual int write(const std::string& path, const std::string& value) const;

 private:
  std::string root_;
};

}  // namespace uvfio::host
