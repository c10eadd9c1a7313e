#include "uvfio/host/sysfs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "uvfio/base/unique_fd.h"

namespace uvfio::host {

namespace fs = std::filesystem;

Sysfs::Sysfs(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  if (root_ == "/") root_.clear();
}

std::string Sysfs::real(const std::string& path) const {
  return root_ + path;
}

bool Sysfs::exists(const std::string& path) const {
  std::error_code ec;
  return fs::exists(real(path), ec);
}

bool Sysfs::is_dir(const std::string& path) const {
  std::error_code ec;
  return fs::is_directory(real(path), ec);
}

std::optional<std::string> Sysfs::read(const std::string& path) const {
  std::ifstream in(real(path));
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

std::optional<std::string> Sysfs::link_name(const std::string& path) const {
  std::error_code ec;
  const fs::path target = fs::read_symlink(real(path), ec);
  if (ec) return std::nullopt;
  // "../../../bus/pci/drivers/vfio-pci" -> "vfio-pci"
  return target.filename().string();
}

std::vector<std::string> Sysfs::list(const std::string& path) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(real(path), ec), end; !ec && it != end; it.increment(ec)) {
    out.push_back(it->path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

int Sysfs::write(const std::string& path, const std::string& value) const {
  // One write(2) of the whole value: a sysfs store sees exactly one call, as with `echo`.
  // O_TRUNC is for the regular files of fake trees; sysfs ignores it.
  UniqueFd fd(::open(real(path).c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
  if (!fd) return errno;
  const ssize_t n = ::write(fd.get(), value.data(), value.size());
  if (n < 0) return errno;
  if (static_cast<size_t>(n) != value.size()) return EIO;
  return 0;
}

}  // namespace uvfio::host
