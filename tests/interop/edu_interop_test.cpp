// The driver API's vfio-user client against a `uvfio serve edu` process: the device looks the same
// as emu:edu in this process (info, regions, IRQs, config space), the edu driver passes every
// step with the same results, DMA buffers round-trip through the server's device, and the CLI's
// `demo` and `info` work on a vfio-user target as on emu:edu.
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "examples/edu_driver/edu_driver.h"
#include "interop_fixture.h"
#include "uvfio/driver/driver.h"

namespace uvfio::interop {
namespace {

using examples::EduDriverOptions;
using examples::EduReport;
using examples::run_edu_driver;

constexpr const char* kLocalEdu = "emu:edu,dma_delay_us=0,factorial_delay_us=0";

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

using EduOverVfioUser = InteropTest;

TEST_F(EduOverVfioUser, DeviceLooksLikeTheLocalEdu) {
  const driver::Device remote = driver::open(server().target());
  const driver::Device local = driver::open(kLocalEdu);
  EXPECT_EQ(remote.backend(), "vfio-user");
  // The same flags, except that the server can always reset the function it serves alone behind
  // its socket (docs/vfio-user.md: a parent-bus reset; libvfio-user offers RESET too), where the
  // local edu, with neither FLR nor PM, has no reset method.
  EXPECT_EQ(remote.info().flags & ~uint32_t{VFIO_DEVICE_FLAGS_RESET},
            local.info().flags & ~uint32_t{VFIO_DEVICE_FLAGS_RESET});
  EXPECT_TRUE(remote.info().can_reset());
  EXPECT_FALSE(local.info().can_reset());
  remote.reset();
  EXPECT_EQ(remote.info().num_regions, local.info().num_regions);
  EXPECT_EQ(remote.info().num_irqs, local.info().num_irqs);
  for (uint32_t i = 0; i < local.info().num_regions; ++i) {
    SCOPED_TRACE(driver::pci_region_name(i));
    const auto& r = remote.region_info(i);
    const auto& l = local.region_info(i);
    EXPECT_EQ(r.size, l.size);
    // Readable/writable as locally; mmappable only where the server can hand out an fd.
    EXPECT_EQ(r.flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE),
              l.flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE));
  }
  for (uint32_t i = 0; i < local.info().num_irqs; ++i) {
    SCOPED_TRACE(driver::pci_irq_name(i));
    EXPECT_EQ(remote.irq_info(i).count, local.irq_info(i).count);
    EXPECT_EQ(remote.irq_info(i).flags, local.irq_info(i).flags);
  }
  // The whole standard config header and the capability list read the same.
  const driver::Region rc = remote.region(VFIO_PCI_CONFIG_REGION_INDEX);
  const driver::Region lc = local.region(VFIO_PCI_CONFIG_REGION_INDEX);
  std::vector<std::byte> a(256), b(256);
  rc.read_bytes(0, a);
  lc.read_bytes(0, b);
  EXPECT_EQ(a, b);
}

TEST_F(EduOverVfioUser, EduDriverGivesTheSameResultsAsEmuEdu) {
  EduDriverOptions o;
  o.latency_samples = 50;
  o.dma_rounds = 4;
  const EduReport remote = run_edu_driver(server().target(), o);
  const EduReport local = run_edu_driver(kLocalEdu, o);
  ASSERT_TRUE(local.passed()) << examples::format_edu_report(local);
  ASSERT_TRUE(remote.passed()) << examples::format_edu_report(remote) << "\nserver log:\n"
                               << server().log();
  EXPECT_EQ(remote.backend, "vfio-user");
  EXPECT_EQ(remote.irq_mode, local.irq_mode);
  EXPECT_EQ(remote.translates, local.translates);
  ASSERT_EQ(remote.steps.size(), local.steps.size());
  for (size_t i = 0; i < local.steps.size(); ++i) {
    const auto& r = remote.steps[i];
    const auto& l = local.steps[i];
    SCOPED_TRACE(l.name);
    EXPECT_EQ(r.name, l.name);
    EXPECT_EQ(r.passed, l.passed) << r.detail;
    EXPECT_EQ(r.skipped, l.skipped) << r.detail;
  }
  // The values that do not depend on timing or on the transport are identical.
  for (const char* step : {"identify", "liveness", "factorial"}) {
    auto find = [&](const EduReport& rep) {
      return std::find_if(rep.steps.begin(), rep.steps.end(),
                          [&](const examples::EduStep& s) { return s.name == step; });
    };
    const auto r = find(remote);
    const auto l = find(local);
    if (l == local.steps.end()) continue;
    ASSERT_NE(r, remote.steps.end()) << step;
    EXPECT_EQ(r->values, l->values) << step;
  }
  EXPECT_EQ(remote.dma_bytes, local.dma_bytes);
  EXPECT_GT(remote.dma_mb_per_s, 0);
}

