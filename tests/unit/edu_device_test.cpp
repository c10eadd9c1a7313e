// The edu device register by register (docs/edu.md, QEMU's hw/misc/edu.c), driven through the
// DeviceModel interface with a fake bus; and the emulated-device registry.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "devices/edu_device.h"
#include "devices/edu_factorial_worker.h"
#include "fake_device_bus.h"
#include "test_util.h"
#include "uvfio/devices/edu.h"
#include "uvfio/devices/registry.h"

using namespace uvfio;
using namespace uvfio::devices;
using namespace std::chrono_literals;
using Event = test::FakeDeviceBus::Event;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kRam = 0x100000;  // a mapped IOVA window of the fake bus
constexpr size_t kRamSize = 0x4000;
const Event kIntxOn{Event::kIntx, 1};
const Event kIntxOff{Event::kIntx, 0};
const Event kMsi0{Event::kMsi, 0};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5000ms) {
  const auto end = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(100us);
  }
  return true;
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 13);
  return v;
}

class EduTest : public ::testing::Test {
 protected:
  void SetUp() override { make({.dma_delay = 0us}); }

  void make(const EduOptions& o) {
    dev.reset();
    auto r = make_edu_device(o);
    ASSERT_OK(r);
    dev = std::move(*r);
    bus.map(kRam, kRamSize);
    dev->attach(bus);
    dev->opened();
  }
  EduDevice& edu() { return static_cast<EduDevice&>(*dev); }

  uint32_t r32(uint64_t off) { return static_cast<uint32_t>(dev->mmio_read(0, off, 4)); }
  uint64_t r64(uint64_t off) { return dev->mmio_read(0, off, 8); }
  void w32(uint64_t off, uint32_t v) { dev->mmio_write(0, off, 4, v); }
  void w64(uint64_t off, uint64_t v) { dev->mmio_write(0, off, 8, v); }

  bool dma_idle() { return (r32(edu_reg::kDmaCmd) & kEduDmaRun) == 0; }
  bool fact_idle() { return (r32(edu_reg::kStatus) & kEduStatusComputing) == 0; }

  /// Programs and starts a transfer, waits for it to complete.
  void dma(uint64_t src, uint64_t dst, uint64_t count, uint64_t cmd) {
    w64(edu_reg::kDmaSrc, src);
    w64(edu_reg::kDmaDst, dst);
    w64(edu_reg::kDmaCount, count);
    w64(edu_reg::kDmaCmd, cmd);
    ASSERT_TRUE(eventually([&] { return dma_idle(); }));
  }
  std::vector<uint8_t> buffer(size_t off, size_t len) {
    const auto b = edu().dma_buffer();
    std::vector<uint8_t> v(len);
    std::memcpy(v.data(), b.data() + off, len);
    return v;
  }
  uint32_t factorial(uint32_t n) {
    w32(edu_reg::kFactorial, n);
    EXPECT_TRUE(eventually([&] { return fact_idle(); }));
    return r32(edu_reg::kFactorial);
  }

  test::FakeDeviceBus bus;  // declared first: outlives the device
  std::shared_ptr<pci::DeviceModel> dev;
};

// --- identity and layout ---

TEST_F(EduTest, LayoutIsQemuEdu) {
  const pci::DeviceLayout l = dev->layout();
  EXPECT_EQ(l.vendor_id, 0x1234);
  EXPECT_EQ(l.device_id, 0x11e8);
  EXPECT_EQ(l.revision, 0x10);
  EXPECT_EQ(l.class_code, 0x00ff00U);
  EXPECT_EQ(l.subsystem_vendor_id, 0x1af4);
  EXPECT_EQ(l.subsystem_id, 0x1100);
  EXPECT_EQ(l.interrupt_pin, 1);
  EXPECT_EQ(l.rom_size, 0U);
  EXPECT_EQ(l.name, "edu");
  EXPECT_EQ(l.bars[0].type, pci::BarType::kMem32);
  EXPECT_EQ(l.bars[0].size, 1U << 20);
  EXPECT_FALSE(l.bars[0].prefetchable);
  EXPECT_FALSE(l.bars[0].memory_backed);
  for (unsigned i = 1; i < 6; ++i) EXPECT_EQ(l.bars[i].type, pci::BarType::kNone) << i;
  ASSERT_EQ(l.capabilities.size(), 1U);
  const auto* msi = std::get_if<pci::MsiSpec>(&l.capabilities[0]);
  ASSERT_NE(msi, nullptr);
  EXPECT_EQ(msi->vectors, 1U);
  EXPECT_TRUE(msi->address64);
  EXPECT_FALSE(msi->per_vector_mask);
}

TEST_F(EduTest, IdentificationIsReadOnly) {
  EXPECT_EQ(r32(0x00), 0x010000edU);
  w32(0x00, 0x12345678);
  EXPECT_EQ(r32(0x00), 0x010000edU);
}

