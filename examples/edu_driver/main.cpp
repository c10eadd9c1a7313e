// edu_driver: runs the edu driver (edu_driver.h) against a target and prints its report.
//   edu_driver [TARGET] [--intx]     TARGET defaults to emu:edu; exit 0 when every step passed.
#include <cstdio>
#include <cstring>
#include <string>

#include "examples/edu_driver/edu_driver.h"

int main(int argc, char** argv) {
  std::string target = "emu:edu";
  uvfio::examples::EduDriverOptions options;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--intx") == 0) {
      options.force_intx = true;
    } else if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      std::puts(
          "usage: edu_driver [TARGET] [--intx]\n"
          "Drives QEMU's edu device through uvfio's driver API and prints a report.\n"
          "  TARGET   emu:edu[,opt=val...] (default emu:edu), later vfio-user:PATH or pci:BDF\n"
          "  --intx   use INTx even if MSI is available");
      return 0;
    } else {
      target = argv[i];
    }
  }
  const auto report = uvfio::examples::run_edu_driver(target, options);
  std::fputs(uvfio::examples::format_edu_report(report).c_str(), stdout);
  return report.passed() ? 0 : 1;
}
