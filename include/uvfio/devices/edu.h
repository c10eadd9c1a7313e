// QEMU's `edu` educational PCI device (hw/misc/edu.c), emulated register by register so that one
// driver runs on uvfio's edu and on QEMU's edu behind kernel VFIO. See docs/edu.md for the
// register map and the few deliberate differences from QEMU.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "uvfio/base/result.h"
#include "uvfio/pci/device_model.h"

namespace uvfio::devices {

/// Identity and BAR0 facts of edu, for drivers and tests.
inline constexpr uint16_t kEduVendorId = 0x1234;
inline constexpr uint16_t kEduDeviceId = 0x11e8;
inline constexpr uint8_t kEduRevision = 0x10;
inline constexpr uint32_t kEduClassCode = 0x00ff00;
inline constexpr uint64_t kEduBar0Size = uint64_t{1} << 20;
inline constexpr uint32_t kEduIdentification = 0x010000ed;

/// BAR0 register offsets.
namespace edu_reg {
inline constexpr uint64_t kIdentification = 0x00;
inline constexpr uint64_t kLiveness = 0x04;
inline constexpr uint64_t kFactorial = 0x08;
inline constexpr uint64_t kStatus = 0x20;
inline constexpr uint64_t kIrqStatus = 0x24;
inline constexpr uint64_t kIrqRaise = 0x60;
inline constexpr uint64_t kIrqAck = 0x64;
inline constexpr uint64_t kDmaSrc = 0x80;
inline constexpr uint64_t kDmaDst = 0x88;
inline constexpr uint64_t kDmaCount = 0x90;
inline constexpr uint64_t kDmaCmd = 0x98;
}  // namespace edu_reg

/// Bits and values of the edu registers.
inline constexpr uint32_t kEduStatusComputing = 0x01;  // status: factorial in progress (RO)
inline constexpr uint32_t kEduStatusIrqFact = 0x80;    // status: interrupt when a factorial ends
inline constexpr uint32_t kEduIrqFactorial = 0x001;    // irq_status value of a finished factorial
inline constexpr uint32_t kEduIrqDma = 0x100;          // irq_status value of a finished DMA
inline constexpr uint64_t kEduDmaRun = 0x1;            // DMA command: start / busy
inline constexpr uint64_t kEduDmaToRam = 0x2;  // DMA command: buffer -> bus (else bus -> buffer)
inline constexpr uint64_t kEduDmaIrq = 0x4;    // DMA command: raise kEduIrqDma when done
inline constexpr uint64_t kEduDmaBufferBase = 0x40000;  // device-side address of the DMA buffer
inline constexpr uint64_t kEduDmaBufferSize = 4096;
/// edu's doorbell (vfio::Doorbell): a 4-byte write of this value to kIrqRaise raises a software
/// interrupt with a bit the device itself never uses, so a transport may deliver it through an
/// ioeventfd (uvfio's edu driver raises this very value for its latency figure).
inline constexpr uint32_t kEduDoorbellValue = 0x10000;

/// Construction options; the registry's `emu:edu,...` keys have the same names.
struct EduOptions {
  /// Bus-side DMA addresses are ANDed with this (QEMU's `dma_mask` property, 28 bits by default).
  uint64_t dma_mask = 0x0fffffff;
  /// Delay between a DMA command and the transfer (QEMU: 100 ms of virtual time; uvfio: host
  /// monotonic time). 0 runs the transfer as soon as the DMA thread wakes up. At most kMaxDelay.
  std::chrono::microseconds dma_delay{100'000};
  /// Extra time the factorial worker sleeps before publishing a result (QEMU: none), so tests can
  /// observe the busy window. At most kMaxDelay.
  std::chrono::microseconds factorial_delay{0};

  static constexpr std::chrono::microseconds kMaxDelay{60'000'000};
};

/// A new edu function (1234:11e8 rev 0x10, class 0x00ff00, subsystem 1af4:1100, INTA#, BAR0 a
/// 1 MiB 32-bit MMIO BAR, one MSI capability: 1 vector, 64-bit, no masking), ready to hand to
/// pci::make_vfio_pci_device(). EINVAL if a delay is negative or above kMaxDelay; EAGAIN if its
/// threads cannot be started. The model's DeviceBus must outlive it (or closed() must have been
/// called before the bus goes away).
Result<std::shared_ptr<pci::DeviceModel>> make_edu_device(const EduOptions& options = {});

}  // namespace uvfio::devices