TEST_F(EduTest, LivenessStoresBitwiseNot) {
  EXPECT_EQ(r32(edu_reg::kLiveness), 0U);
  w32(edu_reg::kLiveness, 0x12345678);
  EXPECT_EQ(r32(edu_reg::kLiveness), ~0x12345678U);
  w32(edu_reg::kLiveness, 0);
  EXPECT_EQ(r32(edu_reg::kLiveness), 0xffffffffU);
  w32(edu_reg::kLiveness, 0xffffffff);
  EXPECT_EQ(r32(edu_reg::kLiveness), 0U);
}

// --- factorial ---

TEST(EduFactorial, Uint32Arithmetic) {
  EXPECT_EQ(EduFactorialWorker::factorial(0), 1U);
  EXPECT_EQ(EduFactorialWorker::factorial(1), 1U);
  EXPECT_EQ(EduFactorialWorker::factorial(5), 120U);
  EXPECT_EQ(EduFactorialWorker::factorial(12), 479001600U);
  EXPECT_EQ(EduFactorialWorker::factorial(13), 0x7328cc00U);
  // Reference values of the full uint32 loop QEMU runs.
  uint32_t r = 1;
  for (uint32_t n = 1; n <= 40; ++n) {
    r *= n;
    EXPECT_EQ(EduFactorialWorker::factorial(n), r) << n;
  }
  EXPECT_EQ(EduFactorialWorker::factorial(0xffffffff), 0U);
}

TEST_F(EduTest, FactorialThroughRegisters) {
  EXPECT_EQ(factorial(0), 1U);
  EXPECT_EQ(factorial(5), 120U);
  EXPECT_EQ(factorial(12), 479001600U);
  EXPECT_EQ(factorial(13), 0x7328cc00U);
  EXPECT_EQ(factorial(0xffffffff), 0U);
  EXPECT_TRUE(bus.events().empty()) << "no interrupt without status bit 7";
}

TEST_F(EduTest, FactorialBusyWindow) {
  make({.dma_delay = 0us, .factorial_delay = 300ms});
  w32(edu_reg::kFactorial, 5);
  EXPECT_EQ(r32(edu_reg::kStatus), kEduStatusComputing);
  EXPECT_EQ(r32(edu_reg::kFactorial), 5U) << "the input reads back while computing";
  w32(edu_reg::kFactorial, 7);  // ignored while busy
  EXPECT_EQ(r32(edu_reg::kFactorial), 5U);
  // Bit 0 is read-only: writing the status register neither clears it nor loses bit 7.
  w32(edu_reg::kStatus, 0x80);
  EXPECT_EQ(r32(edu_reg::kStatus), 0x81U);
  w32(edu_reg::kStatus, 0x00);
  EXPECT_EQ(r32(edu_reg::kStatus), 0x01U);
  ASSERT_TRUE(eventually([&] { return fact_idle(); }));
  EXPECT_EQ(r32(edu_reg::kFactorial), 120U);
  EXPECT_EQ(r32(edu_reg::kStatus), 0U);
  EXPECT_EQ(factorial(7), 5040U) << "accepted again once idle";
}

TEST_F(EduTest, StatusOnlyBit7Writable) {
  w32(edu_reg::kStatus, 0xffffffff);
  EXPECT_EQ(r32(edu_reg::kStatus), 0x80U);
  w32(edu_reg::kStatus, 0x7f);  // bit 7 clear: clears it, bit 0 is not set by a write
  EXPECT_EQ(r32(edu_reg::kStatus), 0U);
  w32(edu_reg::kStatus, 0x01);
  EXPECT_EQ(r32(edu_reg::kStatus), 0U);
  w32(edu_reg::kStatus, 0x180);
  EXPECT_EQ(r32(edu_reg::kStatus), 0x80U);
}

TEST_F(EduTest, FactorialInterruptWithStatusBit7) {
  w32(edu_reg::kStatus, kEduStatusIrqFact);
  w32(edu_reg::kFactorial, 4);
  ASSERT_TRUE(eventually([&] { return r32(edu_reg::kIrqStatus) == kEduIrqFactorial; }));
  EXPECT_TRUE(fact_idle()) << "bit 0 clears before the interrupt";
  EXPECT_EQ(r32(edu_reg::kFactorial), 24U);
  EXPECT_EQ(bus.events(), (std::vector<Event>{kIntxOn}));
  w32(edu_reg::kIrqAck, kEduIrqFactorial);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 0U);
  EXPECT_EQ(bus.events(), (std::vector<Event>{kIntxOn, kIntxOff}));
  // Bit 7 stays set: the next one interrupts too, by MSI once it is enabled.
  bus.msi = true;
  bus.clear_events();
  w32(edu_reg::kFactorial, 3);
  ASSERT_TRUE(eventually([&] { return r32(edu_reg::kIrqStatus) == kEduIrqFactorial; }));
  EXPECT_EQ(bus.events(), (std::vector<Event>{kMsi0}));
}

// --- interrupts ---

