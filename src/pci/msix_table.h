// MsixTable: the emulated MSI-X table and Pending Bit Array of a function (PCI 3.0 6.8.2): each
// entry's address, data and Vector Control (mask bit), and the PBA. A message for a masked vector
// (or while the function is masked) sets its pending bit and is sent when it is unmasked.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace uvfio::pci {

/// Thread-safe (internal mutex); owned by the core's PciCore.
class MsixTable {
 public:
  /// `deliver(v)` sends vector v to the driver (its eventfd); called without the table lock.
  /// `function_masked()` reads MSI-X Message Control's Function Mask from config space.
  MsixTable(unsigned vectors, std::function<void(unsigned)> deliver,
            std::function<bool()> function_masked);

  unsigned vectors() const { return vectors_; }
  /// Table size in bytes (16 per entry) and PBA size in bytes (8 per 64 vectors).
  uint64_t table_bytes() const { return uint64_t{vectors_} * 16; }
  uint64_t pba_bytes() const { return (uint64_t{vectors_} + 63) / 64 * 8; }

  /// Accesses at `offset` inside the table / PBA, 4 or 8 bytes naturally aligned (others read as
  /// zero and are dropped, as the PCI spec allows). PBA writes are ignored.
  uint64_t table_read(uint64_t offset, unsigned size);
  void table_write(uint64_t offset, unsigned size, uint64_t value);
  uint64_t pba_read(uint64_t offset, unsigned size);

  /// The device signals vector v: delivered now, or made pending if masked.
  void signal(unsigned v);
  /// Re-checks pending vectors after a mask change (function mask or Vector Control).
  void unmask_check();
  bool masked(unsigned v) const;
  bool pending(unsigned v) const;
  /// Power-on state: every vector masked, nothing pending, address/data zero.
  void reset();

 private:
  struct Entry {
    uint64_t address = 0;
    uint32_t data = 0;
    uint32_t control = 1;  // PCI_MSIX_ENTRY_CTRL_MASKBIT
  };
  const unsigned vectors_;
  std::function<void(unsigned)> deliver_;
  std::function<bool()> function_masked_;
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
  std::vector<uint64_t> pba_;
};

}  // namespace uvfio::pci
