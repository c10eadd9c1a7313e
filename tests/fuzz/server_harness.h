// ServerHarness: one in-process vfio-user server serving an edu device, fed one fuzz input per
// session over a socketpair, with the invariants a fuzzer checks after every input.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "uvfio/vfio_user/server.h"

namespace uvfio::fuzz {

/// Invariants checked per session (a violation aborts the process, which the fuzzer reports):
///  - the server's loop never fails and never sends a malformed message: replies are whole,
///    error replies carry no payload, the only server-to-client commands are DMA_READ/WRITE and
///    their counts stay within the protocol's ceiling;
///  - after the client closes, the server notices it promptly, the device accepts a new client,
///    and the process holds exactly the fds it held before the session (nothing leaked: message
///    fds, DMA map fds, IRQ eventfds, twin sockets).
///
/// Ownership: the process-wide instance owns the server, the device and each session's client
/// end. Not thread-safe: one fuzzing thread (libFuzzer's, or the replay program's).
class ServerHarness {
 public:
  /// The process-wide harness (built on first use, never destroyed: the server outlives inputs).
  static ServerHarness& instance();

  /// One session: connect, send every chunk of `input` (fuzz_input.h) while running the server's
  /// loop and answering its DMA requests, close, check the invariants.
  void run(std::span<const uint8_t> input);

  /// What the sessions so far saw (for the replay program's summary and its coverage checks).
  struct Totals {
    uint64_t sessions = 0;
    uint64_t replies = 0;        // replies from the server
    uint64_t error_replies = 0;  // of those, errors
    uint64_t dma_requests = 0;   // DMA_READ/WRITE the server sent (and the harness answered)
    uint64_t fds_received = 0;   // fds that came with replies (twin sockets, region fds, ...)
  };
  const Totals& totals() const { return totals_; }

 private:
  ServerHarness();
  struct Session;
  /// A new socketpair: returns the server's end, `client` gets the other.
  static UniqueFd connected_pair(UniqueFd& client);
  /// Runs the loop until the device has no client and (with `fds_before` >= 0) the process holds
  /// that many fds again; aborts after a few seconds.
  void wait_disconnected(int fds_before);

  std::unique_ptr<vfio_user::Server> server_;
  vfio_user::DeviceId id_ = 0;
  Totals totals_;
  bool trace_ = false;  // UVFIO_FUZZ_TRACE set: every reply and DMA request on stderr
};

/// Prints `why` and aborts: an invariant failed (the fuzzer saves the input as a crash).
[[noreturn]] void invariant_failed(const std::string& why);

}  // namespace uvfio::fuzz