TEST_F(EduTest, RaiseAndAckIntx) {
  EXPECT_EQ(r32(edu_reg::kIrqRaise), 0xffffffffU) << "write-only";
  EXPECT_EQ(r32(edu_reg::kIrqAck), 0xffffffffU) << "write-only";
  w32(edu_reg::kIrqRaise, 0);  // nothing pending: no interrupt
  EXPECT_TRUE(bus.events().empty());
  w32(edu_reg::kIrqRaise, 0x5);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 0x5U);
  EXPECT_EQ(bus.events(), (std::vector<Event>{kIntxOn}));
  w32(edu_reg::kIrqRaise, 0x2);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 0x7U);
  EXPECT_EQ(bus.events(), (std::vector<Event>{kIntxOn, kIntxOn}));
  w32(edu_reg::kIrqAck, 0x1);  // something left: the line stays up
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 0x6U);
  EXPECT_EQ(bus.events().size(), 2U);
  w32(edu_reg::kIrqAck, 0xffffffff);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 0U);
  EXPECT_EQ(bus.events(), (std::vector<Event>{kIntxOn, kIntxOn, kIntxOff}));
  EXPECT_FALSE(bus.intx_level());
  w32(edu_reg::kIrqStatus, 0x8);  // irq_status is read-only
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 0U);
}

TEST_F(EduTest, RaiseAndAckMsi) {
  bus.msi = true;
  w32(edu_reg::kIrqRaise, 0);
  EXPECT_TRUE(bus.events().empty()) << "raise of 0 with nothing pending sends nothing";
  w32(edu_reg::kIrqRaise, 0x10);
  w32(edu_reg::kIrqRaise, 0x10);  // already pending: sends again
  w32(edu_reg::kIrqRaise, 0);     // 0 while pending: sends again
  EXPECT_EQ(bus.events(), (std::vector<Event>{kMsi0, kMsi0, kMsi0}));
  w32(edu_reg::kIrqAck, 0x10);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 0U);
  EXPECT_EQ(bus.events().size(), 3U) << "nothing sent on ack under MSI";
  EXPECT_EQ(bus.count(Event::kIntx), 0U);
}

TEST_F(EduTest, AckUnderMsiLeavesIntxAsserted) {
  w32(edu_reg::kIrqRaise, 1);
  bus.msi = true;  // the driver switches to MSI with INTx still up
  w32(edu_reg::kIrqAck, 1);
  EXPECT_EQ(bus.events(), (std::vector<Event>{kIntxOn})) << "QEMU skips the lower under MSI";
  EXPECT_TRUE(bus.intx_level());
}

// --- BAR0 access rules ---

TEST_F(EduTest, NarrowAndUnalignedAccessesRejected) {
  w32(edu_reg::kLiveness, 0);  // reads 0xffffffff
  for (unsigned size : {1U, 2U}) {
    for (uint64_t off : {0x00, 0x04, 0x05, 0x80, 0xa0}) {
      EXPECT_EQ(dev->mmio_read(0, off, size), 0U) << size << "@" << off;
    }
    dev->mmio_write(0, edu_reg::kLiveness, size, 0x1234);
    EXPECT_EQ(r32(edu_reg::kLiveness), 0xffffffffU) << size;
  }
  // Unaligned 4- and 8-byte accesses are dropped by QEMU's memory core (read 0).
  EXPECT_EQ(dev->mmio_read(0, 0x02, 4), 0U);
  EXPECT_EQ(dev->mmio_read(0, 0x06, 4), 0U);
  EXPECT_EQ(dev->mmio_read(0, 0x84, 8), 0U);
  EXPECT_EQ(dev->mmio_read(0, 0x04, 8), 0U);
  dev->mmio_write(0, 0x06, 4, 0);
  dev->mmio_write(0, 0x02, 4, 0);
  EXPECT_EQ(r32(edu_reg::kLiveness), 0xffffffffU);
  w64(edu_reg::kDmaSrc, 0x1000);
  dev->mmio_write(0, 0x84, 8, 0x2000);
  dev->mmio_write(0, 0x81, 4, 0x3000);
  EXPECT_EQ(r64(edu_reg::kDmaSrc), 0x1000U);
}

TEST_F(EduTest, EightBytesBelow0x80AllOnesAndIgnored) {
  EXPECT_EQ(r64(0x00), ~uint64_t{0});
  EXPECT_EQ(r64(0x08), ~uint64_t{0});
  EXPECT_EQ(r64(0x20), ~uint64_t{0});
  EXPECT_EQ(r64(0x78), ~uint64_t{0});
  w64(0x00, 0);  // covers identification and liveness: ignored
  w64(0x08, 5);
  w64(0x60, 1);
  EXPECT_EQ(r32(edu_reg::kLiveness), 0U);
  EXPECT_EQ(r32(edu_reg::kStatus), 0U) << "no factorial started";
  EXPECT_EQ(r32(edu_reg::kFactorial), 0U);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 0U);
  EXPECT_TRUE(bus.events().empty());
}

