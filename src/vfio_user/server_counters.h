// ServerCounters: the live counters behind Server::stats(), shared by the event loop, the
// sessions and the device threads that send DMA messages.
#pragma once

#include <atomic>
#include <cstdint>

#include "uvfio/vfio_user/server.h"

namespace uvfio::vfio_user {

/// Thread-safe (relaxed atomics: each counter is exact, they are not mutually consistent).
struct ServerCounters {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_refused{0};
  std::atomic<uint64_t> disconnects{0};
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> error_replies{0};
  std::atomic<uint64_t> errors_dropped{0};
  std::atomic<uint64_t> stray_replies{0};
  std::atomic<uint64_t> dma_requests{0};
  std::atomic<uint64_t> dma_failures{0};
  std::atomic<uint64_t> doorbells{0};

  static void bump(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

  ServerStats snapshot() const {
    auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    ServerStats s;
    s.connections_accepted = get(connections_accepted);
    s.connections_refused = get(connections_refused);
    s.disconnects = get(disconnects);
    s.messages = get(messages);
    s.error_replies = get(error_replies);
    s.errors_dropped = get(errors_dropped);
    s.stray_replies = get(stray_replies);
    s.dma_requests = get(dma_requests);
    s.dma_failures = get(dma_failures);
    s.doorbells = get(doorbells);
    return s;
  }
};

}  // namespace uvfio::vfio_user
