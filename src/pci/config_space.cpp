// ConfigSpace: the access path (vfio_pci_config_rw / vfio_config_do_rw), layout and validation, and
// the state accessors the core, the IRQ side and the device model use.
#include "pci/config_space.h"

#include <linux/pci_regs.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <type_traits>
#include <utility>

#include "pci/config_space_impl.h"

namespace uvfio::pci {

namespace {

constexpr size_t kConventionalSize = 256;  // PCI_CFG_SPACE_SIZE
constexpr size_t kExpressSize = 4096;      // PCI_CFG_SPACE_EXP_SIZE

size_t align4(size_t v) {
  return (v + 3) & ~size_t{3};
}

/// The chunk vfio_config_do_rw takes from `pos`: within one owner's dword, naturally aligned.
unsigned chunk_length(const ConfigPermissions& perms, size_t pos, size_t count) {
  const size_t n = std::min(count, perms.remaining_in_dword(pos));
  if (n >= 4 && pos % 4 == 0) return 4;
  if (n >= 2 && pos % 2 == 0) return 2;
  return 1;
}

/// Checks one capability spec; 0 or EINVAL.
int validate(const DeviceLayout& layout, const Capability& cap) {
  return std::visit(
      [&](const auto& c) -> int {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, MsiSpec>) {
          if (c.vectors < 1 || c.vectors > 32 || !std::has_single_bit(c.vectors)) return EINVAL;
        } else if constexpr (std::is_same_v<T, MsixSpec>) {
          if (c.vectors < 1 || c.vectors > 2048) return EINVAL;
          const uint64_t table = uint64_t{c.vectors} * 16;
          const uint64_t pba = (uint64_t{c.vectors} + 63) / 64 * 8;
          auto in_bar = [&](unsigned bar, uint64_t off, uint64_t len) {
            if (bar >= 6 || off % 8 != 0) return false;
            const BarSpec& b = layout.bars[bar];
            if (b.type != BarType::kMem32 && b.type != BarType::kMem64) return false;
            return off < b.size && len <= b.size - off;
          };
          if (!in_bar(c.table_bar, c.table_offset, table) || !in_bar(c.pba_bar, c.pba_offset, pba))
            return EINVAL;
          if (c.table_bar == c.pba_bar && c.table_offset < uint64_t{c.pba_offset} + pba &&
              c.pba_offset < uint64_t{c.table_offset} + table)
            return EINVAL;  // the table and the PBA may share a page, not bytes
        } else if constexpr (std::is_same_v<T, ExpressSpec>) {
          if (c.port_type != PCI_EXP_TYPE_ENDPOINT && c.port_type != PCI_EXP_TYPE_RC_END)
            return EINVAL;
        }
        return 0;
      },
      cap);
}

}  // namespace

ConfigSpace::~ConfigSpace() = default;

Result<std::unique_ptr<ConfigSpace>> ConfigSpace::create(const DeviceLayout& layout) {
  if (layout.interrupt_pin > 4) return Errno{EINVAL};
  bool express = false;
  std::array<bool, 4> seen{};  // one capability of each kind
  for (const Capability& cap : layout.capabilities) {
    if (seen[cap.index()]) return Errno{EINVAL};
    seen[cap.index()] = true;
    if (int e = validate(layout, cap); e != 0) return Errno{e};
    express = express || std::holds_alternative<ExpressSpec>(cap);
  }

  auto impl = std::make_unique<Impl>(express ? kExpressSize : kConventionalSize);
  Impl& s = *impl;
  s.express = express;
  if (int e = s.assign_bars(layout); e != 0) return Errno{e};

  // Capabilities from 0x40 in the order given, each dword aligned; all must end by 0x100.
  std::vector<size_t> at;
  size_t pos = PCI_STD_HEADER_SIZEOF;
  for (const Capability& cap : layout.capabilities) {
    const size_t len = std::visit(
        [](const auto& c) -> size_t {
          using T = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<T, MsiSpec>) return Impl::msi_length(c);
          if constexpr (std::is_same_v<T, MsixSpec>) return Impl::msix_length();
          if constexpr (std::is_same_v<T, PmSpec>) return Impl::pm_length();
          if constexpr (std::is_same_v<T, ExpressSpec>) return Impl::exp_length(c);
          return 0;
        },
        cap);
    if (pos + len > kConventionalSize) return Errno{EINVAL};
    at.push_back(pos);
    pos = align4(pos + len);
  }

  s.init_header(layout, at.empty() ? 0 : static_cast<uint8_t>(at.front()));
  for (size_t i = 0; i < at.size(); ++i) {
    const auto next = static_cast<uint8_t>(i + 1 < at.size() ? at[i + 1] : 0);
    std::visit(
        [&](const auto& c) {
          using T = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<T, MsiSpec>) s.init_msi(at[i], next, c);
          if constexpr (std::is_same_v<T, MsixSpec>) s.init_msix(at[i], next, c);
          if constexpr (std::is_same_v<T, PmSpec>) s.init_pm(at[i], next, c);
          if constexpr (std::is_same_v<T, ExpressSpec>) s.init_exp(at[i], next, c);
        },
        layout.capabilities[i]);
  }

  std::unique_ptr<ConfigSpace> cs(new ConfigSpace());
  cs->impl_ = std::move(impl);
  cs->enable();
  return cs;
}

