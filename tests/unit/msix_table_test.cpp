// MsixTable: entries, Vector Control masks, the PBA, delivery and pending on mask changes, the
// Function Mask, reset, bad accesses, and concurrent signals against mask flips.
#include "pci/msix_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace uvfio::pci {
namespace {

constexpr uint64_t kCtrl = 12;  // Vector Control inside an entry

/// Offset of entry v in the table.
constexpr uint64_t entry(unsigned v) {
  return uint64_t{v} * 16;
}

struct Table {
  explicit Table(unsigned n) : delivered(n) {
    table = std::make_unique<MsixTable>(
        n, [this](unsigned v) { delivered[v].fetch_add(1); },
        [this] { return function_masked.load(); });
  }
  unsigned count(unsigned v) const { return delivered[v].load(); }
  void unmask(unsigned v) const { table->table_write(entry(v) + kCtrl, 4, 0); }
  void mask(unsigned v) const { table->table_write(entry(v) + kCtrl, 4, 1); }

  std::vector<std::atomic<unsigned>> delivered;
  std::atomic<bool> function_masked{false};
  std::unique_ptr<MsixTable> table;
};

TEST(MsixTable, Geometry) {
  Table one(1);
  EXPECT_EQ(one.table->vectors(), 1U);
  EXPECT_EQ(one.table->table_bytes(), 16U);
  EXPECT_EQ(one.table->pba_bytes(), 8U);
  Table many(65);
  EXPECT_EQ(many.table->table_bytes(), 65U * 16);
  EXPECT_EQ(many.table->pba_bytes(), 16U);
}

TEST(MsixTable, PowerOnStateIsAllMasked) {
  Table t(4);
  for (unsigned v = 0; v < 4; ++v) {
    EXPECT_TRUE(t.table->masked(v));
    EXPECT_FALSE(t.table->pending(v));
    EXPECT_EQ(t.table->table_read(entry(v), 8), 0U);
    EXPECT_EQ(t.table->table_read(entry(v) + 8, 4), 0U);
    EXPECT_EQ(t.table->table_read(entry(v) + kCtrl, 4), 1U);
  }
  EXPECT_EQ(t.table->pba_read(0, 8), 0U);
}

TEST(MsixTable, EntryReadWrite4And8) {
  Table t(2);
  t.table->table_write(16, 4, 0xfee01000);
  t.table->table_write(20, 4, 0x1);
  t.table->table_write(24, 4, 0x4049);
  EXPECT_EQ(t.table->table_read(16, 8), 0x1fee01000ULL);
  EXPECT_EQ(t.table->table_read(24, 8), 0x100004049ULL);  // data, still masked
  t.table->table_write(16, 8, 0x00000002fee02000ULL);
  t.table->table_write(24, 8, 0x0000000000000077ULL);  // data 0x77 and unmask in one write
  EXPECT_EQ(t.table->table_read(16, 4), 0xfee02000U);
  EXPECT_EQ(t.table->table_read(20, 4), 0x2U);
  EXPECT_EQ(t.table->table_read(24, 4), 0x77U);
  EXPECT_FALSE(t.table->masked(1));
  // Only the mask bit of Vector Control is implemented.
  t.table->table_write(16 + kCtrl, 4, 0xffffffff);
  EXPECT_EQ(t.table->table_read(16 + kCtrl, 4), 1U);
  EXPECT_EQ(t.table->table_read(0, 4), 0U);  // entry 0 untouched
}

TEST(MsixTable, BadSizesAndOffsetsAreDropped) {
  Table t(2);
  t.table->table_write(0, 4, 0x1234);
  for (unsigned size : {0U, 1U, 2U, 3U, 5U, 16U}) {
    EXPECT_EQ(t.table->table_read(0, size), 0U) << size;
    t.table->table_write(0, size, 0xffffffff);
    EXPECT_EQ(t.table->pba_read(0, size), 0U) << size;
  }
  EXPECT_EQ(t.table->table_read(0, 4), 0x1234U);
  t.table->table_write(2, 4, 0xffffffff);  // misaligned
  t.table->table_write(4, 8, 0xffffffff);  // misaligned for 8
  EXPECT_EQ(t.table->table_read(2, 4), 0U);
  EXPECT_EQ(t.table->table_read(4, 8), 0U);
  EXPECT_EQ(t.table->table_read(0, 4), 0x1234U);
  EXPECT_EQ(t.table->table_read(4, 4), 0U);
  EXPECT_EQ(t.table->table_read(32, 4), 0U);  // past the table
  t.table->table_write(32, 4, 0);
  t.table->table_write(~uint64_t{0} - 3, 4, 0);
  EXPECT_EQ(t.table->table_read(~uint64_t{0} - 7, 8), 0U);
  EXPECT_EQ(t.table->pba_read(8, 8), 0U);  // past the PBA
  EXPECT_EQ(t.table->pba_read(4, 8), 0U);
  t.table->signal(2);  // no such vector
  t.table->signal(~0U);
  EXPECT_TRUE(t.table->masked(2));
  EXPECT_FALSE(t.table->pending(2));
}

TEST(MsixTable, MaskedSignalIsPendingUntilUnmask) {
  Table t(4);
  t.table->signal(2);
  EXPECT_EQ(t.count(2), 0U);
  EXPECT_TRUE(t.table->pending(2));
  EXPECT_EQ(t.table->pba_read(0, 8), 0x4U);
  t.table->signal(2);  // coalesces into the one pending bit
  t.unmask(2);
  EXPECT_EQ(t.count(2), 1U);
  EXPECT_FALSE(t.table->pending(2));
  t.table->signal(2);  // unmasked: straight through
  EXPECT_EQ(t.count(2), 2U);
  // Unmasking a vector with nothing pending sends nothing; writing 0 again is no unmask.
  t.unmask(1);
  t.unmask(2);
  EXPECT_EQ(t.count(1), 0U);
  EXPECT_EQ(t.count(2), 2U);
  // PBA writes do not exist: there is no way to clear a pending bit except delivery or reset.
  t.mask(3);
  t.table->signal(3);
  t.table->table_write(t.table->table_bytes(), 8, 0);
  EXPECT_TRUE(t.table->pending(3));
}

TEST(MsixTable, FunctionMaskHoldsEveryVector) {
  Table t(3);
  t.unmask(0);
  t.unmask(1);
  t.function_masked = true;
  t.table->signal(0);
  t.table->signal(1);
  t.table->signal(2);
  EXPECT_EQ(t.count(0) + t.count(1) + t.count(2), 0U);
  EXPECT_EQ(t.table->pba_read(0, 4), 0x7U);
  t.table->unmask_check();  // still function-masked: nothing
  t.mask(0);
  t.unmask(0);  // a vector unmask under the Function Mask delivers nothing
  EXPECT_EQ(t.count(0), 0U);
  t.function_masked = false;
  t.table->unmask_check();
  EXPECT_EQ(t.count(0), 1U);
  EXPECT_EQ(t.count(1), 1U);
  EXPECT_EQ(t.count(2), 0U);  // its own mask still holds it
  EXPECT_EQ(t.table->pba_read(0, 8), 0x4U);
  t.table->unmask_check();  // nothing left to deliver twice
  EXPECT_EQ(t.count(0), 1U);
}

TEST(MsixTable, PbaReadsAcrossWords) {
  Table t(100);
  t.table->signal(0);
  t.table->signal(33);
  t.table->signal(64);
  t.table->signal(99);
  EXPECT_EQ(t.table->pba_read(0, 8), (uint64_t{1} << 33) | 1);
  EXPECT_EQ(t.table->pba_read(0, 4), 1U);
  EXPECT_EQ(t.table->pba_read(4, 4), 2U);
  EXPECT_EQ(t.table->pba_read(8, 8), (uint64_t{1} << 35) | 1);
  EXPECT_EQ(t.table->pba_read(12, 4), 8U);
}

TEST(MsixTable, ResetMasksAndClears) {
  Table t(2);
  t.table->table_write(0, 8, 0xfee00000);
  t.table->table_write(8, 8, 0x55);
  t.mask(1);
  t.table->signal(1);
  t.table->reset();
  EXPECT_TRUE(t.table->masked(0));
  EXPECT_FALSE(t.table->pending(1));
  EXPECT_EQ(t.table->table_read(0, 8), 0U);
  EXPECT_EQ(t.table->table_read(8, 8), 1ULL << 32);
  t.unmask(1);
  EXPECT_EQ(t.count(1), 0U);  // the pending message died with the reset
}

TEST(MsixTable, DeliverRunsWithoutTheLock) {
  std::unique_ptr<MsixTable> table;
  int calls = 0;
  table = std::make_unique<MsixTable>(
      2,
      [&](unsigned v) {
        ++calls;
        EXPECT_FALSE(table->pending(v));  // would deadlock if the lock were held
        table->table_write(16 + kCtrl, 4, 0);
      },
      [] { return false; });
  table->table_write(kCtrl, 4, 0);
  table->table_write(16 + kCtrl, 4, 1);
  table->signal(1);
  table->signal(0);  // its delivery unmasks vector 1, which delivers from inside
  EXPECT_EQ(calls, 2);
}

// Signals from several threads while another flips the vector masks and the Function Mask.
// Every delivery must answer a signal (no duplicates), and once everything is unmasked the last
// signal of each vector must have been delivered (nothing lost).
TEST(MsixTableConcurrency, NoLostOrDuplicateDeliveries) {
  constexpr unsigned kVectors = 8;
  constexpr unsigned kThreads = 4;
  constexpr unsigned kSignals = 20000;
  std::vector<std::atomic<uint64_t>> signaled(kVectors);
  std::vector<std::atomic<uint64_t>> delivered(kVectors);
  std::vector<std::atomic<uint64_t>> covered(kVectors);  // signaled[v] as a delivery saw it
  std::atomic<bool> fm{false};
  std::atomic<bool> overdelivered{false};
  MsixTable table(
      kVectors,
      [&](unsigned v) {
        const uint64_t d = delivered[v].fetch_add(1) + 1;
        const uint64_t s = signaled[v].load();
        if (d > s) overdelivered = true;
        uint64_t c = covered[v].load();
        while (c < s && !covered[v].compare_exchange_weak(c, s)) {
        }
      },
      [&] { return fm.load(); });
  for (unsigned v = 0; v < kVectors; ++v) table.table_write(entry(v) + kCtrl, 4, 0);

  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    unsigned i = 0;
    while (!stop.load()) {
      const unsigned v = i % kVectors;
      table.table_write(entry(v) + kCtrl, 4, 1);
      if (i % 5 == 0) fm = true;
      std::this_thread::yield();
      table.table_write(entry(v) + kCtrl, 4, 0);
      if (i % 5 == 0) {
        fm = false;
        table.unmask_check();  // what the config listener does on a Function Mask change
      }
      ++i;
    }
  });
  std::vector<std::thread> signalers;
  for (unsigned t = 0; t < kThreads; ++t) {
    signalers.emplace_back([&, t] {
      for (unsigned i = 0; i < kSignals; ++i) {
        const unsigned v = (i + t) % kVectors;
        signaled[v].fetch_add(1);
        table.signal(v);
      }
    });
  }
  for (auto& th : signalers) th.join();
  stop = true;
  flipper.join();
  for (unsigned v = 0; v < kVectors; ++v) table.table_write(entry(v) + kCtrl, 4, 0);
  fm = false;
  table.unmask_check();

  EXPECT_FALSE(overdelivered.load());
  uint64_t total = 0;
  for (unsigned v = 0; v < kVectors; ++v) {
    EXPECT_FALSE(table.pending(v)) << v;
    EXPECT_LE(delivered[v].load(), signaled[v].load()) << v;
    EXPECT_EQ(covered[v].load(), signaled[v].load()) << "last signal of vector " << v << " lost";
    total += signaled[v].load();
  }
  EXPECT_EQ(total, uint64_t{kThreads} * kSignals);
}

// With nothing masked every signal is one delivery, whatever the interleaving.
TEST(MsixTableConcurrency, UnmaskedSignalsAllDeliverOnce) {
  constexpr unsigned kThreads = 4;
  constexpr unsigned kSignals = 20000;
  std::atomic<uint64_t> delivered{0};
  MsixTable table(
      4, [&](unsigned) { delivered.fetch_add(1); }, [] { return false; });
  for (unsigned v = 0; v < 4; ++v) table.table_write(entry(v) + kCtrl, 4, 0);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (unsigned i = 0; i < kSignals; ++i) table.signal((i + t) % 4);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(delivered.load(), uint64_t{kThreads} * kSignals);
}

}  // namespace
}  // namespace uvfio::pci
