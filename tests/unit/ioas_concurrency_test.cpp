// Control threads map and unmap while device threads read, write and pin through accesses.
// Run under TSan in CI (label "concurrency").
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "test_util.h"
#include "uvfio/iommu/access.h"

using namespace uvfio;
using namespace uvfio::iommu;
using namespace uvfio::test;

namespace {
constexpr int kSlots = 32;
constexpr uint64_t kSlotSize = 0x4000;
constexpr uint64_t kBase = 0x1000000;
uint64_t slot_iova(int i) {
  return kBase + static_cast<uint64_t>(i) * 0x10000;
}
}  // namespace

// Each slot is mapped to its own buffer whose every byte is the slot number. A device read
// must either fail cleanly (ENOENT/EINVAL during an unmap) or return exactly that pattern:
// never bytes of another slot, never freed memory.
TEST(IoasConcurrency, MapUnmapWhileDevicesRead) {
  auto ioas = make_ioas();
  std::vector<std::unique_ptr<Buffer>> bufs;
  for (int i = 0; i < kSlots; ++i) {
    bufs.push_back(std::make_unique<Buffer>(kSlotSize));
    std::memset(bufs.back()->data(), i + 1, kSlotSize);
  }
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> good{0}, refused{0};
  std::vector<std::thread> devices;
  for (int d = 0; d < 2; ++d) {
    devices.emplace_back([&, d] {
      auto dev = Access::create();
      ASSERT_TRUE(dev->attach(ioas).ok());
      std::mt19937 rng(static_cast<unsigned>(d));
      std::vector<uint8_t> buf(512);
      while (!stop.load(std::memory_order_relaxed)) {
        int slot = static_cast<int>(rng() % kSlots);
        uint64_t off = rng() % (kSlotSize - buf.size());
        auto r = dev->read(slot_iova(slot) + off, buf.data(), buf.size());
        if (!r.ok()) {
          ASSERT_TRUE(r.error() == ENOENT || r.error() == EINVAL) << errno_name(r.error());
          ++refused;
          continue;
        }
        for (uint8_t v : buf) ASSERT_EQ(v, slot + 1);
        ++good;
      }
    });
  }
  std::mt19937 rng(99);
  // Keep remapping until the devices have seen plenty of both outcomes (however loaded the
  // machine), with a generous deadline so a broken build fails instead of hanging.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int round = 0; round < 3000 || good.load() < 2000 || refused.load() < 100; ++round) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    int slot = static_cast<int>(rng() % kSlots);
    auto m = ioas->map(bufs[slot]->source(), slot_iova(slot), kMapRead | kMapFixedIova);
    if (!m.ok()) {
      ASSERT_EQ(m.error(), EEXIST);
      ASSERT_TRUE(ioas->unmap(slot_iova(slot), kSlotSize, Frontend::kType1v2).ok());
    }
  }
  stop = true;
  for (auto& t : devices) t.join();
  ASSERT_OK(ioas->unmap_all());
}

