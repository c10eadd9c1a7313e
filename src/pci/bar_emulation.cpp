// BARs and the expansion ROM: where the "host" placed them, the function's BAR registers, and
// vfio-pci's virtualized BARs with the sizing probe (vfio_bar_fixup).
#include <linux/pci_regs.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <functional>
#include <vector>

#include "pci/config_space_impl.h"

namespace uvfio::pci {

namespace {

// Address windows a firmware would place BARs in. The driver sees these host addresses in the
// BARs until it writes its own, as with a real function.
constexpr uint64_t kMem32Base = 0x80000000;
constexpr uint64_t kMem32End = 0xfec00000;  // below the IOAPIC
constexpr uint64_t kMem64Base = uint64_t{1} << 39;
constexpr uint64_t kMem64End = uint64_t{1} << 47;
constexpr uint64_t kIoBase = 0x1000;
constexpr uint64_t kIoEnd = 0x10000;
constexpr unsigned kRomSlot = 6;

struct Want {
  uint64_t size;
  unsigned slot;
};

/// Largest first, each naturally aligned; false when the window is too small.
bool place(std::vector<Want> wants, uint64_t base, uint64_t end,
           const std::function<void(unsigned, uint64_t)>& assign) {
  std::stable_sort(wants.begin(), wants.end(),
                   [](const Want& a, const Want& b) { return a.size > b.size; });
  uint64_t cursor = base;
  for (const Want& w : wants) {
    cursor = (cursor + w.size - 1) & ~(w.size - 1);
    if (cursor >= end || w.size > end - cursor) return false;
    assign(w.slot, cursor);
    cursor += w.size;
  }
  return true;
}

uint32_t bar_flags(const BarSpec& b) {
  if (b.type == BarType::kIo) return PCI_BASE_ADDRESS_SPACE_IO;
  uint32_t v = PCI_BASE_ADDRESS_SPACE_MEMORY;
  if (b.prefetchable) v |= PCI_BASE_ADDRESS_MEM_PREFETCH;
  if (b.type == BarType::kMem64) v |= PCI_BASE_ADDRESS_MEM_TYPE_64;
  return v;
}

}  // namespace

int ConfigSpace::Impl::assign_bars(const DeviceLayout& layout) {
  std::vector<Want> mem32;
  std::vector<Want> mem64;
  std::vector<Want> io;
  for (unsigned i = 0; i < 6; ++i) {
    const BarSpec& b = layout.bars[i];
    if (b.type == BarType::kNone) continue;
    if (i > 0 && layout.bars[i - 1].type == BarType::kMem64) return EINVAL;  // upper half
    if (!std::has_single_bit(b.size)) return EINVAL;
    switch (b.type) {
      case BarType::kMem32:
        if (b.size < 16) return EINVAL;
        mem32.push_back({b.size, i});
        break;
      case BarType::kMem64:
        if (b.size < 16 || i == 5) return EINVAL;
        mem64.push_back({b.size, i});
        break;
      case BarType::kIo:
        if (b.size < 4) return EINVAL;
        io.push_back({b.size, i});
        break;
      case BarType::kNone:
        break;
    }
  }
  if (layout.rom_size != 0) {
    if (!std::has_single_bit(layout.rom_size) || layout.rom_size < 2048) return EINVAL;
    mem32.push_back({layout.rom_size, kRomSlot});
  }
  bars = layout.bars;
  rom_size = layout.rom_size;
  auto assign = [this](unsigned slot, uint64_t addr) {
    if (slot == kRomSlot)
      rom_addr = static_cast<uint32_t>(addr);
    else
      bar_addr[slot] = addr;
  };
  if (!place(mem32, kMem32Base, kMem32End, assign) ||
      !place(mem64, kMem64Base, kMem64End, assign) || !place(io, kIoBase, kIoEnd, assign))
    return EINVAL;
  return 0;
}

void ConfigSpace::Impl::init_bars() {
  for (unsigned i = 0; i < 6; ++i) {
    const size_t reg = PCI_BASE_ADDRESS_0 + 4 * i;
    const BarSpec& b = bars[i];
    if (b.type == BarType::kNone) {
      // An unimplemented BAR (or the upper half of a 64-bit one, defined with its lower half).
      if (i == 0 || bars[i - 1].type != BarType::kMem64) phys.define(reg, 4, 0);
      continue;
    }
    const uint64_t mask = ~(b.size - 1);
    const uint32_t low_bits = b.type == BarType::kIo ? 0x3 : 0xf;
    phys.define(reg, 4, static_cast<uint32_t>(bar_addr[i]) | bar_flags(b),
                static_cast<uint32_t>(mask) & ~low_bits);
    if (b.type == BarType::kMem64)
      phys.define(reg + 4, 4, static_cast<uint32_t>(bar_addr[i] >> 32),
                  static_cast<uint32_t>(mask >> 32));
  }
  if (rom_size != 0)
    phys.define(PCI_ROM_ADDRESS, 4, rom_addr,
                (~(rom_size - 1) & PCI_ROM_ADDRESS_MASK) | PCI_ROM_ADDRESS_ENABLE);
  else
    phys.define(PCI_ROM_ADDRESS, 4, 0);
}

void ConfigSpace::Impl::bar_fixup() {
  // vfio_bar_fixup: make the virtual BARs answer like hardware. Address bits below the size read
  // as 0 and the type bits are forced, so writing all-ones reads back the size mask (the sizing
  // probe); an unimplemented BAR reads 0.
  if (!bardirty) return;
  for (unsigned i = 0; i < 6; ++i) {
    const size_t reg = PCI_BASE_ADDRESS_0 + 4 * i;
    if (bar_addr[i] == 0) {
      vwrite(reg, 4, 0);  // "unmapped by host": unimplemented to the driver
      continue;
    }
    const uint64_t mask = ~(bars[i].size - 1);
    vwrite(reg, 4, (vread(reg, 4) & static_cast<uint32_t>(mask)) | bar_flags(bars[i]));
    if (bars[i].type == BarType::kMem64) {
      vwrite(reg + 4, 4, vread(reg + 4, 4) & static_cast<uint32_t>(mask >> 32));
      ++i;
    }
  }
  if (rom_size != 0) {
    const uint32_t mask = ~(rom_size - 1) | PCI_ROM_ADDRESS_ENABLE;
    vwrite(PCI_ROM_ADDRESS, 4, vread(PCI_ROM_ADDRESS, 4) & mask);
  } else {
    vwrite(PCI_ROM_ADDRESS, 4, 0);
  }
  bardirty = false;
}

}  // namespace uvfio::pci
