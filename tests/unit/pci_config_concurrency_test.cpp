// ConfigSpace under concurrent use: driver threads writing config, the device changing its
// status bits, and listeners that call back into ConfigSpace.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>

#include <atomic>
#include <bit>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "pci/config_space.h"

namespace uvfio::pci {
namespace {

constexpr uint8_t kMsi = 0x40;

DeviceLayout layout() {
  DeviceLayout l;
  l.vendor_id = 0x1234;
  l.device_id = 0x5678;
  l.bars[0] = {BarType::kMem32, 4096};
  l.capabilities.emplace_back(MsiSpec{.vectors = 8, .address64 = true, .per_vector_mask = true});
  return l;
}

uint16_t read16(ConfigSpace& cs, uint64_t pos) {
  uint16_t v = 0;
  EXPECT_EQ(cs.read(&v, 2, pos), 2);
  return v;
}

void write16(ConfigSpace& cs, uint64_t pos, uint16_t v) {
  EXPECT_EQ(cs.write(&v, 2, pos), 2);
}

// Each Command write changes one bit; every event must show exactly that one bit flipping, and
// the events per bit must add up to the writes, however the threads interleave.
TEST(ConfigConcurrency, CommandEventsAreExactUnderConcurrentWriters) {
  auto cs = std::move(*ConfigSpace::create(layout()));
  std::mutex mu;
  std::vector<std::pair<uint16_t, uint16_t>> events;
  std::atomic<int> mask_events{0};
  ConfigEvents ev;
  ev.command_changed = [&](uint16_t o, uint16_t n) {
    (void)cs->command();  // listeners may call back in
    std::lock_guard lk(mu);
    events.emplace_back(o, n);
  };
  ev.msi_mask_changed = [&] { mask_events.fetch_add(1); };
  cs->set_events(std::move(ev));

  constexpr int kFlips = 2000;
  // Byte writes to different bytes of Command: no thread's read-modify-write can undo another's.
  std::thread intx([&] {
    for (int i = 0; i < kFlips; ++i) {
      const uint8_t hi = (i % 2 == 0) ? PCI_COMMAND_INTX_DISABLE >> 8 : 0;
      EXPECT_EQ(cs->write(&hi, 1, PCI_COMMAND + 1), 1);
    }
  });
  std::thread master([&] {
    for (int i = 0; i < kFlips; ++i) {
      const uint8_t lo = PCI_COMMAND_MEMORY | ((i % 2 == 0) ? PCI_COMMAND_MASTER : 0);
      EXPECT_EQ(cs->write(&lo, 1, PCI_COMMAND), 1);
    }
  });
  std::thread msi([&] {
    for (int i = 0; i < kFlips; ++i) write16(*cs, kMsi + PCI_MSI_MASK_64, (i % 2 == 0) ? 0xff : 0);
  });
  std::thread device([&] {
    for (int i = 0; i < kFlips; ++i) {
      cs->set_interrupt_status(i % 2 == 0);
      cs->set_msi_pending(static_cast<unsigned>(i) % 8, i % 3 == 0);
    }
  });
  std::thread reader([&] {
    for (int i = 0; i < kFlips; ++i) {
      const uint16_t status = read16(*cs, PCI_STATUS);
      EXPECT_EQ(status & ~(PCI_STATUS_CAP_LIST | PCI_STATUS_INTERRUPT), 0);
      (void)cs->snapshot();
    }
  });
  for (std::thread* t : {&intx, &master, &msi, &device, &reader}) t->join();

  int intx_flips = 0;
  int master_flips = 0;
  for (auto [o, n] : events) {
    const uint16_t diff = o ^ n;
    ASSERT_EQ(std::popcount(diff), 1) << std::hex << o << " -> " << n;
    intx_flips += diff == PCI_COMMAND_INTX_DISABLE;
    master_flips += diff == PCI_COMMAND_MASTER;
  }
  EXPECT_EQ(intx_flips, kFlips);
  EXPECT_EQ(master_flips, kFlips);
  EXPECT_EQ(mask_events.load(), kFlips);
  EXPECT_EQ(cs->command(), PCI_COMMAND_MEMORY);  // both writers ended with their bit clear
}

}  // namespace
}  // namespace uvfio::pci