size_t ConfigSpace::size() const {
  return impl_->phys.size();
}

ssize_t ConfigSpace::read(void* buf, size_t count, uint64_t pos) {
  if (count == 0) return 0;
  const size_t size = impl_->phys.size();
  // vfio_config_do_rw answers EFAULT for an access outside config space, before doing any of it.
  if (pos >= size || count > size - pos) return -EFAULT;
  if (buf == nullptr) return -EFAULT;
  auto* out = static_cast<uint8_t*>(buf);
  std::lock_guard lock(impl_->mu);
  for (size_t done = 0; done < count;) {
    const size_t p = pos + done;
    const unsigned n = chunk_length(impl_->perms, p, count - done);
    const uint32_t v = impl_->do_read(p, n);
    for (unsigned i = 0; i < n; ++i) out[done + i] = static_cast<uint8_t>(v >> (8 * i));
    done += n;
  }
  return static_cast<ssize_t>(count);
}

ssize_t ConfigSpace::write(const void* buf, size_t count, uint64_t pos) {
  if (count == 0) return 0;
  const size_t size = impl_->phys.size();
  if (pos >= size || count > size - pos) return -EFAULT;
  if (buf == nullptr) return -EFAULT;
  const auto* in = static_cast<const uint8_t*>(buf);
  Impl::Pending ev;
  ConfigEvents events;
  {
    std::lock_guard lock(impl_->mu);
    for (size_t done = 0; done < count;) {
      const size_t p = pos + done;
      const unsigned n = chunk_length(impl_->perms, p, count - done);
      uint32_t v = 0;
      for (unsigned i = 0; i < n; ++i) v |= uint32_t{in[done + i]} << (8 * i);
      impl_->do_write(p, n, v, ev);
      done += n;
    }
    if (ev.command || ev.power || ev.msi_mask || ev.msix_function_mask || ev.flr)
      events = impl_->events;
  }
  // Listeners run unlocked: they call back into ConfigSpace (and the FLR one resets it).
  if (ev.command && events.command_changed) events.command_changed(ev.old_cmd, ev.new_cmd);
  if (ev.power && events.power_state_changed)
    events.power_state_changed(ev.old_state, ev.new_state);
  if (ev.msi_mask && events.msi_mask_changed) events.msi_mask_changed();
  if (ev.msix_function_mask && events.msix_function_mask_changed)
    events.msix_function_mask_changed();
  if (ev.flr && events.flr) events.flr();
  return static_cast<ssize_t>(count);
}

void ConfigSpace::set_events(ConfigEvents events) {
  std::lock_guard lock(impl_->mu);
  impl_->events = std::move(events);
}

uint16_t ConfigSpace::command() const {
  std::lock_guard lock(impl_->mu);
  return impl_->visible_command();
}

bool ConfigSpace::memory_enabled() const {
  std::lock_guard lock(impl_->mu);
  return (impl_->vread(PCI_COMMAND, 2) & PCI_COMMAND_MEMORY) != 0;
}

void ConfigSpace::set_interrupt_status(bool asserted) {
  std::lock_guard lock(impl_->mu);
  impl_->phys.update(PCI_STATUS, 2, PCI_STATUS_INTERRUPT, asserted ? PCI_STATUS_INTERRUPT : 0);
}

