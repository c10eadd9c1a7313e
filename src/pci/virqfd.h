// Virqfd: an eventfd the user signals to make vfio-pci act (vfio_virqfd in the kernel's
// virqfd.c), used for INTx UNMASK with DATA_EVENTFD: each signal consumes the counter and runs
// `handler`; when it returns true, `thread` runs next (the kernel's inject work).
#pragma once

#include <functional>
#include <memory>

#include "pci/eventfd_ref.h"
#include "uvfio/base/eventfd.h"
#include "uvfio/base/result.h"
#include "uvfio/base/thread.h"

namespace uvfio::pci {

/// Owns a watcher thread (RAII: destruction stops and joins it, after which neither callback
/// runs again). The callbacks run on that thread, one at a time; they must not wait for whoever
/// destroys the Virqfd.
class Virqfd {
 public:
  /// Watches `efd`. A count already pending on it is acted on before create() returns, as the
  /// kernel does at registration. Fails only if the wake-up eventfd cannot be created.
  static Result<std::unique_ptr<Virqfd>> create(EventfdRef efd, std::function<bool()> handler,
                                                std::function<void()> thread);
  ~Virqfd();
  Virqfd(const Virqfd&) = delete;
  Virqfd& operator=(const Virqfd&) = delete;

 private:
  Virqfd(EventfdRef efd, EventFd stop, std::function<bool()> handler, std::function<void()> thread);
  void fire();
  void run(const std::stop_token& st);

  EventfdRef efd_;
  EventFd stop_;  // wakes the watcher's poll() for shutdown
  std::function<bool()> handler_;
  std::function<void()> thread_fn_;
  Thread watcher_;  // last: joined before the members it uses go away
};

}  // namespace uvfio::pci
