// The vfio-user client's doorbells against uvfio's server (in this process): the client asks for
// the regions' io fds (GET_REGION_IO_FDS) and a write that matches one (offset, size, datamatch)
// signals the eventfd instead of sending REGION_WRITE. The server's counters tell which way a
// write went (`doorbells` vs `messages`); the interrupt edu raises arrives either way. Also:
// doorbells stay in order with posted writes sent before them, ioeventfd=off sends everything
// by message, and pipelined / batched region accesses still read and write the right bytes.
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "driver/device_core.h"
#include "driver/vfio_user_connection.h"
#include "driver/vfio_user_transport.h"
#include "uvfio/devices/registry.h"
#include "uvfio/driver/driver.h"
#include "uvfio/pci/device_model.h"
#include "uvfio/vfio_user/server.h"
#include "vfio_user_served_device.h"

namespace uvfio::test {
namespace {

namespace vu = vfio_user;
using driver::Device;

constexpr uint64_t kRegLive = 0x04;
constexpr uint64_t kRegIrqStatus = 0x24;
constexpr uint64_t kRegIrqRaise = 0x60;
constexpr uint64_t kRegIrqAck = 0x64;
constexpr uint32_t kDoorbellValue = 0x10000;  // edu's doorbell: 0x60, 4 bytes, this datamatch

using ServedEdu = ServedDevice;  // an edu unless a model is given

/// A device whose BAR0 is 4 KiB of plain memory (accesses of 1 to 8 bytes).
class RamBarDevice : public pci::DeviceModel {
 public:
  pci::DeviceLayout layout() const override {
    pci::DeviceLayout l;
    l.vendor_id = 0x1b36;
    l.device_id = 0x00fe;
    l.class_code = 0xff0000;
    l.bars[0] = {pci::BarType::kMem32, kRamSize, false, false};
    l.name = "ram-bar";
    return l;
  }
  uint64_t mmio_read(unsigned /*bar*/, uint64_t offset, unsigned size) override {
    std::lock_guard lock(mu_);
    uint64_t v = 0;
    for (unsigned i = 0; i < size && offset + i < kRamSize; ++i) {
      v |= uint64_t{ram_[offset + i]} << (8 * i);
    }
    return v;
  }
  void mmio_write(unsigned /*bar*/, uint64_t offset, unsigned size, uint64_t v) override {
    std::lock_guard lock(mu_);
    for (unsigned i = 0; i < size && offset + i < kRamSize; ++i) {
      ram_[offset + i] = static_cast<uint8_t>(v >> (8 * i));
    }
  }

  static constexpr uint32_t kRamSize = 4096;