TEST_F(EduTest, UndecodedOffsetsReadAllOnes) {
  for (uint64_t off :
       {0x0cULL, 0x10ULL, 0x1cULL, 0x28ULL, 0x40ULL, 0x5cULL, 0x68ULL, 0x7cULL, 0x84ULL, 0x8cULL,
        0x94ULL, 0x9cULL, 0xa0ULL, 0x100ULL, 0x40000ULL, 0x40ffcULL, 0xffffcULL}) {
    EXPECT_EQ(r32(off), 0xffffffffU) << std::hex << off;
    w32(off, 0);
    EXPECT_EQ(r32(off), 0xffffffffU) << std::hex << off;
  }
  EXPECT_EQ(r64(0xa0), ~uint64_t{0});
  EXPECT_EQ(r64(0x40000), ~uint64_t{0});
  EXPECT_EQ(r64(0xffff8), ~uint64_t{0});
  // The writes above went nowhere.
  EXPECT_EQ(r32(edu_reg::kIdentification), kEduIdentification);
  EXPECT_EQ(r32(edu_reg::kLiveness), 0U);
  EXPECT_EQ(r64(edu_reg::kDmaSrc), 0U);
  EXPECT_EQ(r64(edu_reg::kDmaCmd), 0U);
  EXPECT_TRUE(bus.events().empty());
  EXPECT_TRUE(bus.dma_calls().empty());
}

TEST_F(EduTest, DmaRegistersAre64Bit) {
  for (uint64_t reg : {edu_reg::kDmaSrc, edu_reg::kDmaDst, edu_reg::kDmaCount}) {
    w64(reg, 0x123456789abcdef0);
    EXPECT_EQ(r64(reg), 0x123456789abcdef0U);
    EXPECT_EQ(r32(reg), 0x9abcdef0U) << "4-byte read: the low half";
    EXPECT_EQ(r32(reg + 4), 0xffffffffU) << "the high half is not decoded";
    w32(reg + 4, 0x11111111);  // does nothing
    EXPECT_EQ(r64(reg), 0x123456789abcdef0U);
    w32(reg, 0x55aa55aa);  // zero-extended
    EXPECT_EQ(r64(reg), 0x55aa55aaU);
  }
}

TEST_F(EduTest, OtherBarsAndOutOfRange) {
  EXPECT_EQ(dev->mmio_read(1, 0, 4), 0xffffffffU);
  EXPECT_EQ(dev->mmio_read(0, kEduBar0Size, 4), 0xffffffffU);
  dev->mmio_write(1, edu_reg::kLiveness, 4, 0);
  EXPECT_EQ(r32(edu_reg::kLiveness), 0U);
}

// --- DMA ---

TEST_F(EduTest, DmaRoundTrip) {
  const auto data = pattern(100, 3);
  bus.poke(kRam, data);
  dma(kRam, kEduDmaBufferBase, 100, kEduDmaRun | kEduDmaIrq);
  EXPECT_EQ(buffer(0, 100), data);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), kEduIrqDma);
  EXPECT_EQ(bus.events(), (std::vector<Event>{kIntxOn}));
  EXPECT_EQ(r64(edu_reg::kDmaCmd), kEduDmaIrq) << "only bit 0 clears";
  w32(edu_reg::kIrqAck, kEduIrqDma);

  dma(kEduDmaBufferBase, kRam + 200, 100, 7);
  EXPECT_EQ(r64(edu_reg::kDmaCmd), 6U) << "7 reads back 6";
  EXPECT_EQ(bus.peek(kRam + 200, 100), data);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), kEduIrqDma);
  // The registers keep the last transfer's values.
  EXPECT_EQ(r64(edu_reg::kDmaSrc), kEduDmaBufferBase);
  EXPECT_EQ(r64(edu_reg::kDmaDst), kRam + 200);
  EXPECT_EQ(r64(edu_reg::kDmaCount), 100U);
  const auto calls = bus.dma_calls();
  ASSERT_EQ(calls.size(), 2U);
  EXPECT_FALSE(calls[0].write);
  EXPECT_EQ(calls[0].iova, kRam);
  EXPECT_TRUE(calls[1].write);
  EXPECT_EQ(calls[1].iova, kRam + 200);
}

TEST_F(EduTest, DmaWithoutIrqBitRaisesNothing) {
  dma(kRam, kEduDmaBufferBase + 8, 16, kEduDmaRun);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 0U);
  EXPECT_TRUE(bus.events().empty());
  EXPECT_EQ(r64(edu_reg::kDmaCmd), 0U);
}

TEST_F(EduTest, DmaWholeBufferAndOffsets) {
  bus.map(0x200000, 0x2000);
  const auto data = pattern(4096, 9);
  bus.poke(0x200000, data);
  dma(0x200000, kEduDmaBufferBase, 4096, kEduDmaRun);  // all 4 KiB: allowed by QEMU 10.x
  EXPECT_EQ(buffer(0, 4096), data);
  dma(kEduDmaBufferBase + 4000, 0x201000, 96, kEduDmaRun | kEduDmaToRam);  // ends at 0x40fff
  EXPECT_EQ(bus.peek(0x201000, 96), std::vector<uint8_t>(data.begin() + 4000, data.end()));
}