TEST_F(EduOverVfioUser, DmaBufferRoundTripThroughTheServersDevice) {
  const driver::Device dev = driver::open(server().target());
  dev.config().enable_memory();
  dev.config().enable_bus_master();
  const driver::DmaSpace dma = dev.dma();
  driver::DmaBuffer buf = driver::DmaBuffer::allocate(8192);
  for (size_t i = 0; i < 4096; ++i) buf.bytes()[i] = static_cast<std::byte>(i * 13 + 1);
  driver::DmaMapOptions mo;
  mo.iova_limit = examples::edu::kDefaultDmaMask;
  const driver::DmaMapping map = dma.map(buf, mo);
  const driver::Region bar0 = dev.bar(0);
  auto dma_run = [&](uint64_t src, uint64_t dst, uint64_t cmd) {
    bar0.write64(examples::edu::kRegDmaSrc, src);
    bar0.write64(examples::edu::kRegDmaDst, dst);
    bar0.write64(examples::edu::kRegDmaCount, 4000);
    bar0.write64(examples::edu::kRegDmaCmd, cmd);
    for (int i = 0; i < 5000 && (bar0.read64(examples::edu::kRegDmaCmd) & 1) != 0; ++i) {
      std::this_thread::sleep_for(1ms);
    }
    ASSERT_EQ(bar0.read64(examples::edu::kRegDmaCmd) & 1, 0u) << "DMA did not complete";
  };
  dma_run(map.iova(), examples::edu::kDmaBuffer, examples::edu::kDmaStart);
  dma_run(examples::edu::kDmaBuffer, map.iova() + 4096,
          examples::edu::kDmaStart | examples::edu::kDmaToRam);
  EXPECT_EQ(std::memcmp(buf.bytes(), buf.bytes() + 4096, 4000), 0);
}

TEST_F(EduOverVfioUser, UvfioDemoOnAVfioUserTarget) {
  const CliRun r = run_cli({"demo", "--target", server().target()});
  EXPECT_TRUE(r.status.exited && r.status.code == 0) << r.status.describe() << "\nstdout:\n"
                                                     << r.out << "\nstderr:\n"
                                                     << r.err << "\nserver log:\n"
                                                     << server().log();
  EXPECT_TRUE(has(r.out, server().target())) << r.out;
  EXPECT_TRUE(has(r.out, "vfio-user")) << r.out;
  EXPECT_TRUE(has(r.out, "0x010000ed")) << r.out;
  EXPECT_FALSE(has(r.out, "FAIL")) << r.out;
}

TEST_F(EduOverVfioUser, UvfioInfoOnAVfioUserTarget) {
  CliRun r = run_cli({"info", server().target()});
  ASSERT_TRUE(r.status.exited && r.status.code == 0) << r.err << "\n" << server().log();
  for (const char* s : {"Device [1234:11e8]", "Region 0: Memory at", "[size=1M]", "BAR0", "CONFIG",
                        "MSI", "INTx"}) {
    EXPECT_TRUE(has(r.out, s)) << "missing '" << s << "' in:\n" << r.out;
  }
  r = run_cli({"info", server().target(), "--json"});
  ASSERT_TRUE(r.status.exited && r.status.code == 0) << r.err;
  const auto remote = nlohmann::json::parse(r.out);
  const CliRun lr = run_cli({"info", kLocalEdu, "--json"});
  ASSERT_TRUE(lr.status.exited && lr.status.code == 0) << lr.err;
  const auto local = nlohmann::json::parse(lr.out);
  EXPECT_EQ(remote["backend"], "vfio-user");
  EXPECT_EQ(remote["config"], local["config"]);
  EXPECT_EQ(remote["config_raw"], local["config_raw"]);
  ASSERT_EQ(remote["regions"].size(), local["regions"].size());
  for (size_t i = 0; i < local["regions"].size(); ++i) {
    EXPECT_EQ(remote["regions"][i]["name"], local["regions"][i]["name"]);
    EXPECT_EQ(remote["regions"][i]["size"], local["regions"][i]["size"]);
  }
  EXPECT_EQ(remote["irqs"], local["irqs"]);
}

TEST_F(EduOverVfioUser, ClientErrorsNameTheCommandAndErrno) {
  const driver::Device dev = driver::open(server().target());
  try {
    (void)dev.bar(0).read32(uint64_t{1} << 20);
    FAIL() << "a read past BAR0 succeeded";
  } catch (const driver::Error& e) {
    EXPECT_EQ(e.error(), EINVAL) << e.what();
    EXPECT_TRUE(has(e.what(), server().target())) << e.what();
  }
  // A second driver on the same socket is refused while this one holds the device.
  EXPECT_THROW((void)driver::open(server().target()), driver::Error);
}

}  // namespace
}  // namespace uvfio::interop
