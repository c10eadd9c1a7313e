#include <linux/vfio.h>

#include <fmt/format.h>

#include "driver/device_core.h"
#include "uvfio/base/log.h"
#include "uvfio/driver/irq.h"

namespace uvfio::driver {

bool IrqInfo::eventfd() const {
  return (flags & VFIO_IRQ_INFO_EVENTFD) != 0;
}
bool IrqInfo::maskable() const {
  return (flags & VFIO_IRQ_INFO_MASKABLE) != 0;
}
bool IrqInfo::automasked() const {
  return (flags & VFIO_IRQ_INFO_AUTOMASKED) != 0;
}
bool IrqInfo::noresize() const {
  return (flags & VFIO_IRQ_INFO_NORESIZE) != 0;
}

std::string pci_irq_name(uint32_t index) {
  switch (index) {
    case VFIO_PCI_INTX_IRQ_INDEX:
      return "INTx";
    case VFIO_PCI_MSI_IRQ_INDEX:
      return "MSI";
    case VFIO_PCI_MSIX_IRQ_INDEX:
      return "MSI-X";
    case VFIO_PCI_ERR_IRQ_INDEX:
      return "ERR";
    case VFIO_PCI_REQ_IRQ_INDEX:
      return "REQ";
    default:
      return fmt::format("irq {}", index);
  }
}

IrqVectors::IrqVectors(std::shared_ptr<detail::DeviceCore> core, uint32_t index, uint32_t start,
                       std::vector<EventFd> fds)
    : core_(std::move(core)), index_(index), start_(start), fds_(std::move(fds)) {}

IrqVectors& IrqVectors::operator=(IrqVectors&& o) noexcept {
  if (this != &o) {
    try {
      disable();
    } catch (const Error& e) {
      log_write(LogLevel::kWarn, "driver", e.what());
    }
    core_ = std::move(o.core_);
    index_ = o.index_;
    start_ = o.start_;
    fds_ = std::move(o.fds_);
  }
  return *this;
}

IrqVectors::~IrqVectors() {
  try {
    disable();
  } catch (const Error& e) {
    log_write(LogLevel::kWarn, "driver", e.what());
  } catch (...) {  // a destructor must not throw; bad_alloc while formatting is all that is left
  }
}

void IrqVectors::disable() {
  if (!core_) return;
  // Detach the eventfds from the device before closing them, as a careful driver does. On
  // failure the object stays enabled (the destructor tries once more).
  core_->set_irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, index_, 0, 0, {},
                  "disable " + pci_irq_name(index_));
  core_.reset();
  fds_.clear();
}

void IrqVectors::check(uint32_t v) const {
  if (v >= fds_.size()) {
    throw Error(fmt::format("IRQ vector {}", v), core_ ? core_->target() : std::string(), EINVAL,
                fmt::format("{} vectors are enabled here", fds_.size()));
  }
}

int IrqVectors::fd(uint32_t v) const {
  return eventfd(v).fd();
}

const EventFd& IrqVectors::eventfd(uint32_t v) const {
  check(v);
  return fds_[v];
}

uint64_t IrqVectors::wait(uint32_t v, std::chrono::milliseconds timeout) const {
  check(v);
  auto r = fds_[v].wait(timeout);
  if (r) return *r;
  if (r.error() == ETIMEDOUT) return 0;
  throw Error(fmt::format("wait for {} vector {}", pci_irq_name(index_), start_ + v),
              core_->target(), r.error());
}

uint64_t IrqVectors::poll(uint32_t v) const {
  check(v);
  return fds_[v].consume();
}

void IrqVectors::mask(uint32_t v) const {
  check(v);
  core_->set_irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK, index_, start_ + v, 1, {},
                  fmt::format("mask {} vector {}", pci_irq_name(index_), start_ + v));
}

void IrqVectors::unmask(uint32_t v) const {
  check(v);
  core_->set_irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, index_, start_ + v, 1, {},
                  fmt::format("unmask {} vector {}", pci_irq_name(index_), start_ + v));
}

void IrqVectors::trigger(uint32_t v) const {
  check(v);
  core_->set_irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, index_, start_ + v, 1, {},
                  fmt::format("trigger {} vector {}", pci_irq_name(index_), start_ + v));
}

}  // namespace uvfio::driver
