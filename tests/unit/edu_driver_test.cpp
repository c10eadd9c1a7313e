// The edu driver example end to end against uvfio's emulated edu, on each DMA path: iommufd,
// type1, and no-IOMMU (where edu can only DMA once its 28-bit mask is widened, because the bus
// addresses are process addresses). Threaded (the latency step and the device's workers), so
// it runs under TSan too.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "examples/edu_driver/edu_driver.h"
#include "uvfio/driver/driver.h"

namespace uvfio::examples {
namespace {

const EduStep* find_step(const EduReport& r, const std::string& name) {
  auto it = std::find_if(r.steps.begin(), r.steps.end(),
                         [&](const EduStep& s) { return s.name == name; });
  return it == r.steps.end() ? nullptr : &*it;
}

EduDriverOptions quick() {
  EduDriverOptions o;
  o.latency_samples = 50;
  o.dma_rounds = 2;
  return o;
}

/// Every step the driver runs on a translating DMA space with interrupts.
const char* const kAllSteps[] = {"identify",
                                 "liveness",
                                 "bus master",
                                 "factorial (polled)",
                                 "interrupt setup",
                                 "factorial (interrupt)",
                                 "interrupt latency",
                                 "DMA round trip",
                                 "DMA throughput",
                                 "DMA to an unmapped IOVA",
                                 "release"};

void expect_full_pass(const EduReport& r) {
  EXPECT_TRUE(r.passed()) << format_edu_report(r);
  EXPECT_TRUE(r.fatal.empty()) << r.fatal;
  ASSERT_EQ(r.steps.size(), std::size(kAllSteps)) << format_edu_report(r);
  for (size_t i = 0; i < r.steps.size(); ++i) {
    EXPECT_EQ(r.steps[i].name, kAllSteps[i]);
    EXPECT_TRUE(r.steps[i].passed) << r.steps[i].name << ": " << r.steps[i].detail;
  }
}

TEST(EduDriver, IommufdWithMsi) {
  const auto r = run_edu_driver("emu:edu,dma_delay_us=0", quick());
  expect_full_pass(r);
  EXPECT_EQ(r.backend, "emulated");
  EXPECT_EQ(r.dma_kind, "iommufd");
  EXPECT_TRUE(r.translates);
  EXPECT_EQ(r.irq_mode, "MSI");
  // The values read are in the report.
  const auto* id = find_step(r, "identify");
  ASSERT_NE(id, nullptr);
  ASSERT_GE(id->values.size(), 3u);
  EXPECT_NE(id->values[0].find("1234:11e8"), std::string::npos) << id->values[0];
  EXPECT_NE(id->values[2].find("0x010000ed"), std::string::npos) << id->values[2];
  // The stray DMA was refused and counted, not skipped.
  const auto* stray = find_step(r, "DMA to an unmapped IOVA");
  ASSERT_NE(stray, nullptr);
  EXPECT_FALSE(stray->skipped);
  ASSERT_TRUE(r.iommu_faults.has_value());
  EXPECT_GE(*r.iommu_faults, 1u);
  // Figures were measured.
  ASSERT_TRUE(r.irq_latency && r.eventfd_floor);
  EXPECT_EQ(r.irq_latency->samples, 50u);
  EXPECT_GT(r.irq_latency->median_us, 0);
  EXPECT_GT(r.eventfd_floor->median_us, 0);
  EXPECT_GT(r.latency_ratio, 0);
  EXPECT_LE(r.irq_latency->min_us, r.irq_latency->median_us);
  EXPECT_LE(r.irq_latency->median_us, r.irq_latency->max_us);
  EXPECT_GT(r.dma_mb_per_s, 0);
  EXPECT_GT(r.memcpy_mb_per_s, 0);
  EXPECT_EQ(r.dma_bytes, edu::kMaxSafeDmaCount);
}

TEST(EduDriver, Type1WithMsi) {
  const auto r = run_edu_driver("emu:edu,iommu=type1,dma_delay_us=0", quick());
  expect_full_pass(r);
  EXPECT_EQ(r.dma_kind, "type1v2");
  EXPECT_EQ(r.irq_mode, "MSI");
  ASSERT_TRUE(r.iommu_faults.has_value());
  EXPECT_GE(*r.iommu_faults, 1u);
}

TEST(EduDriver, IntxFallbackPathOnBothIommus) {
  for (const char* t : {"emu:edu,dma_delay_us=0", "emu:edu,iommu=type1,dma_delay_us=0"}) {
    auto o = quick();
    o.force_intx = true;
    const auto r = run_edu_driver(t, o);
    SCOPED_TRACE(t);
    expect_full_pass(r);
    EXPECT_EQ(r.irq_mode, "INTx");
  }
}

// No-IOMMU: the device sees process addresses, far above edu's default 28-bit DMA mask, so the
// driver cannot place its buffer where edu could reach it: the DMA step fails with ERANGE and
// says why. Widening edu's mask (on the device and in the driver) makes the round trip work; the
// stray-DMA step is then skipped, because without an IOMMU nothing would stop it.
TEST(EduDriver, NoIommuNeedsAWideDmaMask) {
  auto narrow = run_edu_driver("emu:edu,iommu=noiommu,dma_delay_us=0", quick());
  EXPECT_FALSE(narrow.passed());
  EXPECT_FALSE(narrow.translates);
  EXPECT_EQ(narrow.dma_kind, "noiommu");
  const auto* rt = find_step(narrow, "DMA round trip");
  ASSERT_NE(rt, nullptr) << format_edu_report(narrow);
  EXPECT_FALSE(rt->passed);
  EXPECT_NE(rt->detail.find("ERANGE"), std::string::npos) << rt->detail;
  // Everything not needing DMA still worked.
  EXPECT_TRUE(find_step(narrow, "factorial (interrupt)")->passed);

  auto o = quick();
  o.dma_mask = ~uint64_t{0};
  const auto r =
      run_edu_driver("emu:edu,iommu=noiommu,dma_delay_us=0,dma_mask=0xffffffffffffffff", o);
  EXPECT_TRUE(r.passed()) << format_edu_report(r);
  EXPECT_FALSE(r.translates);
  const auto* stray = find_step(r, "DMA to an unmapped IOVA");
  ASSERT_NE(stray, nullptr);
  EXPECT_TRUE(stray->skipped);
  EXPECT_TRUE(find_step(r, "DMA round trip")->passed);
}

// QEMU's timing: the DMA completes 100 ms after the command, by interrupt and by polling.
TEST(EduDriver, DefaultDmaDelay) {
  auto o = quick();
  o.dma_rounds = 1;
  o.latency_samples = 10;
  const auto r = run_edu_driver("emu:edu", o);
  expect_full_pass(r);
  const auto* rt = find_step(r, "DMA round trip");
  ASSERT_NE(rt, nullptr);
  EXPECT_GE(rt->millis, 190.0) << "two transfers of 100 ms each";
}

TEST(EduDriver, RunsOnAnAlreadyOpenDevice) {
  const driver::Device dev = driver::open("emu:edu,dma_delay_us=0");
  const auto r = run_edu_driver(dev, quick());
  expect_full_pass(r);
  EXPECT_EQ(r.target, "emu:edu,dma_delay_us=0");
  // The driver released what it took: bus mastering off, interrupts disabled.
  EXPECT_FALSE(dev.config().bus_master());
  // A second run on the same device works too (state left clean).
  expect_full_pass(run_edu_driver(dev, quick()));
}

TEST(EduDriver, ErrorsAreReportedNotThrown) {
  auto r = run_edu_driver("emu:nosuchdevice", quick());
  EXPECT_FALSE(r.passed());
  EXPECT_NE(r.fatal.find("EINVAL"), std::string::npos) << r.fatal;
  EXPECT_NE(format_edu_report(r).find("result: FAIL"), std::string::npos);

  r = run_edu_driver("nonsense", quick());
  EXPECT_FALSE(r.passed());
  EXPECT_FALSE(r.fatal.empty());

  auto o = quick();
  o.dma_count = edu::kMaxSafeDmaCount + 1;  // would touch 0x40fff: QEMU 7.2 aborts
  r = run_edu_driver("emu:edu", o);
  EXPECT_FALSE(r.passed());
  EXPECT_NE(r.fatal.find("4095"), std::string::npos) << r.fatal;
}

TEST(EduDriver, ReportText) {
  const auto r = run_edu_driver("emu:edu,dma_delay_us=0", quick());
  const std::string text = format_edu_report(r);
  for (const char* s : kAllSteps) EXPECT_NE(text.find(s), std::string::npos) << s;
  EXPECT_NE(text.find("interrupt latency (MSI"), std::string::npos) << text;
  EXPECT_NE(text.find("floor (raw eventfd"), std::string::npos) << text;
  EXPECT_NE(text.find("DMA throughput"), std::string::npos) << text;
  EXPECT_NE(text.find("result: PASS (11 steps)"), std::string::npos) << text;

  // A failing run says FAIL and which step.
  EduReport bad = r;
  bad.steps[1].passed = false;
  bad.steps[1].detail = "liveness read 0x0 after writing 0x1";
  const std::string failed = format_edu_report(bad);
  EXPECT_NE(failed.find("[FAIL] liveness"), std::string::npos) << failed;
  EXPECT_NE(failed.find("result: FAIL (1 of 11 steps failed)"), std::string::npos) << failed;
}

}  // namespace
}  // namespace uvfio::examples