unsigned ConfigSpace::power_state() const {
  std::lock_guard lock(impl_->mu);
  return impl_->power_state();
}

std::optional<uint8_t> ConfigSpace::find_capability(uint8_t cap_id) const {
  switch (cap_id) {
    case PCI_CAP_ID_PM:
      return impl_->pm_pos;
    case PCI_CAP_ID_MSI:
      return impl_->msi_pos;
    case PCI_CAP_ID_MSIX:
      return impl_->msix_pos;
    case PCI_CAP_ID_EXP:
      return impl_->exp_pos;
    default:
      return std::nullopt;
  }
}

void ConfigSpace::set_msi_enabled(bool enabled, unsigned nvec) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  if (!s.msi_pos) return;
  const size_t flags = *s.msi_pos + PCI_MSI_FLAGS;
  s.msi_irq_active = enabled;
  if (enabled) {
    nvec = std::clamp(nvec, 1U, s.msi.vectors);
    // pci_alloc_irq_vectors programs Multiple Message Enable; vfio_msi_enable remembers the
    // same log2 as msi_qmax for the virtualized QSIZE field.
    const unsigned log2 = static_cast<unsigned>(std::bit_width(nvec * 2 - 1)) - 1;
    s.msi_qmax = log2;
    s.phys.update(flags, 2, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE,
                  PCI_MSI_FLAGS_ENABLE | (log2 << 4));
  } else {
    s.phys.update(flags, 2, PCI_MSI_FLAGS_ENABLE, 0);
  }
  if (s.msi.per_vector_mask) {
    // msi_capability_init masks every vector and request_irq unmasks the ones in use;
    // pci_msi_shutdown returns the function with every vector unmasked.
    const uint32_t all = s.msi.vectors == 32 ? ~0U : (1U << s.msi.vectors) - 1;
    const uint32_t used = nvec >= 32 ? ~0U : (1U << nvec) - 1;
    s.phys.update(s.msi_mask_pos(), 4, all, enabled ? (all & ~used) : 0);
    if (!enabled) s.phys.update(s.msi_pending_pos(), 4, all, 0);
  }
}

bool ConfigSpace::msi_enabled() const {
  std::lock_guard lock(impl_->mu);
  const Impl& s = *impl_;
  return s.msi_pos && (s.phys.read(*s.msi_pos + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_ENABLE) != 0;
}

bool ConfigSpace::msi_vector_masked(unsigned v) const {
  std::lock_guard lock(impl_->mu);
  const Impl& s = *impl_;
  if (!s.msi_pos || !s.msi.per_vector_mask || v >= s.msi.vectors) return false;
  return ((s.phys.read(s.msi_mask_pos(), 4) >> v) & 1) != 0;
}

void ConfigSpace::set_msi_pending(unsigned v, bool pending) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  if (!s.msi_pos || !s.msi.per_vector_mask || v >= s.msi.vectors) return;
  s.phys.update(s.msi_pending_pos(), 4, 1U << v, pending ? 1U << v : 0);
}

bool ConfigSpace::msi_pending(unsigned v) const {
  std::lock_guard lock(impl_->mu);
  const Impl& s = *impl_;
  if (!s.msi_pos || !s.msi.per_vector_mask || v >= s.msi.vectors) return false;
  return ((s.phys.read(s.msi_pending_pos(), 4) >> v) & 1) != 0;
}

void ConfigSpace::set_msix_enabled(bool enabled) {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  if (!s.msix_pos) return;
  // msix_capability_init sets Enable with Function Mask, programs the table, then clears the
  // mask; shutdown clears only Enable.
  const size_t flags = *s.msix_pos + PCI_MSIX_FLAGS;
  if (enabled)
    s.phys.update(flags, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, PCI_MSIX_FLAGS_ENABLE);
  else
    s.phys.update(flags, 2, PCI_MSIX_FLAGS_ENABLE, 0);
}

