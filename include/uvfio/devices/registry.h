// The catalogue of emulated devices: what `emu:NAME[,opt=val...]` targets can name, with their
// options, and the factory that builds them. The driver side parses the target, the registry
// validates the name and the options strictly and builds the DeviceModel.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "uvfio/base/result.h"
#include "uvfio/pci/device_model.h"

namespace uvfio::devices {

/// One option an emulated device accepts.
struct EmulatedDeviceOption {
  std::string name;           // "dma_mask"
  std::string value;          // the value's shape, for help: "N (hex 0x... or decimal)"
  std::string default_value;  // as text: "0x0fffffff"
  std::string help;           // one line
};

/// One emulated device.
struct EmulatedDeviceInfo {
  std::string name;  // "edu"
  std::string help;  // one line
  std::vector<EmulatedDeviceOption> options;
};

/// Every device the registry can build, sorted by name. Immutable, safe from any thread.
const std::vector<EmulatedDeviceInfo>& emulated_devices();

/// The device called `name`, or nullptr.
const EmulatedDeviceInfo* find_emulated_device(std::string_view name);

/// Builds device `name` with `options` (option name -> value text). EINVAL for an unknown name,
/// an unknown option or a value that does not parse or is out of range (numbers: decimal digits
/// or 0x-prefixed hex, no sign, no spaces, no octal, no overflow); `error`, if given, then says
/// which (otherwise a warning is logged). Other errnos come from the device's factory.
Result<std::shared_ptr<pci::DeviceModel>> make_emulated_device(
    std::string_view name, const std::map<std::string, std::string>& options,
    std::string* error = nullptr);

/// `NAME[,opt=val...]` (the part of an `emu:` target after the colon), split.
struct EmulatedDeviceSpec {
  std::string name;
  std::map<std::string, std::string> options;
};

/// Splits "edu,dma_mask=0xffffffff,dma_delay_us=0". EINVAL (and `error`, if given) for an empty
/// name, an empty item, an item without '=', an empty option name, or an option given twice.
/// Names and values are not checked against the registry here; make_emulated_device() does.
Result<EmulatedDeviceSpec> parse_emulated_device_spec(std::string_view spec,
                                                      std::string* error = nullptr);

/// Both steps: parse_emulated_device_spec() then make_emulated_device().
Result<std::shared_ptr<pci::DeviceModel>> make_emulated_device_from_spec(
    std::string_view spec, std::string* error = nullptr);

}  // namespace uvfio::devices
