// `uvfio info TARGET [--json]`.
#include <fmt/format.h>

#include <cstdio>
#include <exception>

#include "tools/uvfio/commands.h"
#include "tools/uvfio/device_report.h"
#include "uvfio/driver/driver.h"

namespace uvfio::tools {

int run_info(const InfoOptions& options) {
  try {
    const driver::Device dev = driver::open(options.target);
    const DeviceReport report = collect_device_report(dev);
    if (options.json) {
      fmt::print("{}\n", device_report_json(report).dump(2));
    } else {
      fmt::print("{}", render_device_text(report));
    }
    return 0;
  } catch (const driver::Error& e) {
    fmt::print(stderr, "uvfio info: {}\n", e.what());
    return 1;
  }
}

}  // namespace uvfio::tools
