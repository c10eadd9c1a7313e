// `uvfio ls [--json]`.
#include <fmt/format.h>

#include "tools/uvfio/commands.h"
#include "tools/uvfio/host_report.h"
#include "uvfio/host/inventory.h"

namespace uvfio::tools {

int run_ls(const LsOptions& options) {
  const host::Sysfs fs(options.root);
  const host::HostInventory inv = host::discover(fs);
  if (options.json) {
    fmt::print("{}\n", host_json(inv).dump(2));
  } else {
    fmt::print("{}", render_host_text(inv));
  }
  return 0;
}

}  // namespace uvfio::tools
