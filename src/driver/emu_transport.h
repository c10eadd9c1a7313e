// The emu: transport — an emulated device on a private emulated host in this process, opened
// through the real uAPI sequence over an EmulatedSystem, exactly as a kernel target is opened
// over KernelSystem.
#pragma once

#include <memory>
#include <string>

#include "driver/vfio_open.h"
#include "uvfio/driver/device.h"
#include "uvfio/driver/target.h"
#include "uvfio/vfio/device_ops.h"
#include "vfio/host.h"

namespace uvfio::driver::detail {

/// The bus address the emulated device gets on its host.
inline constexpr const char* kEmulatedDeviceName = "0000:00:03.0";

/// Opens `ops` (a device already served by a VfioDeviceOps) as target `target_text`: a new Host
/// built from `host_options` (no-IOMMU mode switched on for kNoIommu), the device added to it
/// (without an IOMMU for kNoIommu), an EmulatedSystem with a privileged opener, and the open
/// sequence for `mode`. The seam tests use with a device model of their own.
Device open_emulated_ops(const std::string& target_text, std::shared_ptr<vfio::VfioDeviceOps> ops,
                         IommuMode mode, vfio::HostOptions host_options = {});

/// `emu:NAME[,k=v...]`: takes iommu= from the options, builds NAME from the registry of
/// emulated devices with the rest, serves it with the vfio-pci core and opens it.
Device open_emulated_target(const Target& target);

}  // namespace uvfio::driver::detail