TEST_F(EduTest, DmaMaskClampsBusAddress) {
  bus.poke(kRam, pattern(32, 1));
  // 0x7_1010_0000 & 0x0fffffff == 0x0010_0000 (kRam).
  dma(0x710100000ULL, kEduDmaBufferBase, 32, kEduDmaRun);
  EXPECT_EQ(buffer(0, 32), pattern(32, 1));
  dma(kEduDmaBufferBase, 0xf0100000ULL + 64, 32, kEduDmaRun | kEduDmaToRam);
  EXPECT_EQ(bus.peek(kRam + 64, 32), pattern(32, 1));
  const auto calls = bus.dma_calls();
  ASSERT_EQ(calls.size(), 2U);
  EXPECT_EQ(calls[0].iova, kRam);
  EXPECT_EQ(calls[1].iova, kRam + 64);
  // The buffer side is not masked: 0x1_0004_0000 is outside the window, refused.
  dma(kRam, 0x100040000ULL, 8, kEduDmaRun);
  EXPECT_EQ(bus.dma_calls().size(), 2U);
}

TEST_F(EduTest, DmaMaskOption) {
  make({.dma_mask = 0xffffffffff, .dma_delay = 0us});
  bus.map(0x1000000000ULL - 0x1000, 0x1000);
  bus.poke(0xffffff000ULL, pattern(16, 5));
  dma(0xffffff000ULL, kEduDmaBufferBase, 16, kEduDmaRun);
  EXPECT_EQ(buffer(0, 16), pattern(16, 5));
  EXPECT_EQ(bus.dma_calls().back().iova, 0xffffff000ULL);
}

TEST_F(EduTest, DmaBufferRangeViolationsRefused) {
  bus.poke(kRam, pattern(64, 7));
  dma(kRam, kEduDmaBufferBase, 64, kEduDmaRun);
  const auto before = edu().dma_buffer();
  const auto before_ram = bus.peek(kRam, kRamSize);
  const size_t calls = bus.dma_calls().size();
  struct Case {
    uint64_t buf, count;
  };
  for (const Case c :
       {Case{kEduDmaBufferBase - 1, 10}, Case{kEduDmaBufferBase + 0xff0, 0x20},
        Case{kEduDmaBufferBase, 0x1001}, Case{kEduDmaBufferBase + 0x1000, 1},
        Case{kEduDmaBufferBase + 8, ~uint64_t{0}}, Case{~uint64_t{0} - 4, 8}, Case{0, 0x41000}}) {
    for (uint64_t dir : {uint64_t{0}, kEduDmaToRam}) {
      w32(edu_reg::kIrqAck, 0xffffffff);
      const uint64_t src = dir != 0 ? c.buf : kRam;
      const uint64_t dst = dir != 0 ? kRam : c.buf;
      dma(src, dst, c.count, kEduDmaRun | kEduDmaIrq | dir);
      EXPECT_EQ(r32(edu_reg::kIrqStatus), kEduIrqDma) << "still completes";
    }
  }
  EXPECT_EQ(bus.dma_calls().size(), calls) << "no bus access for a refused transfer";
  EXPECT_EQ(edu().dma_buffer(), before);
  EXPECT_EQ(bus.peek(kRam, kRamSize), before_ram);
}

TEST_F(EduTest, DmaZeroCount) {
  // Allowed by QEMU 10.x, even at the very end of the window; copies nothing.
  dma(kRam, kEduDmaBufferBase + 0x1000, 0, kEduDmaRun | kEduDmaIrq);
  dma(kEduDmaBufferBase, kRam, 0, kEduDmaRun | kEduDmaToRam | kEduDmaIrq);
  EXPECT_TRUE(bus.dma_calls().empty());
  EXPECT_EQ(r32(edu_reg::kIrqStatus), kEduIrqDma);
}

TEST_F(EduTest, DmaWithBusMasterOff) {
  bus.poke(kRam, pattern(64, 1));
  dma(kRam, kEduDmaBufferBase, 64, kEduDmaRun);
  bus.master = false;
  // RAM -> device reads zeros (QEMU's disabled bus-master space).
  dma(kRam, kEduDmaBufferBase + 16, 16, kEduDmaRun | kEduDmaIrq);
  auto expect = pattern(64, 1);
  std::fill(expect.begin() + 16, expect.begin() + 32, 0);
  EXPECT_EQ(buffer(0, 64), expect);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), kEduIrqDma);
  // device -> RAM is dropped.
  const auto ram = bus.peek(kRam, 256);
  dma(kEduDmaBufferBase, kRam + 128, 64, kEduDmaRun | kEduDmaToRam);
  EXPECT_EQ(bus.peek(kRam, 256), ram);
  EXPECT_EQ(r64(edu_reg::kDmaCmd), kEduDmaToRam);
  EXPECT_EQ(bus.dma_calls().back().rc, -EIO);
}

