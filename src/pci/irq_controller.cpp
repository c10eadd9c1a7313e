#include "pci/irq_controller.h"

#include <linux/vfio.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <type_traits>
#include <variant>
#include <vector>

#include "pci/config_space.h"
#include "pci/eventfd_ref.h"
#include "pci/intx_irq.h"
#include "pci/irq_trigger.h"
#include "pci/msi_irqs.h"
#include "pci/set_irqs_validation.h"
#include "uvfio/pci/device_model.h"

namespace uvfio::pci {

namespace {

constexpr uint16_t kCommandIntxDisable = 0x400;  // PCI_COMMAND_INTX_DISABLE
constexpr unsigned kMsiMaxVectors = 32;
constexpr unsigned kMsixMaxVectors = 2048;

// vfio-pci reports MSI-X without NORESIZE when the host can allocate MSI-X vectors dynamically
// (has_dyn_msix: an MSI-X function on a platform whose MSI domain allows it, such as x86 with
// interrupt remapping under VT-d). The emulated table can always grow, and MsiIrqs honours it:
// while MSI-X is enabled any entry can be given an eventfd. Without MSI-X, NORESIZE as the kernel.
constexpr bool kDynamicMsix = true;

int32_t fd_at(const uint8_t* data, size_t i) {
  int32_t fd = 0;
  std::memcpy(&fd, data + i * sizeof fd, sizeof fd);
  return fd;
}

}  // namespace

struct IrqController::Impl {
  Impl(const DeviceLayout& layout, ConfigSpace& cfg, MsixTable* msix)
      : config(cfg),
        intx(cfg),
        msi(cfg, msix, count_of<MsiSpec>(layout), msi_maskable(layout),
            msix != nullptr ? count_of<MsixSpec>(layout) : 0) {
    // vfio_pci_get_irq_count: INTx needs a pin; MSI counts Multiple Message Capable, MSI-X the
    // table size; ERR exists on PCIe functions only; REQ always.
    counts[VFIO_PCI_INTX_IRQ_INDEX] = layout.interrupt_pin != 0 ? 1 : 0;
    counts[VFIO_PCI_MSI_IRQ_INDEX] = count_of<MsiSpec>(layout);
    counts[VFIO_PCI_MSIX_IRQ_INDEX] = msix != nullptr ? count_of<MsixSpec>(layout) : 0;
    pcie = std::any_of(layout.capabilities.begin(), layout.capabilities.end(),
                       [](const Capability& c) { return std::holds_alternative<ExpressSpec>(c); });
    counts[VFIO_PCI_ERR_IRQ_INDEX] = pcie ? 1 : 0;
    counts[VFIO_PCI_REQ_IRQ_INDEX] = 1;
    has_dyn_msix = kDynamicMsix && counts[VFIO_PCI_MSIX_IRQ_INDEX] != 0;
  }

  template <class Spec>
  static unsigned count_of(const DeviceLayout& layout) {
    for (const Capability& c : layout.capabilities) {
      if (const auto* s = std::get_if<Spec>(&c)) {
        unsigned limit = std::is_same_v<Spec, MsiSpec> ? kMsiMaxVectors : kMsixMaxVectors;
        return std::min(s->vectors, limit);
      }
    }
    return 0;
  }

  static bool msi_maskable(const DeviceLayout& layout) {
    for (const Capability& c : layout.capabilities) {
      if (const auto* s = std::get_if<MsiSpec>(&c)) return s->per_vector_mask;
    }
    return false;
  }

  bool irq_none() const { return !intx.enabled() && msi.kind() == MsiIrqs::Kind::kNone; }

  // vfio_pci_set_irqs_ioctl and its per-index handlers; igate held, header validated, `data`
  // holds the validated payload.
  int set_irqs(uint32_t flags, uint32_t index, uint32_t start, uint32_t count, const uint8_t* data);
  int set_intx_mask(uint32_t start, uint32_t count, uint32_t flags, const uint8_t* data);
  int set_intx_unmask(uint32_t start, uint32_t count, uint32_t flags, const uint8_t* data);
  int set_intx_trigger(uint32_t start, uint32_t count, uint32_t flags, const uint8_t* data);
  int set_msi_trigger(uint32_t index, uint32_t start, uint32_t count, uint32_t flags,
                      const uint8_t* data);

