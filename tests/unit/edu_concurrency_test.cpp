// edu under concurrency (run under TSan): MMIO from several threads while the factorial worker and
// the DMA engine complete; interrupt delivery keeps the INTx level and the MSI count exact; close
// and destruction race with pending and running transfers without touching the bus afterwards.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "fake_device_bus.h"
#include "test_util.h"
#include "uvfio/devices/edu.h"

using namespace uvfio;
using namespace uvfio::devices;
using namespace std::chrono_literals;
using Event = test::FakeDeviceBus::Event;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kRam = 0x100000;
constexpr int kHammerThreads = 4;

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10000ms) {
  const auto end = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > end) return false;
    std::this_thread::yield();
  }
  return true;
}

struct Rig {
  explicit Rig(const EduOptions& o) {
    bus.map(kRam, 0x10000);
    auto r = make_edu_device(o);
    EXPECT_TRUE(r.ok());
    dev = std::move(*r);
    dev->attach(bus);
    dev->opened();
  }
  uint32_t r32(uint64_t off) const { return static_cast<uint32_t>(dev->mmio_read(0, off, 4)); }
  void w32(uint64_t off, uint32_t v) const { dev->mmio_write(0, off, 4, v); }
  void w64(uint64_t off, uint64_t v) const { dev->mmio_write(0, off, 8, v); }

  test::FakeDeviceBus bus;
  std::shared_ptr<pci::DeviceModel> dev;
};

/// Hammers BAR0 from kHammerThreads threads while `main` runs; each thread raises and acks its own
/// bit. Returns the number of raises.
template <class Main>
uint64_t hammer(Rig& rig, Main main) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> raises{0};
  std::atomic<uint64_t> bad_reads{0};
  std::vector<std::thread> threads;
  threads.reserve(kHammerThreads);
  for (int t = 0; t < kHammerThreads; ++t) {
    threads.emplace_back([&, t] {
      const uint32_t bit = 1U << (16 + t);
      uint32_t i = 0;
      while (!stop.load()) {
        rig.w32(edu_reg::kIrqRaise, bit);
        raises.fetch_add(1);
        if ((rig.r32(edu_reg::kIrqStatus) & bit) == 0) bad_reads.fetch_add(1);
        rig.w32(edu_reg::kIrqAck, bit);
        if (rig.r32(edu_reg::kIdentification) != kEduIdentification) bad_reads.fetch_add(1);
        rig.w32(edu_reg::kLiveness, i++);
        (void)rig.r32(edu_reg::kLiveness);
        (void)rig.r32(edu_reg::kStatus);
        (void)rig.dev->mmio_read(0, edu_reg::kDmaCmd, 8);
        // Writes a running transfer must ignore; harmless otherwise (main reprograms each time).
        if (i % 16 == 0) rig.w32(0x1000, i);
      }
    });
  }
  main();
  stop = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad_reads.load(), 0U);
  return raises.load();
}

/// One DMA round trip of `len` bytes through the device buffer, checked; and one factorial.
void round_trips(Rig& rig, int rounds, uint64_t* completions) {
  for (int r = 0; r < rounds; ++r) {
    const uint64_t len = 1 + (r * 37) % 4000;
    std::vector<uint8_t> data(len);
    for (size_t i = 0; i < len; ++i) data[i] = static_cast<uint8_t>(r + i);
    rig.bus.poke(kRam, data);
    rig.w64(edu_reg::kDmaSrc, kRam);
    rig.w64(edu_reg::kDmaDst, kEduDmaBufferBase);
    rig.w64(edu_reg::kDmaCount, len);
    rig.w64(edu_reg::kDmaCmd, kEduDmaRun | kEduDmaIrq);
    ASSERT_TRUE(eventually([&] { return (rig.r32(edu_reg::kIrqStatus) & kEduIrqDma) != 0; }));
    rig.w32(edu_reg::kIrqAck, kEduIrqDma);
    rig.w64(edu_reg::kDmaSrc, kEduDmaBufferBase);
    rig.w64(edu_reg::kDmaDst, kRam + 0x8000);
    rig.w64(edu_reg::kDmaCmd, kEduDmaRun | kEduDmaToRam | kEduDmaIrq);
    ASSERT_TRUE(eventually([&] { return (rig.r32(edu_reg::kIrqStatus) & kEduIrqDma) != 0; }));
    rig.w32(edu_reg::kIrqAck, kEduIrqDma);
    ASSERT_EQ(rig.bus.peek(kRam + 0x8000, len), data) << "round " << r;

    const auto n = static_cast<uint32_t>(r % 14);
    rig.w32(edu_reg::kStatus, kEduStatusIrqFact);
    rig.w32(edu_reg::kFactorial, n);
    ASSERT_TRUE(eventually([&] { return (rig.r32(edu_reg::kIrqStatus) & kEduIrqFactorial) != 0; }));
    uint32_t expect = 1;
    for (uint32_t k = 2; k <= n; ++k) expect *= k;
    EXPECT_EQ(rig.r32(edu_reg::kFactorial), expect);
    rig.w32(edu_reg::kIrqAck, kEduIrqFactorial);
    *completions += 3;
  }
}

