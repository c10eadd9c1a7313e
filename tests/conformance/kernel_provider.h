// The kernel provider: builds each scenario's world from the running machine's PCI devices bound
// to vfio-pci (the VM harness boots a kernel with edu and an NVMe device for it).
#pragma once

#include "scenario.h"

namespace uvfio::conformance {

std::unique_ptr<Provider> make_kernel_provider();

}  // namespace uvfio::conformance
