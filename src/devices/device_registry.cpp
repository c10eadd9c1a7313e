// The catalogue of emulated devices (uvfio/devices/registry.h): each entry's description, its
// options with one line of help each, and a factory that parses the option values strictly.
#include "uvfio/devices/registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <optional>
#include <utility>

#include "base/log_format.h"
#include "uvfio/base/errno_name.h"
#include "uvfio/devices/edu.h"

namespace uvfio::devices {

namespace {

using Options = std::map<std::string, std::string>;
using ModelResult = Result<std::shared_ptr<pci::DeviceModel>>;

/// Fails with EINVAL, explaining why through `error` or, without one, a warning.
Errno invalid(std::string* error, std::string why) {
  if (error != nullptr) {
    *error = std::move(why);
  } else {
    log_warn("devices", "{}", why);
  }
  return Errno{EINVAL};
}

/// Decimal digits, or 0x/0X followed by hex digits; nothing else (no sign, spaces, octal) and no
/// overflow.
std::optional<uint64_t> parse_u64(std::string_view text) {
  int base = 10;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text.remove_prefix(2);
  }
  if (text.empty()) return std::nullopt;
  // from_chars accepts a leading '-' for signed types only, but be explicit about what we take.
  const auto digit = [base](char c) {
    return (c >= '0' && c <= '9') ||
           (base == 16 && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
  };
  if (!std::all_of(text.begin(), text.end(), digit)) return std::nullopt;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, base);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return v;
}

ModelResult make_edu(const Options& options, std::string* error) {
  EduOptions o;
  for (const auto& [key, text] : options) {
    const std::optional<uint64_t> v = parse_u64(text);
    if (!v) {
      return invalid(error, fmt::format("edu: option {}: '{}' is not a number (decimal or 0x hex)",
                                        key, text));
    }
    if (key == "dma_mask") {
      o.dma_mask = *v;
      continue;
    }
    const auto max_us = static_cast<uint64_t>(EduOptions::kMaxDelay.count());
    if (*v > max_us) {
      return invalid(error,
                     fmt::format("edu: option {}: {} is above the maximum {} us", key, *v, max_us));
    }
    const std::chrono::microseconds us{static_cast<int64_t>(*v)};
    if (key == "dma_delay_us") {
      o.dma_delay = us;
    } else if (key == "factorial_delay_us") {
      o.factorial_delay = us;
    } else {
      return invalid(error, fmt::format("edu: unknown option '{}'", key));  // caught earlier too
    }
  }
  return make_edu_device(o);
}

struct Entry {
  EmulatedDeviceInfo info;
  ModelResult (*make)(const Options&, std::string*);
};

const std::vector<Entry>& entries() {
  // Sorted by name.
  static const std::vector<Entry> kEntries = {
      {{"edu",
        "QEMU's educational device 1234:11e8: liveness, factorial, interrupts (INTx/MSI), DMA",
        {{"dma_mask", "N (decimal or 0x hex)", "0x0fffffff",
          "bus-side DMA addresses are ANDed with this mask (QEMU's edu dma_mask)"},
         {"dma_delay_us", "MICROSECONDS (0..60000000)", "100000",
          "delay from a DMA command to the transfer (QEMU: 100 ms of virtual time)"},
         {"factorial_delay_us", "MICROSECONDS (0..60000000)", "0",
          "extra time a factorial stays busy before its result appears (QEMU: none)"}}},
       &make_edu},
  };
  return kEntries;
}

const Entry* find_entry(std::string_view name) {
  for (const Entry& e : entries()) {
    if (e.info.name == name) return &e;
  }
  return nullptr;
}

std::string names_of(const std::vector<EmulatedDeviceOption>& options) {
  std::string s;
  for (const auto& o : options) s += (s.empty() ? "" : ", ") + o.name;
  return s.empty() ? "none" : s;
}

}  // namespace

const std::vector<EmulatedDeviceInfo>& emulated_devices() {
  static const std::vector<EmulatedDeviceInfo> kInfos = [] {
    std::vector<EmulatedDeviceInfo> v;
    for (const Entry& e : entries()) v.push_back(e.info);
    return v;
  }();
  return kInfos;
}

const EmulatedDeviceInfo* find_emulated_device(std::string_view name) {
  const auto& infos = emulated_devices();
  const auto it = std::find_if(infos.begin(), infos.end(),
                               [name](const EmulatedDeviceInfo& i) { return i.name == name; });
  return it == infos.end() ? nullptr : &*it;
}

Result<std::shared_ptr<pci::DeviceModel>> make_emulated_device(std::string_view name,
                                                               const Options& options,
                                                               std::string* error) {
  const Entry* e = find_entry(name);
  if (e == nullptr) {
    std::string known;
    for (const Entry& x : entries()) known += (known.empty() ? "" : ", ") + x.info.name;
    return invalid(error, fmt::format("unknown emulated device '{}' (known: {})", name, known));
  }
  for (const auto& [key, value] : options) {
    const auto& opts = e->info.options;
    if (std::none_of(opts.begin(), opts.end(),
                     [&k = key](const EmulatedDeviceOption& o) { return o.name == k; })) {
      return invalid(
          error, fmt::format("{}: unknown option '{}' (options: {})", name, key, names_of(opts)));
    }
  }
  auto model = e->make(options, error);
  if (!model && model.error() != EINVAL && error != nullptr) {
    *error = fmt::format("{}: cannot create the device: {}", name, errno_describe(model.error()));
  }
  return model;
}

Result<EmulatedDeviceSpec> parse_emulated_device_spec(std::string_view spec, std::string* error) {
  EmulatedDeviceSpec out;
  size_t pos = spec.find(',');
  out.name = std::string(spec.substr(0, pos));
  if (out.name.empty() || out.name.find('=') != std::string::npos) {
    return invalid(error, fmt::format("emulated device '{}': missing device name", spec));
  }
  while (pos != std::string_view::npos) {
    const size_t start = pos + 1;
    pos = spec.find(',', start);
    const std::string_view item =
        spec.substr(start, pos == std::string_view::npos ? pos : pos - start);
    const size_t eq = item.find('=');
    if (item.empty() || eq == std::string_view::npos || eq == 0) {
      return invalid(error, fmt::format("emulated device '{}': '{}' is not opt=value", spec, item));
    }
    std::string key(item.substr(0, eq));
    if (out.options.count(key) != 0) {
      return invalid(error, fmt::format("emulated device '{}': option {} given twice", spec, key));
    }
    out.options.emplace(std::move(key), std::string(item.substr(eq + 1)));
  }
  return out;
}

Result<std::shared_ptr<pci::DeviceModel>> make_emulated_device_from_spec(std::string_view spec,
                                                                         std::string* error) {
  auto parsed = parse_emulated_device_spec(spec, error);
  if (!parsed) return Errno{parsed.error()};
  return make_emulated_device(parsed->name, parsed->options, error);
}

}  // namespace uvfio::devices
