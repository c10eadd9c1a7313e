// The driver-side API in one include: open(target) -> Device, its Regions, PciConfig,
// IrqVectors, DmaSpace and DmaBuffers. Errors are driver::Error exceptions.
#pragma once

#include "uvfio/driver/device.h"      // IWYU pragma: export
#include "uvfio/driver/dma_buffer.h"  // IWYU pragma: export
#include "uvfio/driver/dma_space.h"   // IWYU pragma: export
#include "uvfio/driver/error.h"       // IWYU pragma: export
#include "uvfio/driver/irq.h"         // IWYU pragma: export
#include "uvfio/driver/pci_config.h"  // IWYU pragma: export
#include "uvfio/driver/region.h"      // IWYU pragma: export
#include "uvfio/driver/target.h"      // IWYU pragma: export
