// The real `uvfio` binary: --help of every command, `info` as text and as JSON (parsed with
// nlohmann-json) on each iommu= path, `demo` exit status and report, and error exits.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#ifndef UVFIO_CLI_PATH
#error "UVFIO_CLI_PATH must name the uvfio binary"
#endif

namespace {

struct Run {
  int status = -1;  // exit status, or -1 if it did not exit normally
  std::string out;
  std::string err;
};

/// Runs the CLI with `args` (shell words, already quoted as needed), capturing both streams.
Run uvfio(const std::string& args) {
  char err_path[] = "/tmp/uvfio-cli-test-XXXXXX";
  const int fd = mkstemp(err_path);
  EXPECT_GE(fd, 0);
  if (fd >= 0) close(fd);
  const std::string cmd = std::string(UVFIO_CLI_PATH) + " " + args + " 2>" + err_path;
  Run r;
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr) << cmd;
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream ef(err_path);
  std::stringstream ss;
  ss << ef.rdbuf();
  r.err = ss.str();
  unlink(err_path);
  return r;
}

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

TEST(Cli, TopLevelHelpListsCommandsTargetsAndDevices) {
  const auto r = uvfio("--help");
  EXPECT_EQ(r.status, 0) << r.err;
  for (const char* s :
       {"demo", "info", "version", "--log", "TARGET names a device", "emu:NAME[,key=value...]",
        "vfio-user:PATH", "pci:DDDD:BB:DD.F", "iommu=iommufd", "iommu=type1", "iommu=noiommu",
        "Emulated devices", "edu", "dma_mask=", "dma_delay_us=", "factorial_delay_us="}) {
    EXPECT_TRUE(has(r.out, s)) << "missing '" << s << "' in:\n" << r.out;
  }
}

TEST(Cli, EveryCommandHasCompleteHelp) {
  struct Expect {
    const char* cmd;
    std::vector<const char*> words;
  };
  const std::vector<Expect> cmds = {
      {"demo",
       {"--intx", "--latency-samples", "--dma-rounds", "--dma-mask", "--timeout-ms", "target",
        "emu:edu,dma_delay_us=0", "TARGET names a device", "dma_delay_us="}},
      {"info", {"--json", "target", "REQUIRED", "lspci -vv", "TARGET names a device", "edu"}},
      {"version", {"Print uvfio's version"}},
  };
  for (const auto& c : cmds) {
    const auto r = uvfio(std::string(c.cmd) + " --help");
    EXPECT_EQ(r.status, 0) << c.cmd << ": " << r.err;
    for (const char* w : c.words) {
      EXPECT_TRUE(has(r.out, w)) << c.cmd << " --help lacks '" << w << "':\n" << r.out;
    }
  }
}

TEST(Cli, UsageErrors) {
  auto r = uvfio("");
  EXPECT_NE(r.status, 0);
  r = uvfio("frobnicate");
  EXPECT_NE(r.status, 0);
  r = uvfio("info");  // TARGET is required
  EXPECT_NE(r.status, 0);
  EXPECT_TRUE(has(r.err + r.out, "target")) << r.err;
  r = uvfio("--log loud version");
  EXPECT_NE(r.status, 0);
  r = uvfio("demo --latency-samples 0");
  EXPECT_NE(r.status, 0);
}

TEST(Cli, Version) {
  const auto r = uvfio("version");
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(has(r.out, "uvfio 0.")) << r.out;
}

TEST(Cli, InfoTextOnEdu) {
  const auto r = uvfio("info emu:edu");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* s : {"Unclassified device [00ff]: Device [1234:11e8] (rev 10)",
                        "Region 0: Memory at", "(32-bit, non-prefetchable)", "[size=1M]",
                        "Capabilities: [40] MSI: Enable- Count=1/1 Maskable- 64bit+",
                        "Interrupt: pin A", "Regions:", "BAR0", "CONFIG", "IRQs:", "INTx", "MSI-X",
                        "EVENTFD", "DMA space:", "type: iommufd", "IOVA ranges:", "page sizes:"}) {
    EXPECT_TRUE(has(r.out, s)) << "missing '" << s << "' in:\n" << r.out;
  }
}

