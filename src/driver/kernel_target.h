// pci: targets — a PCI function bound to the kernel's vfio-pci, opened through the kernel's VFIO
// files (KernelSystem) on the best path the host offers, with the group and cdev found in sysfs.
#pragma once

#include <memory>
#include <string>

#include "uvfio/driver/device.h"
#include "uvfio/driver/target.h"
#include "uvfio/host/sysfs.h"
#include "uvfio/vfio/vfio_system.h"

namespace uvfio::driver::detail {

/// What a pci: target is opened on: the system calls, the host files, and where physical
/// addresses come from. Plain value; tests put an EmulatedSystem and a fake tree here.
struct KernelHost {
  std::shared_ptr<vfio::VfioSystem> sys;  // KernelSystem on a real host
  host::Sysfs fs;                         // root "/" on a real host
  std::string pagemap = "/proc/self/pagemap";

  /// The running kernel: a process-wide KernelSystem, root "/".
  static KernelHost running();
};

/// `pci:[DDDD:]BB:DD.F[,iommu=iommufd|legacy|type1|noiommu]` on the running kernel.
Device open_kernel_target(const Target& target, const OpenOptions& options);

/// The same on `host`. The devices of one IOMMU group share one DMA space (the group opens once
/// per process); options.share_dma_with puts the device's group into another device's space.
/// Errors: see plan_kernel_open(), plus EINVAL (bad address or options, a DMA space of another
/// kind of target or path), EBUSY (the group is already in a different space of this process,
/// or open through another path), and each failing uAPI step by name.
Device open_kernel_target(const Target& target, const OpenOptions& options, const KernelHost& host);

}  // namespace uvfio::driver::detail
