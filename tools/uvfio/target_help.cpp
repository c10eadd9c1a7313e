// target_help(): what TARGET may be, for `uvfio --help` and every subcommand's --help. Built from
// the driver's scheme table and the emulated-device registry, so it never goes stale.
#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "tools/uvfio/commands.h"
#include "uvfio/devices/registry.h"
#include "uvfio/driver/target.h"

namespace uvfio::tools {

std::string target_help() {
  std::string out = "TARGET names a device:\n";
  for (const auto& s : driver::target_schemes()) {
    out += fmt::format("  {}\n      {}{}\n", s.syntax, s.description,
                       s.implemented ? "" : " (not implemented yet)");
  }
  out += "The iommu= option of emu: and pci: targets (pci: picks the best path when absent):\n";
  for (const auto& line : driver::transport_option_help()) {
    // "key=value: help" -> the option on its own line, its help below.
    const size_t colon = line.find(": ");
    if (colon == std::string::npos) {
      out += "  " + line + "\n";
    } else {
      out += fmt::format("  {}\n      {}\n", line.substr(0, colon), line.substr(colon + 2));
    }
  }
  out += "Emulated devices (emu:NAME) and their options:\n";
  for (const auto& dev : devices::emulated_devices()) {
    out += fmt::format("  {}\n      {}\n", dev.name, dev.help);
    for (const auto& o : dev.options) {
      out += fmt::format("    {}={}  (default {})\n        {}\n", o.name, o.value, o.default_value,
                         o.help);
    }
  }
  out +=
      "Examples: emu:edu   emu:edu,iommu=type1   "
      "emu:edu,iommu=noiommu,dma_mask=0xffffffffffffffff\n"
      "          pci:0000:00:02.0   pci:00:02.0,iommu=legacy   vfio-user:/tmp/edu.sock\n";
  return out;
}

std::string wrap_text(std::string_view text, size_t width) {
  std::string out;
  size_t start = 0;
  for (;;) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    const size_t lead = std::min(line.find_first_not_of(' '), line.size());
    const std::string cont(lead == 0 ? 0 : lead + 2, ' ');
    size_t room = width;  // columns left for `line` on the current output line
    while (line.size() > room) {
      size_t cut = line.rfind(' ', room);
      if (cut == std::string_view::npos || cut <= lead) cut = line.find(' ', room);
      if (cut == std::string_view::npos) break;
      out += std::string(line.substr(0, cut)) + "\n" + cont;
      line = line.substr(cut + 1);
      room = width > cont.size() ? width - cont.size() : 1;
    }
    out += std::string(line);
    if (end == text.size()) break;
    out += "\n";
    start = end + 1;
  }
  return out;
}

}  // namespace uvfio::tools
