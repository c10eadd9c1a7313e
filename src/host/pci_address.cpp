#include "uvfio/host/pci_address.h"

#include <cctype>
#include <cstdio>

namespace uvfio::host {
namespace {

bool all_hex(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

unsigned hex_value(std::string_view s) {
  unsigned v = 0;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(std::tolower(static_cast<unsigned char>(c)));
    v = v * 16 + (std::isdigit(u) != 0 ? u - '0' : u - 'a' + 10);
  }
  return v;
}

}  // namespace

std::optional<std::string> normalize_bdf(std::string_view text) {
  // [DOMAIN:]BB:DD.F
  const size_t dot = text.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view fn = text.substr(dot + 1);
  std::string_view head = text.substr(0, dot);
  const size_t c2 = head.rfind(':');
  if (c2 == std::string_view::npos) return std::nullopt;
  const std::string_view dev = head.substr(c2 + 1);
  head = head.substr(0, c2);
  const size_t c1 = head.rfind(':');
  const std::string_view bus = c1 == std::string_view::npos ? head : head.substr(c1 + 1);
  const std::string_view dom = c1 == std::string_view::npos ? "0" : head.substr(0, c1);
  if (!all_hex(dom) || dom.size() > 8 || !all_hex(bus) || bus.size() != 2 || !all_hex(dev) ||
      dev.size() != 2 || fn.size() != 1 || fn[0] < '0' || fn[0] > '7') {
    return std::nullopt;
  }
  const unsigned d = hex_value(dev);
  if (d > 0x1f) return std::nullopt;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04x:%02x:%02x.%c", hex_value(dom), hex_value(bus), d, fn[0]);
  return std::string(buf);
}

}  // namespace uvfio::host