  ConfigSpace& config;
  std::array<uint32_t, VFIO_PCI_NUM_IRQS> counts{};
  bool pcie = false;
  bool has_dyn_msix = false;
  std::mutex igate;
  IntxIrq intx;
  MsiIrqs msi;
  TriggerSlot err_trigger;
  TriggerSlot req_trigger;
};

int IrqController::Impl::set_intx_mask(uint32_t start, uint32_t count, uint32_t flags,
                                       const uint8_t* data) {
  if (!intx.enabled() || start != 0 || count != 1) return -EINVAL;
  if ((flags & VFIO_IRQ_SET_DATA_NONE) != 0) {
    intx.mask();
  } else if ((flags & VFIO_IRQ_SET_DATA_BOOL) != 0) {
    if (data[0] != 0) intx.mask();
  } else if ((flags & VFIO_IRQ_SET_DATA_EVENTFD) != 0) {
    return -ENOTTY;  // the kernel has no mask eventfd either ("XXX implement me")
  }
  return 0;
}

int IrqController::Impl::set_intx_unmask(uint32_t start, uint32_t count, uint32_t flags,
                                         const uint8_t* data) {
  if (!intx.enabled() || start != 0 || count != 1) return -EINVAL;
  if ((flags & VFIO_IRQ_SET_DATA_NONE) != 0) {
    intx.unmask();
  } else if ((flags & VFIO_IRQ_SET_DATA_BOOL) != 0) {
    if (data[0] != 0) intx.unmask();
  } else if ((flags & VFIO_IRQ_SET_DATA_EVENTFD) != 0) {
    return intx.set_unmask_eventfd(fd_at(data, 0));
  }
  return 0;
}

int IrqController::Impl::set_intx_trigger(uint32_t start, uint32_t count, uint32_t flags,
                                          const uint8_t* data) {
  if (intx.enabled() && count == 0 && (flags & VFIO_IRQ_SET_DATA_NONE) != 0) {
    intx.disable();
    return 0;
  }
  if (!(intx.enabled() || irq_none()) || start != 0 || count != 1) return -EINVAL;

  if ((flags & VFIO_IRQ_SET_DATA_EVENTFD) != 0) {
    int32_t fd = fd_at(data, 0);
    std::optional<EventfdRef> trigger;
    if (fd >= 0) {
      auto ref = EventfdRef::get(fd);
      if (!ref) return -ref.error();
      trigger = std::move(*ref);
    }
    // A negative fd enables INTx without an eventfd (or unassigns it), as in the kernel.
    if (intx.enabled()) {
      intx.set_signal(std::move(trigger));
    } else {
      intx.enable(std::move(trigger));
    }
    return 0;
  }

  if (!intx.enabled()) return -EINVAL;
  if ((flags & VFIO_IRQ_SET_DATA_NONE) != 0) {
    intx.send();
  } else if ((flags & VFIO_IRQ_SET_DATA_BOOL) != 0) {
    if (data[0] != 0) intx.send();
  }
  return 0;
}

int IrqController::Impl::set_msi_trigger(uint32_t index, uint32_t start, uint32_t count,
                                         uint32_t flags, const uint8_t* data) {
  const auto want = index == VFIO_PCI_MSIX_IRQ_INDEX ? MsiIrqs::Kind::kMsix : MsiIrqs::Kind::kMsi;
  const bool is_type = msi.kind() == want;

  if (is_type && count == 0 && (flags & VFIO_IRQ_SET_DATA_NONE) != 0) {
    msi.disable();
    return 0;
  }
  // Another type (INTx, or MSI vs MSI-X) must be disabled first.
  if (!(is_type || irq_none())) return -EINVAL;

  if ((flags & VFIO_IRQ_SET_DATA_EVENTFD) != 0) {
    std::vector<int32_t> fds(count);
    for (uint32_t i = 0; i < count; ++i) fds[i] = fd_at(data, i);
    if (is_type) return msi.set_block(start, count, fds.data());
    // The first eventfds enable the index with start + count vectors (count 0 with start 0:
    // pci_alloc_irq_vectors' -ERANGE).
    int ret = msi.enable(want, start + count);
    if (ret != 0) return ret;
    ret = msi.set_block(start, count, fds.data());
    if (ret != 0) msi.disable();
    return ret;
  }

  if (!is_type) return -EINVAL;
  msi.loopback(start, count, (flags & VFIO_IRQ_SET_DATA_BOOL) != 0 ? data : nullptr);
  return 0;
}

int IrqController::Impl::set_irqs(uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
                                  const uint8_t* data) {
  // A switch on the action bits: none or several match no case and end in ENOTTY, as in the kernel.
  const uint32_t action = flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
  switch (index) {
    case VFIO_PCI_INTX_IRQ_INDEX:
      switch (action) {
        case VFIO_IRQ_SET_ACTION_MASK:
          return set_intx_mask(start, count, flags, data);
        case VFIO_IRQ_SET_ACTION_UNMASK:
          return set_intx_unmask(start, count, flags, data);
        case VFIO_IRQ_SET_ACTION_TRIGGER:
          return set_intx_trigger(start, count, flags, data);
        default:
          break;
      }
      break;
    case VFIO_PCI_MSI_IRQ_INDEX:
    case VFIO_PCI_MSIX_IRQ_INDEX:
      // MASK / UNMASK of MSI and MSI-X: ENOTTY ("Need masking support exported" in the kernel).
      if (action == VFIO_IRQ_SET_ACTION_TRIGGER) {
        return set_msi_trigger(index, start, count, flags, data);
      }
      break;
    case VFIO_PCI_ERR_IRQ_INDEX:
      if (action == VFIO_IRQ_SET_ACTION_TRIGGER && pcie) {
        if (start != 0 || count > 1) return -EINVAL;
        return set_ctx_trigger_single(err_trigger, count, flags, data);
      }
      break;
    case VFIO_PCI_REQ_IRQ_INDEX:
      if (action == VFIO_IRQ_SET_ACTION_TRIGGER) {
        if (start != 0 || count > 1) return -EINVAL;
        return set_ctx_trigger_single(req_trigger, count, flags, data);
      }
      break;
    default:
      break;
  }
  return -ENOTTY;
}

IrqController::IrqController(const DeviceLayout& layout, ConfigSpace& config, MsixTable* msix)
    : impl_(std::make_unique<Impl>(layout, config, msix)) {}

// Members go in reverse order: the unmask watcher is joined and every eventfd closed. Config
// space and the MSI-X table are not touched (the owner may already have destroyed them).
IrqController::~IrqController() = default;

long IrqController::get_irq_info(unsigned long arg) {
  auto* user = reinterpret_cast<vfio_irq_info*>(arg);
  if (user == nullptr) return -EFAULT;
  constexpr size_t minsz = offsetof(vfio_irq_info, count) + sizeof(user->count);
  vfio_irq_info info{};
  std::memcpy(&info, user, minsz);
  if (info.argsz < minsz || info.index >= VFIO_PCI_NUM_IRQS) return -EINVAL;
  // ERR exists on PCIe functions only: anything else answers EINVAL, as for a bad index.
  if (info.index == VFIO_PCI_ERR_IRQ_INDEX && !impl_->pcie) return -EINVAL;

  info.flags = VFIO_IRQ_INFO_EVENTFD;
  info.count = impl_->counts[info.index];
  if (info.index == VFIO_PCI_INTX_IRQ_INDEX) {
    info.flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
  } else if (info.index != VFIO_PCI_MSIX_IRQ_INDEX || !impl_->has_dyn_msix) {
    info.flags |= VFIO_IRQ_INFO_NORESIZE;  // MSI, ERR and REQ too, as the kernel reports them
  }
  std::memcpy(user, &info, minsz);
  return 0;
}

long IrqController::set_irqs(unsigned long arg) {
  const auto* user = reinterpret_cast<const uint8_t*>(arg);
  if (user == nullptr) return -EFAULT;
  vfio_irq_set hdr{};
  std::memcpy(&hdr, user, kIrqSetMinsz);
  const uint32_t index = hdr.index;
  const uint32_t max = index < VFIO_PCI_NUM_IRQS ? impl_->counts[index] : 0;
  size_t data_size = 0;
  int ret = validate_set_irqs(hdr, max, VFIO_PCI_NUM_IRQS, &data_size);
  if (ret != 0) return ret;
  // The payload is copied before acting, as the kernel's memdup_user does.
  std::vector<uint8_t> data(user + kIrqSetMinsz, user + kIrqSetMinsz + data_size);
  std::lock_guard g(impl_->igate);
  return impl_->set_irqs(hdr.flags, index, hdr.start, hdr.count, data.data());
}

void IrqController::set_intx(bool asserted) {
  if (impl_->counts[VFIO_PCI_INTX_IRQ_INDEX] == 0) return;  // no INTA# pin to drive
  impl_->intx.set_line(asserted);
}

void IrqController::signal_msi(unsigned vector) {
  impl_->msi.signal(vector);
}

bool IrqController::msi_enabled() const {
  return impl_->msi.kind() == MsiIrqs::Kind::kMsi;
}

bool IrqController::msix_enabled() const {
  return impl_->msi.kind() == MsiIrqs::Kind::kMsix;
}

void IrqController::deliver_msix(unsigned vector) {
  impl_->msi.deliver_msix(vector);
}

bool IrqController::intx_masked() const {
  return impl_->intx.masked();
}

void IrqController::command_changed(uint16_t /*old_cmd*/, uint16_t new_cmd) {
  // Compared with the remembered state, not old_cmd, as the kernel compares with virq_disabled.
  std::lock_guard g(impl_->igate);
  impl_->intx.set_virq_disabled((new_cmd & kCommandIntxDisable) != 0);
}

void IrqController::msi_mask_changed() {
  impl_->msi.msi_mask_changed();
}

bool IrqController::request() {
  return impl_->req_trigger.signal();
}

void IrqController::error() {
  impl_->err_trigger.signal();
}

void IrqController::disable_all(bool keep_err_req) {
  std::lock_guard g(impl_->igate);
  // vfio_pci_core_disable: SET_IRQS(DATA_NONE | ACTION_TRIGGER, irq_type, 0, 0).
  if (impl_->intx.enabled()) impl_->intx.disable();
  impl_->msi.disable();
  if (keep_err_req) {
    impl_->intx.set_virq_disabled(impl_->config.intx_disabled());
  } else {
    impl_->intx.set_virq_disabled(false);
    impl_->err_trigger.reset();
    impl_->req_trigger.reset();
  }
}

void IrqController::restore_after_reset() {
  std::lock_guard g(impl_->igate);
  impl_->msi.restore_state();
  impl_->intx.set_virq_disabled(impl_->config.intx_disabled());
}

}  // namespace uvfio::pci