TEST_F(EduTest, DmaToUnmappedIova) {
  bus.poke(kRam, pattern(64, 1));
  dma(kRam, kEduDmaBufferBase, 64, kEduDmaRun);
  auto expected = edu().dma_buffer();
  ASSERT_NE(expected[0], std::byte{0});
  std::fill_n(expected.begin(), 64, std::byte{0});
  dma(0x0800000, kEduDmaBufferBase, 64, kEduDmaRun | kEduDmaIrq);  // unmapped
  EXPECT_EQ(edu().dma_buffer(), expected) << "zeros, like QEMU's refused read";
  EXPECT_EQ(r32(edu_reg::kIrqStatus), kEduIrqDma) << "still completes";
  dma(kEduDmaBufferBase, kRam + kRamSize - 8, 64, kEduDmaRun | kEduDmaToRam);  // crosses the end
  EXPECT_EQ(bus.peek(kRam + kRamSize - 8, 8), std::vector<uint8_t>(8, 0));
  EXPECT_EQ(bus.dma_faults(), 2U);
  EXPECT_EQ(bus.dma_calls().back().rc, -EFAULT);
}

TEST_F(EduTest, CommandWithoutStartBitIgnored) {
  w64(edu_reg::kDmaCmd, kEduDmaToRam | kEduDmaIrq);
  EXPECT_EQ(r64(edu_reg::kDmaCmd), 0U);
  std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(bus.dma_calls().empty());
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 0U);
}

TEST_F(EduTest, RegistersFrozenWhileBusy) {
  make({.dma_delay = 300ms});
  bus.poke(kRam, pattern(8, 2));
  w64(edu_reg::kDmaSrc, kRam);
  w64(edu_reg::kDmaDst, kEduDmaBufferBase);
  w64(edu_reg::kDmaCount, 8);
  w64(edu_reg::kDmaCmd, kEduDmaRun | kEduDmaIrq);
  w64(edu_reg::kDmaSrc, 0x1);
  w32(edu_reg::kDmaDst, 0x2);
  w64(edu_reg::kDmaCount, 0x3);
  w64(edu_reg::kDmaCmd, kEduDmaRun | kEduDmaToRam);  // a second start: ignored
  w64(edu_reg::kDmaCmd, 0);                          // cannot cancel either
  EXPECT_EQ(r64(edu_reg::kDmaSrc), kRam);
  EXPECT_EQ(r64(edu_reg::kDmaDst), kEduDmaBufferBase);
  EXPECT_EQ(r64(edu_reg::kDmaCount), 8U);
  EXPECT_EQ(r64(edu_reg::kDmaCmd), kEduDmaRun | kEduDmaIrq);
  ASSERT_TRUE(eventually([&] { return dma_idle(); }));
  EXPECT_EQ(buffer(0, 8), pattern(8, 2));
  ASSERT_EQ(bus.dma_calls().size(), 1U);
  w64(edu_reg::kDmaSrc, 0x1);  // accepted again
  EXPECT_EQ(r64(edu_reg::kDmaSrc), 1U);
}

TEST_F(EduTest, DmaDelayHonoured) {
  make({.dma_delay = 80ms});
  const auto t0 = Clock::now();
  w64(edu_reg::kDmaSrc, kRam);
  w64(edu_reg::kDmaDst, kEduDmaBufferBase);
  w64(edu_reg::kDmaCount, 4);
  w64(edu_reg::kDmaCmd, kEduDmaRun | kEduDmaIrq);
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(dma_idle());
  EXPECT_TRUE(bus.dma_calls().empty()) << "nothing copied before the timer fires";
  ASSERT_TRUE(eventually([&] { return dma_idle(); }));
  EXPECT_GE(Clock::now() - t0, 80ms);
  EXPECT_EQ(bus.dma_calls().size(), 1U);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), kEduIrqDma);
}

TEST_F(EduTest, DefaultDelayIs100ms) {
  make({});
  EXPECT_EQ(edu().options().dma_delay, 100ms);
  EXPECT_EQ(edu().options().dma_mask, 0x0fffffffU);
  const auto t0 = Clock::now();
  dma(kRam, kEduDmaBufferBase, 4, kEduDmaRun);
  EXPECT_GE(Clock::now() - t0, 100ms);
}

TEST_F(EduTest, MsiDmaCompletion) {
  bus.msi = true;
  dma(kRam, kEduDmaBufferBase, 4, kEduDmaRun | kEduDmaIrq);
  ASSERT_TRUE(eventually([&] { return bus.events().size() == 1; }));
  EXPECT_EQ(bus.events(), (std::vector<Event>{kMsi0}));
}

// --- reset and close ---

TEST_F(EduTest, ResetKeepsRegisters) {
  w32(edu_reg::kLiveness, 1);
  w32(edu_reg::kStatus, 0x80);
  factorial(6);
  w32(edu_reg::kIrqRaise, 0x40);
  w64(edu_reg::kDmaSrc, 0x1234);
  dev->reset();
  EXPECT_EQ(r32(edu_reg::kLiveness), ~1U);
  EXPECT_EQ(r32(edu_reg::kStatus), 0x80U);
  EXPECT_EQ(r32(edu_reg::kFactorial), 720U);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 0x41U);
  EXPECT_EQ(r64(edu_reg::kDmaSrc), 0x1234U);
}

