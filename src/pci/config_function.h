// ConfigFunction: the emulated PCI function's own configuration registers with hardware semantics
// (the "physical" layer under vfio-pci's permission table): a power-on value per byte, the bits a
// config write may change, the write-1-to-clear bits, and the bits only the device itself sets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace uvfio::pci {

/// Not thread-safe: owned and locked by ConfigSpace.
class ConfigFunction {
 public:
  /// 256 (conventional) or 4096 (PCIe) bytes, all zero and read-only until define()d.
  explicit ConfigFunction(size_t size);

  size_t size() const { return regs_.size(); }

  /// A config read of `count` (1, 2 or 4) bytes at `pos`, little-endian. The caller keeps the
  /// access inside size().
  uint32_t read(size_t pos, unsigned count) const;
  /// A config write as the hardware takes it: writable bits take `val`, write-1-to-clear bits
  /// clear where `val` has a 1, every other bit keeps its value.
  void write(size_t pos, unsigned count, uint32_t val);

  /// Declares a register: its power-on value (also its current value), the bits a config write
  /// may change and the write-1-to-clear bits.
  void define(size_t pos, unsigned count, uint32_t value, uint32_t writable = 0, uint32_t w1c = 0);
  /// The device's own update of bits in `mask` to `bits`, whatever their write permissions
  /// (Status.Interrupt Status, MSI Pending Bits, PMCSR power state, MSI/MSI-X enable).
  void update(size_t pos, unsigned count, uint32_t mask, uint32_t bits);

  /// Power-on (or function reset) values everywhere.
  void power_on_reset();

  /// pci_save_state / pci_restore_state as the function sees them: save() copies the registers,
  /// restore() writes back the writable (not write-1-to-clear) bits of a saved copy.
  std::vector<uint8_t> save() const { return regs_; }
  void restore(const std::vector<uint8_t>& saved);

 private:
  std::vector<uint8_t> regs_;
  std::vector<uint8_t> reset_;
  std::vector<uint8_t> writable_;
  std::vector<uint8_t> w1c_;
};

}  // namespace uvfio::pci
