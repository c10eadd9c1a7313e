#include "pci/virqfd.h"

#include <poll.h>

#include <array>
#include <cerrno>
#include <utility>

namespace uvfio::pci {

Result<std::unique_ptr<Virqfd>> Virqfd::create(EventfdRef efd, std::function<bool()> handler,
                                               std::function<void()> thread) {
  auto stop = EventFd::create();
  if (!stop) return Errno{stop.error()};
  std::unique_ptr<Virqfd> v(
      new Virqfd(std::move(efd), std::move(*stop), std::move(handler), std::move(thread)));
  return v;
}

Virqfd::Virqfd(EventfdRef efd, EventFd stop, std::function<bool()> handler,
               std::function<void()> thread)
    : efd_(std::move(efd)),
      stop_(std::move(stop)),
      handler_(std::move(handler)),
      thread_fn_(std::move(thread)) {
  // An event signalled before registration is not lost (vfio_virqfd_enable checks EPOLLIN once).
  // Unlike the kernel we consume it here: a level-triggered poll() would otherwise spin on it.
  if (efd_.consume()) fire();
  watcher_ = Thread("uvfio-virqfd", [this](const std::stop_token& st) { run(st); });
}

Virqfd::~Virqfd() {
  watcher_.request_stop();
  (void)stop_.signal();
  watcher_.join();
}

void Virqfd::fire() {
  if (handler_() && thread_fn_) thread_fn_();
}

void Virqfd::run(const std::stop_token& st) {
  std::array<pollfd, 2> fds{pollfd{efd_.fd(), POLLIN, 0}, pollfd{stop_.fd(), POLLIN, 0}};
  while (!st.stop_requested()) {
    int r = ::poll(fds.data(), fds.size(), -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (st.stop_requested() || fds[1].revents != 0) return;
    if ((fds[0].revents & (POLLERR | POLLNVAL)) != 0) return;
    // Each wake-up consumes the counter and acts once, as virqfd_wakeup does.
    if ((fds[0].revents & POLLIN) != 0 && efd_.consume()) fire();
  }
}

}  // namespace uvfio::pci