TEST_F(EduTest, CloseCancelsPendingDma) {
  make({.dma_delay = 10s});
  bus.poke(kRam, pattern(8, 1));
  w64(edu_reg::kDmaSrc, kRam);
  w64(edu_reg::kDmaDst, kEduDmaBufferBase);
  w64(edu_reg::kDmaCount, 8);
  w64(edu_reg::kDmaCmd, kEduDmaRun | kEduDmaIrq);
  const auto t0 = Clock::now();
  dev->closed();
  bus.forbid();
  EXPECT_LT(Clock::now() - t0, 1s);
  EXPECT_EQ(r64(edu_reg::kDmaCmd), kEduDmaIrq) << "bit 0 cleared: the engine is idle";
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 0U) << "a cancelled transfer raises nothing";
  // Closed: register state still changes, the bus is left alone.
  w32(edu_reg::kIrqRaise, 2);
  w32(edu_reg::kStatus, 0x80);
  factorial(3);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 3U);
  w32(edu_reg::kIrqAck, 3);
  EXPECT_EQ(bus.violations(), 0U);
  EXPECT_TRUE(bus.events().empty());
  EXPECT_TRUE(bus.dma_calls().empty());
  EXPECT_EQ(buffer(0, 8), std::vector<uint8_t>(8, 0));

  // Reopened: the bus is used again.
  bus.allow();
  make({.dma_delay = 0us});
  bus.poke(kRam, pattern(8, 1));
  dev->closed();
  dev->opened();
  dma(kRam, kEduDmaBufferBase, 8, kEduDmaRun | kEduDmaIrq);
  EXPECT_EQ(buffer(0, 8), pattern(8, 1));
  EXPECT_EQ(bus.events(), (std::vector<Event>{kIntxOn}));
}

TEST_F(EduTest, DmaFiringWhileClosedIsCancelled) {
  // A start that arrives after closed() (no driver should do it) never reaches the bus.
  make({.dma_delay = 0us});
  dev->closed();
  bus.forbid();
  dma(kRam, kEduDmaBufferBase, 8, kEduDmaRun | kEduDmaIrq);
  EXPECT_EQ(r32(edu_reg::kIrqStatus), 0U);
  EXPECT_EQ(bus.violations(), 0U);
}

TEST_F(EduTest, DestroyWithDmaPending) {
  make({.dma_delay = 10s});
  w64(edu_reg::kDmaCount, 8);
  w64(edu_reg::kDmaDst, kEduDmaBufferBase);
  w64(edu_reg::kDmaCmd, kEduDmaRun);
  w32(edu_reg::kFactorial, 10);
  const auto t0 = Clock::now();
  dev.reset();
  bus.forbid();
  EXPECT_LT(Clock::now() - t0, 1s);
  EXPECT_TRUE(bus.dma_calls().empty());
}

TEST(EduOptionsTest, DelaysValidated) {
  EXPECT_ERRNO(make_edu_device({.dma_delay = -1us}), EINVAL);
  EXPECT_ERRNO(make_edu_device({.factorial_delay = -1us}), EINVAL);
  EXPECT_ERRNO(make_edu_device({.dma_delay = EduOptions::kMaxDelay + 1us}), EINVAL);
  EXPECT_TRUE(make_edu_device({.dma_delay = EduOptions::kMaxDelay}).ok());
  EXPECT_TRUE(make_edu_device({.dma_mask = 0, .dma_delay = 0us, .factorial_delay = 0us}).ok());
}

// --- registry ---

TEST(EmulatedRegistry, ListsEduWithOptions) {
  const auto& devs = emulated_devices();
  ASSERT_FALSE(devs.empty());
  const EmulatedDeviceInfo* edu = find_emulated_device("edu");
  ASSERT_NE(edu, nullptr);
  EXPECT_FALSE(edu->help.empty());
  std::vector<std::string> names;
  for (const auto& o : edu->options) {
    names.push_back(o.name);
    EXPECT_FALSE(o.help.empty()) << o.name;
    EXPECT_FALSE(o.value.empty()) << o.name;
    EXPECT_FALSE(o.default_value.empty()) << o.name;
    EXPECT_EQ(o.help.find('\n'), std::string::npos) << "one line";
  }
  EXPECT_EQ(names, (std::vector<std::string>{"dma_mask", "dma_delay_us", "factorial_delay_us"}));
  EXPECT_EQ(find_emulated_device("nope"), nullptr);
  EXPECT_EQ(find_emulated_device(""), nullptr);
}