// Devices pin, write through the pinned pointer and unpin when asked, while a control thread
// keeps unmapping and remapping: every unmap must complete only once the pins are gone.
TEST(IoasConcurrency, UnmapWaitsForPinsHeldByDeviceThreads) {
  auto ioas = make_ioas();
  Buffer buf(kSlots * kSlotSize);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> pins_done{0};
  std::atomic<uint64_t> callbacks{0};

  struct Dev {
    std::shared_ptr<Access> access;
    std::mutex mu;
    std::vector<std::pair<uint64_t, uint64_t>> held;  // pins not yet released
  };
  std::vector<std::unique_ptr<Dev>> devs;
  for (int d = 0; d < 2; ++d) {
    auto dev = std::make_unique<Dev>();
    Dev* raw = dev.get();
    dev->access = Access::create([raw, &callbacks](uint64_t iova, uint64_t len) {
      ++callbacks;
      std::lock_guard lk(raw->mu);
      for (auto it = raw->held.begin(); it != raw->held.end();) {
        if (it->first < iova + len && iova < it->first + it->second) {
          EXPECT_TRUE(raw->access->unpin(it->first, it->second).ok());
          it = raw->held.erase(it);
        } else {
          ++it;
        }
      }
    });
    ASSERT_OK(dev->access->attach(ioas));
    devs.push_back(std::move(dev));
  }
  for (int i = 0; i < kSlots; ++i) {
    ASSERT_OK(ioas->map(buf.source(i * kSlotSize, kSlotSize), slot_iova(i), kFixedRW));
  }
  std::vector<std::thread> threads;
  for (int d = 0; d < 2; ++d) {
    threads.emplace_back([&, d] {
      Dev& dev = *devs[d];
      std::mt19937 rng(static_cast<unsigned>(d + 7));
      while (!stop.load(std::memory_order_relaxed)) {
        int slot = static_cast<int>(rng() % kSlots);
        std::lock_guard lk(dev.mu);
        auto p = dev.access->pin(slot_iova(slot), 0x1000, kAccessWrite);
        if (!p.ok()) continue;             // unmapped or being torn down
        std::memset((*p)[0].host, d, 16);  // stable pointer while pinned
        ++pins_done;
        // Hold some pins until an unmap asks for them; release the rest (and keep the held
        // set small, as a device's in-flight DMA would be).
        if (rng() % 2 || dev.held.size() >= 8) {
          ASSERT_TRUE(dev.access->unpin(slot_iova(slot), 0x1000).ok());
        } else {
          dev.held.push_back({slot_iova(slot), 0x1000});
        }
      }
    });
  }
  std::mt19937 rng(5);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (int round = 0; round < 1500 || pins_done.load() < 2000 || callbacks.load() < 50; ++round) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    int slot = static_cast<int>(rng() % kSlots);
    auto r = ioas->unmap(slot_iova(slot), kSlotSize, Frontend::kIommufd);
    ASSERT_TRUE(r.ok()) << errno_name(r.error());
    ASSERT_OK(ioas->map(buf.source(slot * kSlotSize, kSlotSize), slot_iova(slot), kFixedRW));
  }
  stop = true;
  for (auto& t : threads) t.join();
  for (auto& d : devs) {
    std::lock_guard lk(d->mu);
    for (auto& [iova, len] : d->held) ASSERT_OK(d->access->unpin(iova, len));
  }
  ASSERT_OK(ioas->unmap_all());
}

// An access moving between IOASes while its device thread keeps reading.
TEST(IoasConcurrency, ReplaceWhileReading) {
  auto x = make_ioas(), y = make_ioas();
  Buffer bx(4096), by(4096);
  std::memset(bx.data(), 'x', 4096);
  std::memset(by.data(), 'y', 4096);
  ASSERT_OK(x->map(bx.source(), 0x10000, kFixedRW));
  ASSERT_OK(y->map(by.source(), 0x10000, kFixedRW));
  auto dev = Access::create();
  ASSERT_OK(dev->attach(x));
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    char c[64];
    while (!stop.load(std::memory_order_relaxed)) {
      ASSERT_TRUE(dev->read(0x10000, c, sizeof c).ok());
      ASSERT_TRUE(c[0] == 'x' || c[0] == 'y');
      for (char v : c) ASSERT_EQ(v, c[0]);
    }
  });
  for (int i = 0; i < 500; ++i) ASSERT_OK(dev->replace(i % 2 ? x : y));
  stop = true;
  reader.join();
}

// Splitting areas under a device's feet: every read succeeds with the right bytes throughout.
TEST(IoasConcurrency, SplitWhileReading) {
  auto ioas = make_ioas();
  Buffer buf(4 << 20);
  ASSERT_OK(ioas->map(buf.source(), 0x40000000, kFixedRW));  // huge leaves to spell out
  auto dev = Access::create();
  ASSERT_OK(dev->attach(ioas));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0};
  std::thread reader([&] {
    std::mt19937 rng(11);
    uint8_t got[64];
    while (!stop.load(std::memory_order_relaxed)) {
      uint64_t off = rng() % ((4 << 20) - sizeof got);
      auto r = dev->read(0x40000000 + off, got, sizeof got);
      ASSERT_TRUE(r.ok()) << errno_name(r.error());
      ASSERT_EQ(0, std::memcmp(got, buf.bytes() + off, sizeof got));
      ++reads;
    }
  });
  size_t splits = 0;
  for (uint64_t at = 0x40000fff; at < 0x40000000 + (4 << 20) - 1; at += 0x3000, ++splits) {
    ASSERT_OK(ioas->split_at(at));
  }
  while (reads.load() < 1000) std::this_thread::yield();
  stop = true;
  reader.join();
  EXPECT_EQ(ioas->area_count(), splits + 1);
}