TEST(EduConcurrency, IntxLevelFollowsIrqStatus) {
  Rig rig({.dma_delay = 0us});
  uint64_t completions = 0;
  const uint64_t raises = hammer(rig, [&] { round_trips(rig, 40, &completions); });
  EXPECT_GT(raises, 0U);
  EXPECT_EQ(rig.r32(edu_reg::kIrqStatus), 0U);
  // Everything was acked: whatever the interleaving, the last level driven is "deasserted".
  EXPECT_FALSE(rig.bus.intx_level());
  EXPECT_EQ(rig.bus.count(Event::kMsi), 0U);
}

TEST(EduConcurrency, EveryRaiseSendsOneMsi) {
  Rig rig({.dma_delay = 0us});
  rig.bus.msi = true;
  uint64_t completions = 0;
  const uint64_t raises = hammer(rig, [&] { round_trips(rig, 40, &completions); });
  EXPECT_EQ(rig.r32(edu_reg::kIrqStatus), 0U);
  // Every raise had a non-zero value, so every one sent exactly one message.
  EXPECT_TRUE(eventually([&] { return rig.bus.count(Event::kMsi) == raises + completions; }))
      << rig.bus.count(Event::kMsi) << " vs " << raises + completions;
  EXPECT_EQ(rig.bus.count(Event::kIntx), 0U);
}

TEST(EduConcurrency, FactorialWritesRace) {
  Rig rig({.factorial_delay = 2ms});
  for (int round = 0; round < 20; ++round) {
    std::vector<std::thread> threads;
    threads.reserve(4);
    for (uint32_t t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] { rig.w32(edu_reg::kFactorial, 3 + t); });
    }
    for (auto& th : threads) th.join();
    ASSERT_TRUE(eventually([&] { return (rig.r32(edu_reg::kStatus) & 1) == 0; }));
    const uint32_t v = rig.r32(edu_reg::kFactorial);
    EXPECT_TRUE(v == 6 || v == 24 || v == 120 || v == 720) << v;  // one input won
  }
}

TEST(EduConcurrency, DestroyWhileDmaPendingOrRunning) {
  for (int i = 0; i < 60; ++i) {
    auto rig =
        std::make_unique<Rig>(EduOptions{.dma_delay = std::chrono::microseconds(i % 6 * 100)});
    rig->bus.msi = (i % 2) != 0;
    std::thread mmio([&] {
      for (int k = 0; k < 50; ++k) rig->w32(edu_reg::kIrqRaise, 1);
    });
    rig->w64(edu_reg::kDmaSrc, kRam);
    rig->w64(edu_reg::kDmaDst, kEduDmaBufferBase);
    rig->w64(edu_reg::kDmaCount, 4096);
    rig->w64(edu_reg::kDmaCmd, kEduDmaRun | kEduDmaIrq);
    rig->w32(edu_reg::kStatus, kEduStatusIrqFact);
    rig->w32(edu_reg::kFactorial, 12);
    std::this_thread::sleep_for(std::chrono::microseconds(i * 10));
    mmio.join();
    // Destroy the model while the bus lives on: nothing may reach the bus afterwards.
    std::shared_ptr<pci::DeviceModel> dev = std::move(rig->dev);
    dev.reset();
    rig->bus.forbid();
    std::this_thread::sleep_for(200us);
    EXPECT_EQ(rig->bus.violations(), 0U) << i;
  }
}

TEST(EduConcurrency, CloseRacesWithTransfers) {
  for (int i = 0; i < 60; ++i) {
    Rig rig({.dma_delay = std::chrono::microseconds(i % 4 * 200)});
    rig.w64(edu_reg::kDmaSrc, kRam);
    rig.w64(edu_reg::kDmaDst, kEduDmaBufferBase);
    rig.w64(edu_reg::kDmaCount, 4096);
    rig.w64(edu_reg::kDmaCmd, kEduDmaRun | kEduDmaIrq);
    rig.w32(edu_reg::kStatus, kEduStatusIrqFact);
    rig.w32(edu_reg::kFactorial, 10);
    std::this_thread::sleep_for(std::chrono::microseconds(i * 15));
    rig.dev->closed();
    rig.bus.forbid();
    // Completed or cancelled, the engine is idle once close() returned, and stays off the bus.
    EXPECT_EQ(rig.dev->mmio_read(0, edu_reg::kDmaCmd, 8) & kEduDmaRun, 0U) << i;
    ASSERT_TRUE(eventually([&] { return (rig.r32(edu_reg::kStatus) & 1) == 0; }));
    std::this_thread::sleep_for(200us);
    EXPECT_EQ(rig.bus.violations(), 0U) << i;
  }
}

}  // namespace