 private:
  std::mutex mu_;
  std::array<uint8_t, kRamSize> ram_{};
};

/// A device with MSI on (memory, bus master, one vector).
struct Opened {
  explicit Opened(const ServedEdu& edu, const std::string& opts = "")
      : dev(driver::open(edu.target(opts))), bar0(dev.bar(0)) {
    dev.config().enable_memory(true);
    dev.config().enable_bus_master(true);
    msi = dev.enable_irq(VFIO_PCI_MSI_IRQ_INDEX, 1);
  }
  Device dev;
  driver::Region bar0;
  driver::IrqVectors msi;
};

TEST(VfioUserClientDoorbell, MatchingWriteSignalsTheIoeventfdNotAMessage) {
  ServedEdu edu;
  Opened o(edu);
  // A first write by message makes the client ask for BAR0's io fds; a read then fences.
  o.bar0.write32(kRegIrqAck, 0xffffffff);
  (void)o.bar0.read32(kRegIrqStatus);
  const vu::ServerStats before = edu.server().stats();
  o.bar0.write32(kRegIrqRaise, kDoorbellValue);
  // The interrupt the doorbell raises arrives.
  EXPECT_EQ(o.msi.wait(0, std::chrono::seconds(5)), 1u);
  EXPECT_EQ(o.bar0.read32(kRegIrqStatus), kDoorbellValue);
  const vu::ServerStats after = edu.server().stats();
  EXPECT_EQ(after.doorbells, before.doorbells + 1);
  // Only the status read crossed the socket: the doorbell write did not travel as REGION_WRITE.
  EXPECT_EQ(after.messages, before.messages + 1);
  o.bar0.write32(kRegIrqAck, kDoorbellValue);
  EXPECT_EQ(o.bar0.read32(kRegIrqStatus), 0u);
}

TEST(VfioUserClientDoorbell, WriteNotMatchingDatamatchGoesByMessage) {
  ServedEdu edu;
  Opened o(edu);
  o.bar0.write32(kRegIrqAck, 0xffffffff);
  (void)o.bar0.read32(kRegIrqStatus);
  const vu::ServerStats before = edu.server().stats();
  // The doorbell's register, another value: a message (the interrupt still comes).
  o.bar0.write32(kRegIrqRaise, 0x1);
  EXPECT_EQ(o.msi.wait(0, std::chrono::seconds(5)), 1u);
  EXPECT_EQ(o.bar0.read32(kRegIrqStatus), 0x1u);
  vu::ServerStats after = edu.server().stats();
  EXPECT_EQ(after.doorbells, before.doorbells);
  EXPECT_EQ(after.messages, before.messages + 2);  // the write and the read
  // Another size at the doorbell's offset: a message too (which edu drops, as QEMU's memory
  // core drops a 2-byte access).
  o.bar0.write16(kRegIrqRaise, 0x0);
  EXPECT_EQ(o.bar0.read32(kRegIrqStatus), 0x1u);
  after = edu.server().stats();
  EXPECT_EQ(after.doorbells, before.doorbells);
  EXPECT_EQ(after.messages, before.messages + 4);
}

TEST(VfioUserClientDoorbell, DoorbellStaysInOrderAfterPostedWrites) {
  ServedEdu edu;
  Opened o(edu);
  o.bar0.write32(kRegIrqAck, 0xffffffff);
  (void)o.bar0.read32(kRegIrqStatus);
  ASSERT_TRUE(dynamic_cast<driver::detail::VfioUserDeviceTransport&>(
                  driver::detail::DeviceAccess::core(o.dev)->transport())
                  .posting());
  const vu::ServerStats before = edu.server().stats();
  constexpr uint64_t kRounds = 100;
  for (uint64_t i = 0; i < kRounds; ++i) {
    // Raise by doorbell, then a posted ack of the same bit, then the doorbell again: in order,
    // the bit ends up set; had the second doorbell been performed before the ack, it would stay
    // clear. A doorbell is asynchronous (as a KVM ioeventfd is): poll until it shows.
    o.bar0.write32(kRegIrqRaise, kDoorbellValue);
    o.bar0.write32(kRegIrqAck, kDoorbellValue);
    o.bar0.write32(kRegIrqRaise, kDoorbellValue);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    uint32_t status = 0;
    while ((status = o.bar0.read32(kRegIrqStatus)) == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    ASSERT_EQ(status, kDoorbellValue) << "round " << i << ": a doorbell overtook the ack";
    o.bar0.write32(kRegIrqAck, kDoorbellValue);
  }
  // Doorbells that arrive together coalesce: at least one per round, two at most.
  const vu::ServerStats after = edu.server().stats();
  EXPECT_GE(after.doorbells, before.doorbells + kRounds);
  EXPECT_LE(after.doorbells, before.doorbells + 2 * kRounds);
  (void)o.msi.poll(0);
}

TEST(VfioUserClientDoorbell, IoeventfdOffSendsEveryWriteByMessage) {
  ServedEdu edu;
  Opened o(edu, "ioeventfd=off");
  o.bar0.write32(kRegIrqAck, 0xffffffff);
  (void)o.bar0.read32(kRegIrqStatus);
  const vu::ServerStats before = edu.server().stats();
  o.bar0.write32(kRegIrqRaise, kDoorbellValue);
  EXPECT_EQ(o.msi.wait(0, std::chrono::seconds(5)), 1u);
  EXPECT_EQ(o.bar0.read32(kRegIrqStatus), kDoorbellValue);
  const vu::ServerStats after = edu.server().stats();
  EXPECT_EQ(after.doorbells, before.doorbells);
  EXPECT_EQ(after.messages, before.messages + 2);
  EXPECT_THROW((void)driver::open(edu.target("ioeventfd=maybe")), driver::Error);
}

TEST(VfioUserClientDoorbell, DoorbellAfterTheServerWentAwayFails) {
  auto edu = std::make_unique<ServedEdu>();
  Opened o(*edu);
  o.bar0.write32(kRegIrqRaise, kDoorbellValue);
  EXPECT_EQ(o.msi.wait(0, std::chrono::seconds(5)), 1u);
  edu.reset();
  // The connection notices at its next read; then a doorbell fails as a message would.
  EXPECT_THROW((void)o.bar0.read32(kRegLive), driver::Error);
  try {
    o.bar0.write32(kRegIrqRaise, kDoorbellValue);
    ADD_FAILURE() << "a doorbell to a closed connection succeeded";
  } catch (const driver::Error& e) {
    EXPECT_EQ(e.error(), ECONNRESET) << e.what();
  }
  o.msi = {};
}

TEST(VfioUserClientDoorbell, PipelinedAndBatchedTransfersKeepTheirBytes) {
  // A server allowing 256-byte transfers: a 4 KiB access is 16 of them, in batches (posted
  // writes too: no REGION_WRITE_MULTI).
  vu::ServerOptions opts;
  opts.max_data_xfer_size = 256;
  opts.write_multiple = false;
  ServedEdu served(opts, std::make_shared<RamBarDevice>());
  int round = 0;
  for (const char* posted : {"posted=auto", "posted=off"}) {
    SCOPED_TRACE(posted);
    Device dev = driver::open(served.target(posted));
    dev.config().enable_memory(true);
    const driver::Region bar0 = dev.bar(0);
    std::vector<std::byte> out(RamBarDevice::kRamSize);
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(i * 7 + 3 + round);
    ++round;
    const vu::ServerStats before = served.server().stats();
    bar0.write_bytes(0, out);
    std::vector<std::byte> in(RamBarDevice::kRamSize);
    bar0.read_bytes(0, in);
    EXPECT_EQ(in, out);
    EXPECT_EQ(served.server().stats().messages, before.messages + 32);  // 16 writes, 16 reads
    // Unaligned, not a multiple of the transfer size.
    std::vector<std::byte> part(1001);
    bar0.read_bytes(13, part);
    EXPECT_TRUE(std::equal(part.begin(), part.end(), out.begin() + 13));
  }
}

TEST(VfioUserClientDoorbell, BatchOfRequestsAndPostedWritesInOneSend) {
  ServedEdu edu;
  Device dev = driver::open(edu.target());
  dev.config().enable_memory(true);
  auto& t = dynamic_cast<driver::detail::VfioUserDeviceTransport&>(
      driver::detail::DeviceAccess::core(dev)->transport());
  driver::detail::VfioUserConnection& conn = *t.connection();
  using Conn = driver::detail::VfioUserConnection;
  // A posted write of the liveness register, then 32 reads of it: every read sees the write.
  constexpr size_t kReads = 32;
  const uint32_t value = 0x5a5a1234;
  const vu::RegionAccess wr{kRegLive, VFIO_PCI_BAR0_REGION_INDEX, 4};
  const vu::RegionAccess rd{kRegLive, VFIO_PCI_BAR0_REGION_INDEX, 4};
  const std::span<const uint8_t> wpieces[] = {
      {reinterpret_cast<const uint8_t*>(&wr), sizeof wr},
      {reinterpret_cast<const uint8_t*>(&value), sizeof value}};
  const std::span<const uint8_t> rpiece{reinterpret_cast<const uint8_t*>(&rd), sizeof rd};
  std::vector<Conn::Call> calls(kReads);
  std::vector<Conn::Outgoing> batch;
  batch.push_back({nullptr, vu::Command::kRegionWrite, wpieces, {}});
  for (auto& c : calls) batch.push_back({&c, vu::Command::kRegionRead, std::span(&rpiece, 1), {}});
  const vu::ServerStats before = edu.server().stats();
  conn.start_batch(batch);
  for (auto& c : calls) {
    ASSERT_EQ(conn.finish(c), 0);
    uint32_t got = 0;
    ASSERT_TRUE(c.get(got, sizeof(vu::RegionAccess)));
    EXPECT_EQ(got, ~value);  // edu's liveness register inverts
  }
  EXPECT_EQ(edu.server().stats().messages, before.messages + 1 + kReads);
  // A call still started cannot go in a batch; the connection carries on.
  Conn::Call busy;
  conn.start(busy, vu::Command::kRegionRead, std::span(&rpiece, 1));
  const Conn::Outgoing again{&busy, vu::Command::kRegionRead, std::span(&rpiece, 1), {}};
  EXPECT_THROW(conn.start_batch(std::span(&again, 1)), driver::Error);
  EXPECT_EQ(conn.finish(busy), 0);
  EXPECT_EQ(dev.bar(0).read32(kRegLive), ~value);
}

}  // namespace
}  // namespace uvfio::test