TEST(Cli, InfoJsonOnEduHasTheSameFacts) {
  const auto r = uvfio("info emu:edu --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);  // throws (fails the test) if invalid
  EXPECT_EQ(j["target"], "emu:edu");
  EXPECT_EQ(j["backend"], "emulated");
  const auto& cfg = j["config"];
  EXPECT_EQ(cfg["ids"], "1234:11e8");
  EXPECT_EQ(cfg["vendor_id"], 0x1234);
  EXPECT_EQ(cfg["device_id"], 0x11e8);
  EXPECT_EQ(cfg["class"], "00ff");
  EXPECT_EQ(cfg["revision"], 0x10);
  ASSERT_GE(cfg["bars"].size(), 1u);
  EXPECT_EQ(cfg["bars"][0]["index"], 0);
  EXPECT_EQ(cfg["bars"][0]["type"], "mem32");
  EXPECT_EQ(cfg["bars"][0]["size"], 1u << 20);
  ASSERT_GE(cfg["capabilities"].size(), 1u);
  EXPECT_EQ(cfg["capabilities"][0]["offset"], 0x40);
  EXPECT_EQ(cfg["capabilities"][0]["name"], "MSI");
  EXPECT_EQ(cfg["capabilities"][0]["msi"]["address64"], true);
  EXPECT_EQ(cfg["interrupt"]["pin"], 1);
  EXPECT_TRUE(cfg["problems"].empty()) << cfg["problems"];
  EXPECT_EQ(j["config_raw"].get<std::string>().size(), 512u);  // 256 bytes as hex
  // vfio-pci's 9 regions and 5 IRQ indexes.
  ASSERT_EQ(j["regions"].size(), 9u);
  EXPECT_EQ(j["regions"][0]["name"], "BAR0");
  EXPECT_EQ(j["regions"][0]["size"], 1u << 20);
  EXPECT_EQ(j["regions"][7]["name"], "CONFIG");
  EXPECT_EQ(j["regions"][7]["size"], 256);
  ASSERT_EQ(j["irqs"].size(), 5u);
  EXPECT_EQ(j["irqs"][0]["name"], "INTx");
  EXPECT_EQ(j["irqs"][0]["count"], 1);
  EXPECT_EQ(j["irqs"][1]["name"], "MSI");
  EXPECT_EQ(j["irqs"][1]["count"], 1);
  const auto& flags = j["device"]["flag_names"];
  EXPECT_NE(std::find(flags.begin(), flags.end(), "PCI"), flags.end()) << flags;
  // edu has no reset method (no FLR, no PM, alone on the root bus), so no RESET flag.
  EXPECT_EQ(std::find(flags.begin(), flags.end(), "RESET"), flags.end()) << flags;
  EXPECT_EQ(j["dma"]["kind"], "iommufd");
  EXPECT_EQ(j["dma"]["translates"], true);
  EXPECT_FALSE(j["dma"]["iova_ranges"].empty());
  EXPECT_GT(j["dma"]["page_size"].get<uint64_t>(), 0u);
}

TEST(Cli, InfoJsonOnEachIommuPath) {
  auto r = uvfio("info emu:edu,iommu=type1 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["dma"]["kind"], "type1v2");
  EXPECT_EQ(j["dma"]["translates"], true);
  EXPECT_EQ(j["config"]["ids"], "1234:11e8");

  r = uvfio("info emu:edu,iommu=noiommu --json");
  ASSERT_EQ(r.status, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["dma"]["kind"], "noiommu");
  EXPECT_EQ(j["dma"]["translates"], false);
  r = uvfio("info emu:edu,iommu=noiommu");
  EXPECT_TRUE(has(r.out, "translates: NO")) << r.out;
}

TEST(Cli, InfoErrorsNameTheProblem) {
  auto r = uvfio("info emu:nosuchdevice");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(has(r.err, "uvfio info:")) << r.err;
  EXPECT_TRUE(has(r.err, "nosuchdevice")) << r.err;
  EXPECT_TRUE(has(r.err, "EINVAL")) << r.err;
  r = uvfio("info emu:edu,bogus=1");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(has(r.err, "bogus")) << r.err;
  r = uvfio("info nonsense");
  EXPECT_EQ(r.status, 1);
  EXPECT_FALSE(r.err.empty());
  r = uvfio("info emu:edu,iommu=bogus");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(has(r.err, "iommu=bogus")) << r.err;
  // A pci: target that no host has: the kernel backend names the missing device.
  r = uvfio("info pci:00ff:1f:1f.7");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(has(r.err, "ENODEV")) << r.err;
  EXPECT_TRUE(has(r.err, "no PCI device 00ff:1f:1f.7")) << r.err;
}

TEST(Cli, DemoRunsTheEduDriverAndExitsZero) {
  const auto r = uvfio("demo --latency-samples 50 --dma-rounds 2");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  for (const char* s :
       {"dma_delay_us=0", "shortened", "[ ok ] identify", "0x010000ed", "[ ok ] liveness",
        "[ ok ] factorial (interrupt)", "[ ok ] DMA round trip", "[ ok ] DMA to an unmapped IOVA",
        "interrupt latency (MSI", "floor (raw eventfd", "ratio interrupt / floor", "DMA throughput",
        "IOMMU faults counted", "result: PASS"}) {
    EXPECT_TRUE(has(r.out, s)) << "missing '" << s << "' in:\n" << r.out;
  }
}

TEST(Cli, DemoOnOtherPaths) {
  auto r = uvfio(
      "demo emu:edu,iommu=type1,dma_delay_us=0 --intx --latency-samples 20 "
      "--dma-rounds 1");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, "interrupts: INTx")) << r.out;
  EXPECT_TRUE(has(r.out, "type1v2")) << r.out;
  r = uvfio(
      "demo emu:edu,iommu=noiommu,dma_delay_us=0,dma_mask=0xffffffffffffffff "
      "--dma-mask 0xffffffffffffffff --latency-samples 20 --dma-rounds 1");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_TRUE(has(r.out, "[skip] DMA to an unmapped IOVA")) << r.out;
}

TEST(Cli, DemoFailureExitsNonZeroWithAClearError) {
  auto r = uvfio("demo emu:nosuchdevice");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(has(r.err, "uvfio demo: FAILED")) << r.err;
  EXPECT_TRUE(has(r.out, "result: FAIL")) << r.out;
  // No-IOMMU with edu's 28-bit mask: the buffer cannot be placed where edu reaches.
  r = uvfio("demo emu:edu,iommu=noiommu,dma_delay_us=0 --latency-samples 10 --dma-rounds 1");
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(has(r.out, "[FAIL] DMA round trip")) << r.out;
  EXPECT_TRUE(has(r.err, "DMA round trip")) << r.err;
}

}  // namespace
