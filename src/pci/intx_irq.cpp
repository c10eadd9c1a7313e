#include "pci/intx_irq.h"

#include <cerrno>
#include <utility>

#include "pci/config_space.h"

namespace uvfio::pci {

IntxIrq::IntxIrq(ConfigSpace& config) : config_(config) {}

IntxIrq::~IntxIrq() {
  unmask_fd_.reset();  // joins the watcher before the state it touches goes away
}

bool IntxIrq::enabled() const {
  std::lock_guard lk(mu_);
  return enabled_;
}

bool IntxIrq::masked() const {
  std::lock_guard lk(mu_);
  return enabled_ && masked_;
}

bool IntxIrq::virq_disabled() const {
  std::lock_guard lk(mu_);
  return virq_disabled_;
}

void IntxIrq::enable(std::optional<EventfdRef> trigger) {
  trigger_.replace(std::move(trigger));
  // The virtual bit lives in config space; command_changed() keeps virq_disabled_ in step while
  // the device is in use, but a fresh open or a reset rebuilds config space without an event, so
  // take it from there now (it only matters while INTx is enabled).
  const bool intx_disable = config_.intx_disabled();
  bool fire = false;
  {
    std::lock_guard lk(mu_);
    virq_disabled_ = intx_disable;
    // The initial mask follows INTx Disable; a line already asserted interrupts as soon as the
    // handler is installed, which delivers and automasks (possibly into an empty trigger).
    masked_ = virq_disabled_;
    enabled_ = true;
    if (line_ && !masked_) {
      masked_ = true;
      fire = true;
    }
  }
  if (fire) send();
}

void IntxIrq::set_signal(std::optional<EventfdRef> trigger) {
  // The slot's lock waits out a concurrent send(), so the old eventfd is never signalled after
  // this returns (the kernel's synchronize_irq + vfio_virqfd_flush_thread).
  trigger_.replace(std::move(trigger));
}

void IntxIrq::disable() {
  unmask_fd_.reset();
  {
    std::lock_guard lk(mu_);
    enabled_ = false;
    masked_ = false;  // the kernel frees the context, and its mask state with it
  }
  trigger_.reset();
}

void IntxIrq::mask() {
  std::lock_guard lk(mu_);
  // Not INTx: the kernel only makes the physical DisINTx follow the virtual bit; nothing to model.
  if (enabled_ && !masked_) masked_ = true;
}

bool IntxIrq::unmask_handler() {
  std::lock_guard lk(mu_);
  if (!enabled_ || !masked_ || virq_disabled_) return false;
  // pci_check_and_unmask_intx: a still-pending line is not unmasked; it is re-sent instead.
  masked_ = line_;
  return line_;
}

void IntxIrq::unmask() {
  if (unmask_handler()) send();
}

int IntxIrq::set_unmask_eventfd(int32_t fd) {
  if (fd < 0) {
    unmask_fd_.reset();
    return 0;
  }
  // vfio_virqfd_enable: fd errors first, then EBUSY if an unmask eventfd is already set.
  auto efd = EventfdRef::get(fd);
  if (!efd) return -efd.error();
  if (unmask_fd_) return -EBUSY;
  auto v = Virqfd::create(
      std::move(*efd), [this] { return unmask_handler(); }, [this] { send(); });
  if (!v) return -v.error();
  unmask_fd_ = std::move(*v);
  return 0;
}

void IntxIrq::set_virq_disabled(bool disabled) {
  {
    std::lock_guard lk(mu_);
    if (virq_disabled_ == disabled) return;
    virq_disabled_ = disabled;
  }
  if (disabled) {
    mask();
  } else {
    unmask();
  }
}

void IntxIrq::send() {
  {
    std::lock_guard lk(mu_);
    if (!enabled_ || virq_disabled_) return;
  }
  trigger_.signal();
}

void IntxIrq::set_line(bool asserted) {
  bool fire = false;
  {
    std::lock_guard lk(mu_);
    line_ = asserted;
    config_.set_interrupt_status(asserted);
    // vfio_intx_handler / pci_check_and_mask_intx: an unmasked, pending line is taken and masked.
    if (asserted && enabled_ && !masked_) {
      masked_ = true;
      fire = true;
    }
  }
  if (fire) send();
}

}  // namespace uvfio::pci
