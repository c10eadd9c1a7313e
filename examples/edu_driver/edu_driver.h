// A user-space driver for QEMU's `edu` device, written only against uvfio's public driver API
// (include/uvfio/driver), so the same code drives uvfio's emulated edu (emu:edu), an edu served
// over vfio-user, or QEMU's real edu through kernel VFIO in a VM (pci:...).
//
// run_edu_driver() opens the device and walks it step by step — identification, liveness, bus
// mastering, factorial polled and by interrupt (MSI, falling back to INTx), interrupt latency,
// a DMA round trip RAM -> device -> RAM through the IOMMU, and a DMA aimed at an unmapped IOVA —
// and returns a structured report that format_edu_report() prints.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace uvfio::driver {
class Device;
}

namespace uvfio::examples {

/// The edu facts a driver relies on (QEMU's hw/misc/edu.c; /work/shared/reference/edu-device.md).
namespace edu {
inline constexpr uint16_t kVendorId = 0x1234;
inline constexpr uint16_t kDeviceId = 0x11e8;
inline constexpr uint32_t kIdentification = 0x010000ed;  // BAR0+0x00
inline constexpr uint64_t kBar0Size = uint64_t{1} << 20;
inline constexpr uint64_t kRegId = 0x00;
inline constexpr uint64_t kRegLiveness = 0x04;
inline constexpr uint64_t kRegFactorial = 0x08;
inline constexpr uint64_t kRegStatus = 0x20;
inline constexpr uint64_t kRegIrqStatus = 0x24;
inline constexpr uint64_t kRegIrqRaise = 0x60;
inline constexpr uint64_t kRegIrqAck = 0x64;
inline constexpr uint64_t kRegDmaSrc = 0x80;
inline constexpr uint64_t kRegDmaDst = 0x88;
inline constexpr uint64_t kRegDmaCount = 0x90;
inline constexpr uint64_t kRegDmaCmd = 0x98;
inline constexpr uint32_t kStatusComputing = 0x01;
inline constexpr uint32_t kStatusIrqOnFactorial = 0x80;
inline constexpr uint32_t kIrqFactorial = 0x001;
inline constexpr uint32_t kIrqDma = 0x100;
inline constexpr uint64_t kDmaStart = 0x1;
inline constexpr uint64_t kDmaToRam = 0x2;
inline constexpr uint64_t kDmaIrq = 0x4;
inline constexpr uint64_t kDmaBuffer = 0x40000;  // the device-side DMA buffer, 4 KiB
/// QEMU 7.2 aborts on a transfer that touches the buffer's last byte (0x40fff) or is empty: the
/// largest transfer safe on every QEMU is 4095 bytes at 0x40000.
inline constexpr uint32_t kMaxSafeDmaCount = 4095;
/// edu's default DMA mask (its dma_mask property): 28 bits.
inline constexpr uint64_t kDefaultDmaMask = 0x0fffffff;
}  // namespace edu

struct EduDriverOptions {
  /// The device's DMA mask: buffers are mapped at IOVAs at or below it (the driver's
  /// dma_set_mask). Must match the device (emu:edu,dma_mask=... changes edu's).
  uint64_t dma_mask = edu::kDefaultDmaMask;
  /// Bytes per DMA transfer: 1..4095 (QEMU 7.2 safety, see kMaxSafeDmaCount).
  uint32_t dma_count = edu::kMaxSafeDmaCount;
  /// DMA round trips timed for the throughput figure.
  unsigned dma_rounds = 8;
  /// Interrupts timed for the latency figure (and eventfd ping-pongs for its floor).
  unsigned latency_samples = 200;
  /// Use INTx even when MSI is available (to exercise the fallback path).
  bool force_intx = false;
  /// Longest wait for any one completion (factorial, interrupt, DMA).
  std::chrono::milliseconds timeout{5000};
};

/// One step of the run.
struct EduStep {
  std::string name;  // "identify", "liveness", ...
  bool passed = false;
  bool skipped = false;             // not applicable on this target (says why in detail)
  std::string detail;               // one line: what was checked or why it failed
  std::vector<std::string> values;  // values read, "BAR0+0x00 identification = 0x010000ed"
  double millis = 0;                // time the step took
};

/// Distribution of a latency measurement, in microseconds.
struct LatencyStats {
  unsigned samples = 0;
  double min_us = 0;
  double median_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

struct EduReport {
  std::string target;
  std::string backend;     // "emulated", ...
  std::string dma_kind;    // "iommufd", "type1v2", "noiommu"
  bool translates = true;  // false under no-IOMMU
  std::string irq_mode;    // "MSI" or "INTx" (empty if interrupts never came up)
  std::vector<EduStep> steps;
  /// MMIO write to 0x60 -> eventfd wake-up of a waiting thread, and the same hand-off over a
  /// raw eventfd (the floor), measured in the same run; ratio = median / floor median.
  std::optional<LatencyStats> irq_latency;
  std::optional<LatencyStats> eventfd_floor;
  double latency_ratio = 0;
  /// Device DMA, RAM -> device and device -> RAM, each transfer timed from the command write to
  /// the completion seen by polling; floor: memcpy of the same size in this process.
  uint32_t dma_bytes = 0;
  double dma_mb_per_s = 0;
  double memcpy_mb_per_s = 0;
  std::optional<uint64_t> iommu_faults;  // after the run, if the transport can tell
  /// Interrupt wake-ups that found no edu interrupt pending (handled as a shared-line handler
  /// would: unmask and wait on).
  unsigned spurious_interrupts = 0;
  /// Set when the run stopped early (the device could not be opened, a step threw).
  std::string fatal;

  /// Every step passed or was skipped, and nothing was fatal.
  bool passed() const;
};

/// Opens `target` and runs every step. Never throws for device errors: they are recorded as a
/// failed step (or `fatal`) in the report.
EduReport run_edu_driver(const std::string& target, const EduDriverOptions& options = {});
/// The same on a device already open.
EduReport run_edu_driver(const driver::Device& device, const EduDriverOptions& options = {});

/// The report as readable text: one line per step with its values, then the figures.
std::string format_edu_report(const EduReport& report);

}  // namespace uvfio::examples