bool ConfigSpace::msix_enabled() const {
  std::lock_guard lock(impl_->mu);
  const Impl& s = *impl_;
  return s.msix_pos && (s.phys.read(*s.msix_pos + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_ENABLE) != 0;
}

bool ConfigSpace::msix_function_masked() const {
  std::lock_guard lock(impl_->mu);
  const Impl& s = *impl_;
  return s.msix_pos && (s.phys.read(*s.msix_pos + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_MASKALL) != 0;
}

void ConfigSpace::enable() {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  // vfio_pci_core_enable: no Bus Master in the saved state, pci_enable_device turns on the
  // decoders the function has, a function reset, the saved state, INTx Disable cleared, and
  // vconfig built from what the function then holds.
  s.phys.update(PCI_COMMAND, 2, PCI_COMMAND_MASTER, 0);
  uint16_t decode = 0;
  for (const BarSpec& b : s.bars) {
    if (b.type == BarType::kIo) decode |= PCI_COMMAND_IO;
    if (b.type == BarType::kMem32 || b.type == BarType::kMem64) decode |= PCI_COMMAND_MEMORY;
  }
  if (s.rom_size != 0) decode |= PCI_COMMAND_MEMORY;
  s.phys.update(PCI_COMMAND, 2, decode, decode);
  // A fresh open has no interrupt vectors allocated.
  if (s.msi_pos) s.phys.update(*s.msi_pos + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE, 0);
  if (s.msix_pos) s.phys.update(*s.msix_pos + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE, 0);
  s.msi_irq_active = false;
  s.function_reset();
  s.open_state = s.phys.save();
  s.phys.update(PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE, 0);
  s.config_init();
}

void ConfigSpace::disable() {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  // vfio_pci_core_disable: back to D0, Bus Master off, then the state saved at open restored
  // around a function reset.
  s.set_power_state(0, nullptr);
  s.phys.update(PCI_COMMAND, 2, PCI_COMMAND_MASTER, 0);
  s.msi_irq_active = false;
  if (!s.open_state.empty()) {
    s.phys.power_on_reset();
    s.phys.restore(s.open_state);
  }
}

void ConfigSpace::reset() {
  std::lock_guard lock(impl_->mu);
  impl_->function_reset();
}

std::vector<uint8_t> ConfigSpace::snapshot() const {
  std::lock_guard lock(impl_->mu);
  Impl& s = *impl_;
  std::vector<uint8_t> out(s.phys.size());
  for (size_t p = 0; p < out.size();) {
    const unsigned n = chunk_length(s.perms, p, out.size() - p);
    const uint32_t v = s.do_read(p, n);
    for (unsigned i = 0; i < n; ++i) out[p + i] = static_cast<uint8_t>(v >> (8 * i));
    p += n;
  }
  return out;
}

// --- Impl: the access path ---

uint32_t ConfigSpace::Impl::vread(size_t pos, unsigned count) const {
  uint32_t v = 0;
  for (unsigned i = 0; i < count; ++i) v |= uint32_t{vconfig[pos + i]} << (8 * i);
  return v;
}

void ConfigSpace::Impl::vwrite(size_t pos, unsigned count, uint32_t val) {
  for (unsigned i = 0; i < count; ++i) vconfig[pos + i] = static_cast<uint8_t>(val >> (8 * i));
}

uint32_t ConfigSpace::Impl::default_read(size_t pos, unsigned count) const {
  const uint32_t virt = perms.virt(pos, count);
  uint32_t val = vread(pos, count);
  const uint32_t all = count == 4 ? ~0U : (1U << (8 * count)) - 1;
  if (virt != all) val = (phys.read(pos, count) & ~virt) | (val & virt);
  return val;
}

void ConfigSpace::Impl::default_write(size_t pos, unsigned count, uint32_t val) {
  const uint32_t write = perms.write(pos, count);
  if (write == 0) return;  // no writable bits: dropped
  const uint32_t virt = perms.virt(pos, count);
  if ((write & virt) != 0) {
    uint32_t v = vread(pos, count);
    v = (v & ~(write & virt)) | (val & write & virt);
    vwrite(pos, count, v);
  }
  if ((write & ~virt) != 0) {
    // Read-modify-write of the writable pass-through bits; the function then applies its own
    // writable and write-1-to-clear masks.
    uint32_t p = phys.read(pos, count);
    p = (p & ~(write & ~virt)) | (val & write & ~virt);
    phys.write(pos, count, p);
  }
}

uint32_t ConfigSpace::Impl::direct_read(size_t pos, unsigned count, size_t offset) const {
  uint32_t val = phys.read(pos, count);
  auto from_vconfig = [&](unsigned n) {
    const uint32_t mask = n == 4 ? ~0U : (1U << (8 * n)) - 1;
    val = (val & ~mask) | (vread(pos, n) & mask);
  };
  if (pos >= kConventionalSize) {
    if (offset < 4) from_vconfig(count);  // extended capability header
  } else if (pos >= PCI_STD_HEADER_SIZEOF) {
    if (offset == PCI_CAP_LIST_ID && count > 1)
      from_vconfig(std::min(count, unsigned{PCI_CAP_FLAGS}));
    else if (offset == PCI_CAP_LIST_NEXT)
      from_vconfig(1);
  }
  return val;
}

uint32_t ConfigSpace::Impl::do_read(size_t pos, unsigned count) {
  const uint8_t id = perms.owner(pos);
  if (id == ConfigPermissions::kUnassigned) return phys.read(pos, count);  // raw
  const size_t offset = pos - perms.cap_start(pos);
  switch (id) {
    case ConfigPermissions::kBasic:
      return basic_read(pos, count);
    case PCI_CAP_ID_MSIX:
      return direct_read(pos, count, offset);
    default:
      // Kernel quirk: vfio_msi_config_read means to refresh the virtualized QMASK from msi_qmax,
      // but it stores at the capability's first word (the ID byte, which reads from the
      // function), so it changes nothing a driver sees. The MSI read is the default read.
      return default_read(pos, count);
  }
}

void ConfigSpace::Impl::do_write(size_t pos, unsigned count, uint32_t val, Pending& ev) {
  const uint8_t id = perms.owner(pos);
  if (id == ConfigPermissions::kUnassigned) {
    phys.write(pos, count, val);  // raw
    return;
  }
  const size_t offset = pos - perms.cap_start(pos);
  switch (id) {
    case ConfigPermissions::kBasic:
      basic_write(pos, count, val, ev);
      break;
    case PCI_CAP_ID_PM:
      pm_write(pos, count, val, offset, ev);
      break;
    case PCI_CAP_ID_MSI:
      msi_write(pos, count, val, offset, ev);
      break;
    case PCI_CAP_ID_MSIX:
      msix_write(pos, count, val, ev);
      break;
    case PCI_CAP_ID_EXP:
      exp_write(pos, count, val, offset, ev);
      break;
    default:
      break;  // no write handler: dropped
  }
}

void ConfigSpace::Impl::config_init() {
  vconfig = phys.save();
  bardirty = true;
  if (interrupt_pin == 0) vconfig[PCI_INTERRUPT_PIN] = 0;
  if (!pm_pos && !msi_pos && !msix_pos && !exp_pos)
    vwrite(PCI_STATUS, 2, vread(PCI_STATUS, 2) & ~uint32_t{PCI_STATUS_CAP_LIST});
  if (pm_pos) {
    // vfio_update_pm_vconfig_bytes: the driver cannot take PME, so PME_Support, PME_Status and
    // PME_En read as 0.
    vwrite(*pm_pos + PCI_PM_PMC, 2,
           vread(*pm_pos + PCI_PM_PMC, 2) & ~uint32_t{PCI_PM_CAP_PME_MASK});
    vwrite(*pm_pos + PCI_PM_CTRL, 2,
           vread(*pm_pos + PCI_PM_CTRL, 2) &
               ~uint32_t{PCI_PM_CTRL_PME_ENABLE | PCI_PM_CTRL_PME_STATUS});
  }
  // The function has no extended capabilities (the dword at 0x100 is 0), so vfio_ecap_init does
  // nothing and the whole extended space stays raw, reading the function's zeros.
}

void ConfigSpace::Impl::function_reset() {
  // pci_try_reset_function: the function goes to D0 first (for a NoSoftRst- function vfio-pci
  // restores what it saved at D3hot entry), its state is saved, the reset returns every register
  // to power-on, and the saved state is written back. vconfig is untouched, so the driver keeps its
  // view; what the reset clears and nothing restores is gone: Status and DevSta error bits,
  // Interrupt Status, MSI Pending Bits, the MSI-X Function Mask.
  set_power_state(0, nullptr);
  const std::vector<uint8_t> saved = phys.save();
  phys.power_on_reset();
  phys.restore(saved);
  if (msix_pos) phys.update(*msix_pos + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_MASKALL, 0);
}

}  // namespace uvfio::pci
