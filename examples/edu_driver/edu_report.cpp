// format_edu_report(): the edu driver's report as text, shared by the example program and
// `uvfio demo`.
#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "examples/edu_driver/edu_driver.h"

namespace uvfio::examples {

namespace {

std::string stats_line(const LatencyStats& s) {
  return fmt::format("median {:.1f} us (min {:.1f}, p99 {:.1f}, max {:.1f}; {} samples)",
                     s.median_us, s.min_us, s.p99_us, s.max_us, s.samples);
}

}  // namespace

std::string format_edu_report(const EduReport& r) {
  std::string out = fmt::format("edu driver on {}", r.target);
  if (!r.backend.empty()) {
    out += fmt::format(" ({} device, {} DMA space{}{})", r.backend, r.dma_kind,
                       r.translates ? "" : " WITHOUT translation",
                       r.irq_mode.empty() ? "" : ", interrupts: " + r.irq_mode);
  }
  out += "\n";
  size_t width = 0;
  for (const auto& s : r.steps) width = std::max(width, s.name.size());
  for (const auto& s : r.steps) {
    const char* tag = s.skipped ? "skip" : s.passed ? " ok " : "FAIL";
    out += fmt::format("  [{}] {:<{}}  {:>7.2f} ms  {}\n", tag, s.name, width, s.millis, s.detail);
    for (const auto& v : s.values) out += fmt::format("           {}\n", v);
  }
  if (r.irq_latency || r.dma_mb_per_s > 0 || r.iommu_faults) out += "figures:\n";
  if (r.irq_latency) {
    out += fmt::format("  interrupt latency ({}; MMIO raise -> eventfd wake-up): {}\n", r.irq_mode,
                       stats_line(*r.irq_latency));
  }
  if (r.eventfd_floor) {
    out += fmt::format("  floor (raw eventfd hand-off between the same threads): {}\n",
                       stats_line(*r.eventfd_floor));
    out += fmt::format("  ratio interrupt / floor (medians): {:.2f}\n", r.latency_ratio);
  }
  if (r.dma_mb_per_s > 0) {
    out += fmt::format(
        "  DMA throughput ({}-byte transfers, command to completion): {:.1f} MB/s; memcpy floor "
        "{:.0f} MB/s; ratio {:.4f}\n",
        r.dma_bytes, r.dma_mb_per_s, r.memcpy_mb_per_s,
        r.memcpy_mb_per_s > 0 ? r.dma_mb_per_s / r.memcpy_mb_per_s : 0.0);
  }
  if (r.spurious_interrupts > 0) {
    out += fmt::format("  interrupt wake-ups with nothing pending (ignored): {}\n",
                       r.spurious_interrupts);
  }
  if (r.iommu_faults) out += fmt::format("  IOMMU faults counted: {}\n", *r.iommu_faults);
  const auto failed =
      std::count_if(r.steps.begin(), r.steps.end(), [](const EduStep& s) { return !s.passed; });
  if (!r.fatal.empty()) out += fmt::format("error: {}\n", r.fatal);
  if (r.passed()) {
    out += fmt::format("result: PASS ({} steps)\n", r.steps.size());
  } else {
    out += fmt::format("result: FAIL ({} of {} steps failed{})\n", failed, r.steps.size(),
                       r.fatal.empty() ? "" : ", run stopped");
  }
  return out;
}

}  // namespace uvfio::examples