TEST(EmulatedRegistry, MakesEduWithOptions) {
  auto r = make_emulated_device("edu", {});
  ASSERT_OK(r);
  EXPECT_EQ((*r)->layout().device_id, 0x11e8);
  const auto* edu = dynamic_cast<EduDevice*>(r->get());
  ASSERT_NE(edu, nullptr);
  EXPECT_EQ(edu->options().dma_mask, 0x0fffffffU);
  EXPECT_EQ(edu->options().dma_delay, 100ms);
  EXPECT_EQ(edu->options().factorial_delay, 0us);

  struct Good {
    std::map<std::string, std::string> opts;
    uint64_t mask;
    std::chrono::microseconds dma, fact;
  };
  for (const Good& g : {
           Good{{{"dma_mask", "0xffffffff"}}, 0xffffffff, 100ms, 0us},
           Good{{{"dma_mask", "0XFFff"}}, 0xffff, 100ms, 0us},
           Good{{{"dma_mask", "268435455"}}, 0x0fffffff, 100ms, 0us},
           Good{{{"dma_mask", "0xffffffffffffffff"}}, ~uint64_t{0}, 100ms, 0us},
           Good{{{"dma_mask", "18446744073709551615"}}, ~uint64_t{0}, 100ms, 0us},
           Good{{{"dma_mask", "0"}}, 0, 100ms, 0us},
           Good{{{"dma_delay_us", "0"}}, 0x0fffffff, 0us, 0us},
           Good{{{"dma_delay_us", "007"}}, 0x0fffffff, 7us, 0us},  // decimal, not octal
           Good{{{"dma_delay_us", "60000000"}, {"factorial_delay_us", "0x10"}},
                0x0fffffff,
                60s,
                16us},
       }) {
    std::string err;
    auto m = make_emulated_device("edu", g.opts, &err);
    ASSERT_OK(m);
    EXPECT_TRUE(err.empty());
    const auto& o = dynamic_cast<EduDevice&>(**m).options();
    EXPECT_EQ(o.dma_mask, g.mask);
    EXPECT_EQ(o.dma_delay, g.dma);
    EXPECT_EQ(o.factorial_delay, g.fact);
  }
}

TEST(EmulatedRegistry, RejectsBadNamesAndOptions) {
  std::string err;
  EXPECT_ERRNO(make_emulated_device("nvme", {}, &err), EINVAL);
  EXPECT_NE(err.find("nvme"), std::string::npos) << err;
  EXPECT_NE(err.find("edu"), std::string::npos) << "lists the known devices: " << err;
  EXPECT_ERRNO(make_emulated_device("", {}, &err), EINVAL);
  EXPECT_ERRNO(make_emulated_device("EDU", {}, &err), EINVAL);
  err.clear();
  EXPECT_ERRNO(make_emulated_device("edu", {{"dma_masks", "1"}}, &err), EINVAL);
  EXPECT_NE(err.find("dma_masks"), std::string::npos) << err;
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "0x", "0x-1", "0x1g", "1e3", "12a", "0b1",
                          "18446744073709551616", "0x10000000000000000", "1.5"}) {
    for (const char* key : {"dma_mask", "dma_delay_us", "factorial_delay_us"}) {
      err.clear();
      SCOPED_TRACE(std::string(key) + "=" + bad);
      EXPECT_ERRNO(make_emulated_device("edu", {{key, bad}}, &err), EINVAL);
      EXPECT_NE(err.find(key), std::string::npos) << err;
    }
  }
  EXPECT_ERRNO(make_emulated_device("edu", {{"dma_delay_us", "60000001"}}, &err), EINVAL);
  EXPECT_ERRNO(make_emulated_device("edu", {{"factorial_delay_us", "0xffffffffffffffff"}}, &err),
               EINVAL);
  // Without an error string the call still fails cleanly (and logs).
  EXPECT_ERRNO(make_emulated_device("edu", {{"x", "1"}}), EINVAL);
}

TEST(EmulatedRegistry, ParsesSpecs) {
  auto s = parse_emulated_device_spec("edu");
  ASSERT_OK(s);
  EXPECT_EQ(s->name, "edu");
  EXPECT_TRUE(s->options.empty());
  s = parse_emulated_device_spec("edu,dma_mask=0xffffffff,dma_delay_us=0,x=a=b");
  ASSERT_OK(s);
  EXPECT_EQ(s->name, "edu");
  EXPECT_EQ(s->options, (std::map<std::string, std::string>{
                            {"dma_mask", "0xffffffff"}, {"dma_delay_us", "0"}, {"x", "a=b"}}));
  s = parse_emulated_device_spec("edu,dma_mask=");
  ASSERT_OK(s);
  EXPECT_EQ(s->options.at("dma_mask"), "");
  for (const char* bad :
       {"", ",", ",a=1", "edu,", "edu,,a=1", "edu,a", "edu,=1", "edu,a=1,a=2", "a=1", "edu,a=1,"}) {
    std::string err;
    SCOPED_TRACE(bad);
    EXPECT_ERRNO(parse_emulated_device_spec(bad, &err), EINVAL);
    EXPECT_FALSE(err.empty()) << bad;
  }
  ASSERT_OK(make_emulated_device_from_spec("edu,dma_delay_us=0,dma_mask=0xffff"));
  std::string err;
  EXPECT_ERRNO(make_emulated_device_from_spec("edu,dma_delay_us=x", &err), EINVAL);
  EXPECT_NE(err.find("dma_delay_us"), std::string::npos);
  EXPECT_ERRNO(make_emulated_device_from_spec("edu,", &err), EINVAL);
  EXPECT_ERRNO(make_emulated_device_from_spec("foo", &err), EINVAL);
}

}  // namespace
