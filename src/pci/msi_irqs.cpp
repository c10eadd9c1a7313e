#include "pci/msi_irqs.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "pci/config_space.h"
#include "pci/msix_table.h"

namespace uvfio::pci {

namespace {

constexpr uint64_t kMsixEntrySize = 16;
constexpr uint64_t kMsixVectorCtrl = 12;
constexpr uint32_t kMsixCtrlMaskBit = 1;

}  // namespace

MsiIrqs::MsiIrqs(ConfigSpace& config, MsixTable* msix, unsigned msi_vectors, bool msi_maskable,
                 unsigned msix_vectors)
    : config_(config),
      msix_(msix),
      msi_vectors_(msi_vectors),
      msi_maskable_(msi_maskable),
      msix_vectors_(msix == nullptr ? 0 : msix_vectors),
      slots_(std::make_unique<TriggerSlot[]>(std::max(msi_vectors_, msix_vectors_))) {}

MsiIrqs::~MsiIrqs() = default;

int MsiIrqs::enable(Kind kind, unsigned nvec) {
  if (kind == Kind::kMsix) {
    // __pci_enable_msix_range tests max < min before the power state, __pci_enable_msi_range after.
    if (nvec < 1) return -ERANGE;
    if (config_.power_state() != 0) return -EINVAL;
    // msix_capability_init masks every entry first; each vector is unmasked when it gets an
    // eventfd (request_irq) and masked again when it loses it (free_irq).
    for (unsigned v = 0; v < msix_vectors_; ++v) msix_set_masked(v, true);
    config_.set_msix_enabled(true);
    // Dynamic MSI-X (IRQ_INFO without NORESIZE): any entry may get an eventfd while enabled.
    nvec_.store(msix_vectors_, std::memory_order_release);
  } else {
    if (config_.power_state() != 0) return -EINVAL;
    if (nvec < 1) return -ERANGE;
    // Sets MSI Enable and Multiple Message Enable; the virtual QSIZE becomes log2(nvec) rounded up.
    config_.set_msi_enabled(true, nvec);
    nvec_.store(nvec, std::memory_order_release);
  }
  kind_.store(kind, std::memory_order_release);
  return 0;
}

void MsiIrqs::msix_set_masked(unsigned vector, bool masked) {
  if (msix_ == nullptr) return;
  uint64_t off = uint64_t{vector} * kMsixEntrySize + kMsixVectorCtrl;
  auto ctrl = static_cast<uint32_t>(msix_->table_read(off, 4));
  ctrl = masked ? (ctrl | kMsixCtrlMaskBit) : (ctrl & ~kMsixCtrlMaskBit);
  // Unmasking a vector whose pending bit is set sends it now (to the eventfd just installed):
  // the table does that on the Vector Control write itself.
  msix_->table_write(off, 4, ctrl);
}

int MsiIrqs::set_vector_signal(unsigned vector, int32_t fd) {
  bool msix = kind() == Kind::kMsix;
  if (slots_[vector].armed()) {
    if (msix) msix_set_masked(vector, true);
    slots_[vector].reset();
  }
  if (fd < 0) return 0;
  // MSI cannot grow after enabling: vectors past the allocated ones have no IRQ
  // (pci_irq_vector's -EINVAL). MSI-X allocates them on demand.
  if (!msix && vector >= nvec_.load(std::memory_order_acquire)) return -EINVAL;
  auto ref = EventfdRef::get(fd);
  if (!ref) return -ref.error();
  slots_[vector].replace(std::move(*ref));
  if (msix) msix_set_masked(vector, false);
  return 0;
}

int MsiIrqs::set_block(unsigned start, unsigned count, const int32_t* fds) {
  unsigned j = start;
  int ret = 0;
  for (unsigned i = 0; i < count && ret == 0; ++i, ++j) {
    ret = set_vector_signal(j, fds != nullptr ? fds[i] : -1);
  }
  if (ret != 0) {
    for (unsigned i = start; i < j; ++i) set_vector_signal(i, -1);
  }
  return ret;
}

void MsiIrqs::disable() {
  Kind k = kind();
  if (k == Kind::kNone) return;
  unsigned slots = std::max(msi_vectors_, msix_vectors_);
  for (unsigned v = 0; v < slots; ++v) set_vector_signal(v, -1);
  if (k == Kind::kMsi) {
    config_.set_msi_enabled(false, 0);
  } else {
    config_.set_msix_enabled(false);
  }
  nvec_.store(0, std::memory_order_release);
  kind_.store(Kind::kNone, std::memory_order_release);
}

void MsiIrqs::loopback(unsigned start, unsigned count, const uint8_t* bools) {
  for (unsigned i = 0; i < count; ++i) {
    if (bools == nullptr || bools[i] != 0) slots_[start + i].signal();
  }
}

void MsiIrqs::signal(unsigned vector) {
  Kind k = kind();
  if (k == Kind::kNone) return;
  // A message is a memory write: without Bus Master Enable the function cannot send it and it is
  // lost, not left pending (QEMU's msi_send_message goes through the bus-master address space).
  if (!config_.bus_master()) return;
  switch (k) {
    case Kind::kMsi:
      signal_msi(vector);
      break;
    case Kind::kMsix:
      // The table decides: masked (vector or function) -> pending bit, else deliver_msix().
      if (vector < msix_vectors_) msix_->signal(vector);
      break;
    case Kind::kNone:
      break;
  }
}

void MsiIrqs::signal_msi(unsigned vector) {
  if (vector >= nvec_.load(std::memory_order_acquire)) return;
  if (msi_maskable_) {
    // Under the lock a concurrent unmask either sees our pending bit or we see its cleared mask.
    std::lock_guard lk(msi_mask_mu_);
    if (config_.msi_vector_masked(vector)) {
      config_.set_msi_pending(vector, true);
      return;
    }
  }
  slots_[vector].signal();
}

void MsiIrqs::deliver_msix(unsigned vector) {
  if (kind() != Kind::kMsix || vector >= msix_vectors_) return;
  slots_[vector].signal();
}

void MsiIrqs::msi_mask_changed() {
  if (!msi_maskable_ || kind() != Kind::kMsi) return;
  unsigned n = nvec_.load(std::memory_order_acquire);
  uint32_t due = 0;  // MSI has at most 32 vectors
  {
    std::lock_guard lk(msi_mask_mu_);
    for (unsigned v = 0; v < n; ++v) {
      if (config_.msi_pending(v) && !config_.msi_vector_masked(v)) {
        config_.set_msi_pending(v, false);
        due |= uint32_t{1} << v;
      }
    }
  }
  for (unsigned v = 0; v < n; ++v) {
    if ((due & (uint32_t{1} << v)) != 0) slots_[v].signal();
  }
}

void MsiIrqs::restore_state() {
  switch (kind()) {
    case Kind::kMsi:
      config_.set_msi_enabled(true, nvec_.load(std::memory_order_acquire));
      break;
    case Kind::kMsix:
      for (unsigned v = 0; v < msix_vectors_; ++v) msix_set_masked(v, !slots_[v].armed());
      config_.set_msix_enabled(true);
      break;
    case Kind::kNone:
      break;
  }
}

}  // namespace uvfio::pci
