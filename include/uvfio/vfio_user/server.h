// vfio-user server: serves VFIO devices (any vfio::VfioDeviceOps, e.g. an emulated PCI function
// behind the vfio-pci core) to other processes over UNIX stream sockets, one socket per device,
// all from one epoll event loop. docs/vfio-user.md describes the protocol choices (errno picks,
// QEMU 10.x and libvfio-user compatibility, session rules).
//
// Typical use:
//   auto server = Server::create({}).value();
//   auto model = devices::make_emulated_device("edu", {}).value();
//   auto dev = pci::make_vfio_pci_device(model).value();
//   server->serve_path(dev, "/tmp/edu.sock").value();
//   server->run();            // until server->stop() (from any thread or a signal handler)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "uvfio/base/result.h"
#include "uvfio/base/unique_fd.h"
#include "uvfio/vfio/device_ops.h"

namespace uvfio::vfio_user {

/// Limits the server advertises in its VERSION reply and then enforces on every client, plus the
/// server's own timeouts. Values outside the protocol's bounds make Server::create() fail EINVAL.
struct ServerOptions {
  /// Most fds the server accepts in one message (1..kMaxMsgFdsLimit). SET_IRQS with more
  /// eventfds than this is refused EINVAL.
  uint32_t max_msg_fds = 8;
  /// Largest `count` the server accepts in REGION_READ/WRITE (1..64 MiB). The server also never
  /// sends a DMA_READ/WRITE larger than the client's own max_data_xfer_size.
  uint64_t max_data_xfer_size = 1u << 20;
  /// Most DMA_MAP windows one client may hold at once (1..65535); EINVAL beyond it (libvfio-user's
  /// errno at its limit).
  uint32_t max_dma_maps = 65535;
  /// Page sizes DMA_MAP address/size/offset must be aligned to: bitmask, the smallest bit set is
  /// the alignment (>= 4 KiB, and the IOAS page size).
  uint64_t pgsizes = 4096;
  /// Offer a twin socket for server->client DMA_READ/WRITE to clients that ask (and accept fds).
  bool twin_socket = true;
  /// Advertise and accept REGION_WRITE_MULTI. Off: command 15 is answered EINVAL.
  bool write_multiple = true;
  /// A message that stalls part-way for this long is answered EINVAL (when its header arrived)
  /// and the input resynced, the session going on; a client that stops reading our replies for
  /// this long is disconnected (and its device reset). Milliseconds, > 0.
  int io_timeout_ms = 5000;
  /// A device thread waiting for the client's reply to a DMA_READ/WRITE gives up after this long;
  /// the device sees a DMA fault (-EFAULT) and the client is disconnected. Milliseconds, > 0.
  int dma_timeout_ms = 5000;
};

/// Counters a test or a monitor can read at any time (a snapshot; each field is consistent on
/// its own, not with the others).
struct ServerStats {
  uint64_t connections_accepted = 0;  // clients that became a device's session
  uint64_t connections_refused = 0;   // accepted and closed at once: the device was busy
  uint64_t disconnects = 0;           // sessions ended (peer closed, error, timeout, stop)
  uint64_t messages = 0;              // client commands handled (replied to or posted)
  uint64_t error_replies = 0;         // commands answered with an errno
  uint64_t errors_dropped = 0;        // failed NO_REPLY commands (no reply allowed)
  uint64_t stray_replies = 0;         // reply-flagged messages that matched no server request
  uint64_t dma_requests = 0;          // DMA_READ/DMA_WRITE messages sent to clients
  uint64_t dma_failures = 0;          // of those: error reply, bad reply, timeout, disconnect
  uint64_t doorbells = 0;             // ioeventfd signals turned into register writes
};

/// Identifies a device added to a server.
using DeviceId = uint32_t;

/// One server: devices, their sockets and sessions, and the event loop. Thread-safety: every
/// method may be called from any thread; run()/run_once() must not be called from two threads
/// at once (one loop thread); stop() is also async-signal-safe. Devices run their own threads
/// (DMA, interrupts) alongside the loop.
class Server {
 public:
  /// A server with no devices: EINVAL for options out of range, or the errno of epoll/eventfd.
  static Result<std::unique_ptr<Server>> create(const ServerOptions& options = {});
  /// Stops the loop if running (waits for it), ends every session (resetting the devices),
  /// closes every socket and removes the socket files it created.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Serves `device` on a new listening UNIX socket at `path`. A stale socket file (nobody
  /// listening) is replaced; EADDRINUSE if something listens there or the path exists and is not
  /// a socket; ENAMETOOLONG for paths longer than sun_path; errno of socket/bind/listen. The file
  /// is removed when the server is destroyed.
  Result<DeviceId> serve_path(std::shared_ptr<vfio::VfioDeviceOps> device, const std::string& path);
  /// Serves `device` on an already listening stream socket (`uvfio serve --fd N`): adopts it;
  /// ENOTSOCK / EINVAL if `listening` is not a listening AF_UNIX stream socket.
  Result<DeviceId> serve_listening_fd(std::shared_ptr<vfio::VfioDeviceOps> device,
                                      UniqueFd listening);
  /// Serves `device` to the peer of an already connected stream socket (tests, fuzzers). When
  /// that client goes, the device waits for attach_client().
  Result<DeviceId> serve_connected_fd(std::shared_ptr<vfio::VfioDeviceOps> device,
                                      UniqueFd connected);
  /// Gives device `id` a new client on a connected socket. EBUSY while it has one, ENOENT for an
  /// unknown id, ENOTSOCK if `connected` is not a stream socket.
  Result<void> attach_client(DeviceId id, UniqueFd connected);

  /// Runs the event loop until stop(). 0, or -errno if the loop itself failed (epoll_wait).
  int run();
  /// One loop step: waits up to `timeout_ms` (0: poll, -1: forever) for events and handles every
  /// ready one, including every whole message buffered on a client socket. Returns the number of
  /// events handled (0 on timeout), or -errno. After stop() it returns -ECANCELED at once.
  int run_once(int timeout_ms);
  /// Makes run() return and run_once() fail -ECANCELED. Thread- and async-signal-safe (writes an
  /// eventfd); idempotent.
  void stop();
  bool stopped() const;

  ServerStats stats() const;
  /// Whether device `id` has a client now (false for an unknown id).
  bool client_connected(DeviceId id) const;
  /// The socket path of device `id` (empty for fd-served devices or an unknown id).
  std::string socket_path(DeviceId id) const;
  const ServerOptions& options() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace uvfio::vfio_user
