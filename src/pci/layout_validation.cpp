// DeviceLayout checks (see layout_validation.h).
#include "pci/layout_validation.h"

#include <bit>
#include <cerrno>

#include "base/log_format.h"

namespace uvfio::pci {

namespace {

constexpr uint64_t kRegionWindow = uint64_t{1} << 40;  // VFIO_PCI_OFFSET_SHIFT

template <class T>
std::optional<T> find_cap(const DeviceLayout& layout) {
  for (const auto& c : layout.capabilities) {
    if (const T* t = std::get_if<T>(&c)) return *t;
  }
  return std::nullopt;
}

bool is_memory(BarType t) {
  return t == BarType::kMem32 || t == BarType::kMem64;
}

// Logs why a layout is refused (a device author's mistake, worth saying) and returns EINVAL.
template <class... A>
Errno refuse(const DeviceLayout& layout, fmt::format_string<A...> f, A&&... args) {
  log_warn("pci", "{}: invalid device layout: {}", layout.name,
           fmt::format(f, std::forward<A>(args)...));
  return Errno{EINVAL};
}

Result<void> check_bars(const DeviceLayout& l) {
  for (unsigned i = 0; i < l.bars.size(); ++i) {
    const BarSpec& b = l.bars[i];
    if (b.type == BarType::kNone) {
      if (b.size != 0 || b.memory_backed || b.prefetchable) {
        return refuse(l, "BAR{} has no type but a size or attributes", i);
      }
      continue;
    }
    const uint64_t min = b.type == BarType::kIo ? 4 : 16;
    if (b.size < min || !std::has_single_bit(b.size)) {
      return refuse(l, "BAR{} size {:#x} is not a power of two >= {}", i, b.size, min);
    }
    if (b.size > kRegionWindow) return refuse(l, "BAR{} is larger than 1 TiB", i);
    switch (b.type) {
      case BarType::kIo:
        if (b.size > 0x10000) return refuse(l, "I/O BAR{} is larger than 64 KiB", i);
        if (b.prefetchable || b.memory_backed) {
          return refuse(l, "I/O BAR{} cannot be prefetchable or memory-backed", i);
        }
        break;
      case BarType::kMem32:
        if (b.size > (uint64_t{1} << 31)) return refuse(l, "32-bit BAR{} is over 2 GiB", i);
        break;
      case BarType::kMem64:
        if (i == 5) return refuse(l, "64-bit BAR in slot 5");
        if (l.bars[i + 1].type != BarType::kNone || l.bars[i + 1].size != 0) {
          return refuse(l, "64-bit BAR{} needs slot {} free for its upper half", i, i + 1);
        }
        ++i;  // the upper half
        break;
      case BarType::kNone:
        break;
    }
  }
  if (l.rom_size != 0 &&
      (l.rom_size < 2048 || !std::has_single_bit(l.rom_size) || l.rom_size > (uint32_t{1} << 31))) {
    return refuse(l, "ROM size {:#x} is not a power of two in [2 KiB, 2 GiB]", l.rom_size);
  }
  return {};
}

// A table or PBA at [offset, offset+bytes) inside memory BAR `bar`.
Result<void> check_msix_place(const DeviceLayout& l, const char* what, unsigned bar,
                              uint64_t offset, uint64_t bytes) {
  if (bar >= l.bars.size() || !is_memory(l.bars[bar].type)) {
    return refuse(l, "MSI-X {} BAR{} is not a memory BAR", what, bar);
  }
  if (offset % 8 != 0)
    return refuse(l, "MSI-X {} offset {:#x} is not 8-byte aligned", what, offset);
  if (offset + bytes > l.bars[bar].size) {
    return refuse(l, "MSI-X {} [{:#x}, +{:#x}) is outside BAR{}", what, offset, bytes, bar);
  }
  return {};
}

Result<void> check_capabilities(const DeviceLayout& l) {
  bool seen[4] = {};
  for (const auto& c : l.capabilities) {
    if (seen[c.index()]) return refuse(l, "capability #{} given twice", c.index());
    seen[c.index()] = true;
    if (const auto* msi = std::get_if<MsiSpec>(&c)) {
      if (msi->vectors == 0 || msi->vectors > 32 || !std::has_single_bit(msi->vectors)) {
        return refuse(l, "MSI vectors {} is not 1, 2, 4, 8, 16 or 32", msi->vectors);
      }
    } else if (const auto* x = std::get_if<MsixSpec>(&c)) {
      if (x->vectors == 0 || x->vectors > 2048) {
        return refuse(l, "MSI-X vectors {} is not in 1..2048", x->vectors);
      }
      const uint64_t table = uint64_t{x->vectors} * 16;
      const uint64_t pba = (uint64_t{x->vectors} + 63) / 64 * 8;
      if (auto r = check_msix_place(l, "table", x->table_bar, x->table_offset, table); !r) return r;
      if (auto r = check_msix_place(l, "PBA", x->pba_bar, x->pba_offset, pba); !r) return r;
      if (x->table_bar == x->pba_bar && x->table_offset < x->pba_offset + pba &&
          x->pba_offset < x->table_offset + table) {
        return refuse(l, "MSI-X table and PBA overlap");
      }
    } else if (const auto* e = std::get_if<ExpressSpec>(&c)) {
      if (e->port_type != 0 && e->port_type != 9) {
        return refuse(l, "PCI Express port type {} is not an endpoint (0) or RCiEP (9)",
                      e->port_type);
      }
    }
  }
  return {};
}

}  // namespace

Result<void> validate_layout(const DeviceLayout& l) {
  if (l.vendor_id == 0xffff) return refuse(l, "vendor ID 0xffff means no device");
  if (l.class_code > 0xffffff)
    return refuse(l, "class code {:#x} is wider than 24 bits", l.class_code);
  if (l.interrupt_pin > 4) return refuse(l, "interrupt pin {} is not 0..4", l.interrupt_pin);
  if (auto r = check_bars(l); !r) return r;
  return check_capabilities(l);
}

std::optional<MsixSpec> msix_spec(const DeviceLayout& layout) {
  return find_cap<MsixSpec>(layout);
}
std::optional<PmSpec> pm_spec(const DeviceLayout& layout) {
  return find_cap<PmSpec>(layout);
}
std::optional<ExpressSpec> express_spec(const DeviceLayout& layout) {
  return find_cap<ExpressSpec>(layout);
}

}  // namespace uvfio::pci
