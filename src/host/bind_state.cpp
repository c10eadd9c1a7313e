#include "bind_state.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "uvfio/host/vfio_binding.h"

namespace uvfio::host {
namespace {

std::string state_path(const Sysfs& fs, const std::string& bdf) {
  return fs.real(std::string(kBindStateDir) + "/" + bdf);
}

}  // namespace

std::optional<BindState> load_bind_state(const Sysfs& fs, const std::string& bdf) {
  std::ifstream in(state_path(fs, bdf));
  if (!in) return std::nullopt;
  BindState s;
  bool have_driver = false;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("driver=")) {
      s.driver = line.substr(7);
      have_driver = true;
    } else if (line.starts_with("override=")) {
      s.driver_override = line.substr(9);
    }
  }
  if (!have_driver) return std::nullopt;
  return s;
}

void save_bind_state(const Sysfs& fs, const std::string& bdf, const BindState& state) {
  namespace fsys = std::filesystem;
  const std::string path = state_path(fs, bdf);
  std::error_code ec;
  fsys::create_directories(fsys::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "driver=" << state.driver << "\noverride=" << state.driver_override << "\n";
    out.flush();
    if (!out) {
      const int err = errno != 0 ? errno : EIO;
      throw HostError(err, "cannot record the previous driver of " + bdf + " in " + path + ": " +
                               std::strerror(err) + " (run as root)");
    }
  }
  // Atomic replace: a crash leaves the old record or the new one, never half of one.
  fsys::rename(tmp, path, ec);
  if (ec) {
    throw HostError(ec.value(), "cannot record the previous driver of " + bdf + " in " + path +
                                    ": " + ec.message());
  }
}

void erase_bind_state(const Sysfs& fs, const std::string& bdf) {
  std::error_code ec;
  std::filesystem::remove(state_path(fs, bdf), ec);
}

}  // namespace uvfio::host
