#include "driver/emu_transport.h"

#include <unistd.h>

#include <cerrno>

#include "driver/device_core.h"
#include "driver/vfio_file_transport.h"
#include "uvfio/pci/device_model.h"
#include "vfio/emulated_system.h"

namespace uvfio::driver::detail {
namespace {

/// The emulated device file plus the emulation-only facts.
class EmuTransport : public VfioFileTransport {
 public:
  EmuTransport(OpenedVfioDevice opened, std::shared_ptr<vfio::VfioDeviceOps> ops)
      : VfioFileTransport(std::move(opened.device), std::move(opened.dma), "emulated",
                          kEmulatedDeviceName),
        ops_(std::move(ops)) {}

  std::optional<uint64_t> iommu_faults() const override {
    // The vfio-pci core implements both interfaces; any other device model has no counter.
    if (const auto* bus = dynamic_cast<const pci::DeviceBus*>(ops_.get())) {
      return bus->dma_faults();
    }
    return std::nullopt;
  }

 private:
  std::shared_ptr<vfio::VfioDeviceOps> ops_;
};

std::string process_name() {
  // glibc's name of the running program (<errno.h> with _GNU_SOURCE), for the host's logs.
  return program_invocation_short_name != nullptr ? program_invocation_short_name : "uvfio";
}

}  // namespace

Device open_emulated_ops(const std::string& target_text, std::shared_ptr<vfio::VfioDeviceOps> ops,
                         IommuMode mode, vfio::HostOptions host_options) {
  const bool noiommu = mode == IommuMode::kNoIommu;
  host_options.enable_unsafe_noiommu_mode = noiommu;
  auto host = std::make_shared<vfio::Host>(host_options);
  auto added = host->add_device(
      {kEmulatedDeviceName, vfio::DriverState::kVfio, ops, /*has_iommu=*/!noiommu});
  if (!added) throw Error("add emulated device", target_text, added.error());
  const int group = *added;
  // The opener is privileged, as root is: no-IOMMU needs CAP_SYS_RAWIO, and locked memory is
  // not limited (the emulated host accounts it, but its limit is unlimited by default).
  auto sys = std::make_shared<vfio::EmulatedSystem>(
      host, vfio::Credentials::privileged(process_name(), static_cast<int>(::getpid())));
  OpenedVfioDevice opened;
  switch (mode) {
    case IommuMode::kIommufd:
      opened =
          open_with_iommufd(sys,
                            "/dev/vfio/devices/vfio" +
                                std::to_string(host->device(kEmulatedDeviceName)->cdev_index()),
                            target_text);
      break;
    case IommuMode::kType1:
      opened = open_with_type1(sys, "/dev/vfio/" + std::to_string(group), kEmulatedDeviceName,
                               target_text);
      break;
    case IommuMode::kNoIommu:
      // Emulated devices DMA with process addresses: the bus address of memory is its address.
      opened = open_with_noiommu(
          sys, "/dev/vfio/noiommu-" + std::to_string(group), kEmulatedDeviceName,
          [](const void* va, uint64_t) { return reinterpret_cast<uint64_t>(va); }, target_text);
      break;
  }
  auto transport = std::make_unique<EmuTransport>(std::move(opened), std::move(ops));
  return DeviceAccess::make(std::make_shared<DeviceCore>(target_text, std::move(transport)));
}

}  // namespace uvfio::driver::detail
