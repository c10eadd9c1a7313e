// FakeDeviceBus: a pci::DeviceBus for device-model tests. It records interrupts (set_intx,
// signal_msi) in call order, backs DMA with a few fake IOVA windows, and answers -EIO when Bus
// Master is off, -EFAULT outside the windows, -EINVAL for empty or wrapping ranges. After
// forbid() every call counts as a violation (a model touching its bus after closed()).
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "uvfio/pci/device_model.h"

namespace uvfio::test {

/// Thread-safe (one mutex around everything).
class FakeDeviceBus : public pci::DeviceBus {
 public:
  struct Event {
    enum Kind { kIntx, kMsi } kind;
    unsigned value;  // INTx level, or the MSI vector
    bool operator==(const Event&) const = default;
  };
  struct DmaCall {
    bool write;
    uint64_t iova;
    size_t len;
    int rc;
  };

  /// A window of fake memory at [iova, iova + len), zero-filled.
  void map(uint64_t iova, size_t len, bool writable = true) {
    std::lock_guard lk(mu_);
    windows_[iova] = Window{iova, std::vector<uint8_t>(len), writable};
  }
  std::vector<uint8_t> peek(uint64_t iova, size_t len) {
    std::lock_guard lk(mu_);
    Window* w = find(iova, len);
    if (w == nullptr) return {};
    const auto* p = w->bytes.data() + (iova - w->base);
    return {p, p + len};
  }
  void poke(uint64_t iova, const std::vector<uint8_t>& bytes) {
    std::lock_guard lk(mu_);
    Window* w = find(iova, bytes.size());
    if (w != nullptr) std::memcpy(w->bytes.data() + (iova - w->base), bytes.data(), bytes.size());
  }

  std::vector<Event> events() const {
    std::lock_guard lk(mu_);
    return events_;
  }
  void clear_events() {
    std::lock_guard lk(mu_);
    events_.clear();
  }
  size_t count(Event::Kind kind) const {
    std::lock_guard lk(mu_);
    size_t n = 0;
    for (const auto& e : events_) n += e.kind == kind ? 1 : 0;
    return n;
  }
  /// The last INTx level driven (false if never driven).
  bool intx_level() const {
    std::lock_guard lk(mu_);
    for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
      if (it->kind == Event::kIntx) return it->value != 0;
    }
    return false;
  }
  std::vector<DmaCall> dma_calls() const {
    std::lock_guard lk(mu_);
    return dma_calls_;
  }

  /// From now on every call is a violation.
  void forbid() { forbidden_ = true; }
  void allow() { forbidden_ = false; }
  uint64_t violations() const { return violations_; }

  std::atomic<bool> master{true};
  std::atomic<bool> msi{false};

  // --- DeviceBus ---
  int dma_read(uint64_t iova, void* dst, size_t len) override { return dma(false, iova, dst, len); }
  int dma_write(uint64_t iova, const void* src, size_t len) override {
    return dma(true, iova, const_cast<void*>(src), len);
  }
  uint64_t dma_faults() const override { return faults_; }
  bool bus_master() const override {
    check();
    return master;
  }
  bool msi_enabled() const override {
    check();
    return msi;
  }
  bool msix_enabled() const override {
    check();
    return false;
  }
  void signal_msi(unsigned vector) override {
    check();
    std::lock_guard lk(mu_);
    if (msi) events_.push_back({Event::kMsi, vector});
  }
  void set_intx(bool asserted) override {
    check();
    std::lock_guard lk(mu_);
    events_.push_back({Event::kIntx, asserted ? 1U : 0U});
  }
  std::byte* bar_memory(unsigned /*bar*/) override {
    check();
    return nullptr;
  }

 private:
  struct Window {
    uint64_t base;
    std::vector<uint8_t> bytes;
    bool writable;
  };
  void check() const {
    if (forbidden_) ++violations_;
  }
  Window* find(uint64_t iova, size_t len) {
    auto it = windows_.upper_bound(iova);
    if (it == windows_.begin()) return nullptr;
    --it;
    const uint64_t off = iova - it->first;
    if (off > it->second.bytes.size() || len > it->second.bytes.size() - off) return nullptr;
    return &it->second;
  }
  int dma(bool write, uint64_t iova, void* buf, size_t len) {
    check();
    std::lock_guard lk(mu_);
    int rc = 0;
    Window* w = nullptr;
    if (!master) {
      rc = -EIO;
    } else if (len == 0 || iova + len < iova) {
      rc = -EINVAL;
    } else if ((w = find(iova, len)) == nullptr || (write && !w->writable)) {
      rc = -EFAULT;
      ++faults_;
    } else {
      uint8_t* mem = w->bytes.data() + (iova - w->base);
      if (write) {
        std::memcpy(mem, buf, len);
      } else {
        std::memcpy(buf, mem, len);
      }
    }
    dma_calls_.push_back({write, iova, len, rc});
    return rc;
  }

  mutable std::mutex mu_;
  std::map<uint64_t, Window> windows_;
  std::vector<Event> events_;
  std::vector<DmaCall> dma_calls_;
  std::atomic<uint64_t> faults_{0};
  std::atomic<bool> forbidden_{false};
  mutable std::atomic<uint64_t> violations_{0};
};

}  // namespace uvfio::test
