// Session: one client of one device. It plays the VFIO core's part for the device — opens it with
// a DMA context on an IOAS the session owns, forwards the device ioctls, region accesses and
// resets — and speaks vfio-user to the client: VERSION negotiation, then every command validated
// and answered (docs/vfio-user.md). Handlers live in session_*.cpp by command family.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "uvfio/base/eventfd.h"
#include "uvfio/base/result.h"
#include "uvfio/base/unique_fd.h"
#include "uvfio/iommu/access.h"
#include "uvfio/iommu/ioas.h"
#include "uvfio/iommu/memlock_account.h"
#include "uvfio/vfio/device_ops.h"
#include "uvfio/vfio_user/server.h"
#include "vfio_user/capabilities.h"
#include "vfio_user/connection.h"
#include "vfio_user/server_counters.h"

namespace uvfio::vfio_user {

/// Owned by the server and used only on its event loop thread (device threads reach the client
/// through the Connection, never through the session).
class Session {
 public:
  using Clock = std::chrono::steady_clock;

  struct Config {
    const ServerOptions* options = nullptr;
    std::shared_ptr<ServerCounters> counters;
    std::shared_ptr<iommu::MemlockAccount> account;  // charges fd-backed DMA maps
    std::string name;                                // for logs: the socket path or "fd N"
    /// Adds (true) or removes (false) the doorbell eventfd `fd`, number `index`, from the
    /// loop's watch list.
    std::function<void(int fd, uint32_t index, bool add)> watch_doorbell;
  };

  /// Opens `device` for the client on the connected socket `sock`: a fresh IOAS and access, the
  /// device's open_device(), its region table. Errno of any step (the device's own for a refused
  /// open).
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<vfio::VfioDeviceOps> device,
                                                 UniqueFd sock, Config config);
  /// end()s the session if it is still running.
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  int fd() const { return conn_->fd(); }
  int wake_fd() const { return conn_->wake_fd(); }

  enum class Status {
    kIdle,   // everything readable was handled, or input waits for output (input_blocked())
    kMore,   // stopped at the budget: more may be buffered, call again
    kEnded,  // the client left or the stream is unusable: end() the session
  };
  /// Reads and handles up to `budget` messages; `woken`: the wake eventfd fired (a device
  /// thread queued input or the connection broke).
  Status on_input(int budget, bool woken);
  /// The socket has room: sends queued output. kEnded if the stream broke, kMore if input was
  /// held back and may go on now, else kIdle.
  Status on_output();
  /// Output waits for the client to read (the loop watches the socket for room).
  bool output_pending() const { return conn_->output_backlog() > 0; }
  /// Input is held back until the client reads its replies (the loop stops watching it).
  bool input_blocked() const { return conn_->output_backlog() >= kOutputHighWater; }
  /// When queued output counts as stuck (the session ends then); nullopt if none is queued.
  std::optional<Clock::time_point> output_deadline() const { return conn_->output_deadline(); }
  /// Replies queued beyond this stop the session reading commands: a client that sends without
  /// reading costs bounded memory and nobody else's time.
  static constexpr size_t kOutputHighWater = size_t{256} * 1024;

  /// The doorbell eventfd `index` fired: consumes its count; true if it was rung.
  bool take_doorbell(uint32_t index);
  /// Performs doorbell `index`'s register write (after take_doorbell() and after handling the
  /// input that arrived before the ring).
  void ring_doorbell(uint32_t index);
  /// When the partial message buffered now counts as stalled; nullopt if none is.
  std::optional<Clock::time_point> stall_deadline() const { return stall_deadline_; }
  /// The stall deadline passed: the partial message is answered EINVAL (when its header is
  /// complete) and dropped with whatever else is buffered, and the session goes on.
  void on_stall();
  /// The session is over (`why` for the log): DMA waiting on the client fails, the device is
  /// closed (it stops DMA, drops its pins and resets), every DMA map goes, every fd the client
  /// sent or got is closed. Idempotent.
  void end(const char* why);

  bool negotiated() const { return negotiated_; }

 private:
  /// on_input without the reply gathering around it.
  Status handle_input(int budget, bool woken);
  // What the server knows of one device region, from the device at open.
  struct Region {
    int err = 0;  // the device refused GET_REGION_INFO for this index (EINVAL for VGA)
    uint32_t flags = 0;
    uint64_t size = 0;
    uint64_t dev_offset = 0;           // where read()/write() reach it on the device
    vfio::RegionFile file;             // the fd handed out for mmap (MMAP regions only)
    std::vector<uint8_t> reply;        // the full GET_REGION_INFO reply: struct + capability chain
    std::vector<uint8_t> reply_no_fd;  // the same for a client that cannot receive the fd
  };
  struct DmaWindow {
    uint64_t size;
    bool remote;  // reached by messages (no fd)
  };
  struct DoorbellFd {
    vfio::Doorbell bell;
    EventFd fd;  // created on the first GET_REGION_IO_FDS of its region
  };

  Session(std::shared_ptr<vfio::VfioDeviceOps> device, std::shared_ptr<Connection> conn,
          Config config);
  int open_device();
  int load_regions();

  void handle(Message& m);
  /// 0 or -errno; a positive errno-free success has already been replied to.
  int dispatch(Message& m);
  int check_header(const Message& m) const;
  /// Sends a success reply to `req` with `payload` (skipped for NO_REPLY). 0 or -errno.
  int reply(const Message& req, std::span<const uint8_t> payload, std::span<const int> fds = {});
  int reply(const Message& req, std::span<const std::span<const uint8_t>> pieces,
            std::span<const int> fds = {});

  // session_version.cpp
  int on_version(const Message& m);
  // session_dma.cpp
  int on_dma_map(Message& m);
  int on_dma_unmap(const Message& m);
  // session_device.cpp
  int on_get_info(const Message& m);
  int on_get_region_info(const Message& m);
  int on_get_irq_info(const Message& m);
  int on_set_irqs(const Message& m);
  int on_reset(const Message& m);
  int on_feature(const Message& m);
  // session_region.cpp
  int on_region_read(const Message& m);
  int on_region_write(const Message& m);
  int on_write_multi(const Message& m);
  int on_get_io_fds(const Message& m);
  /// Checks an access of `count` bytes at `offset` of region `index` (EINVAL) and returns it.
  const Region* region_for(uint32_t index, uint64_t offset, uint64_t count, bool write) const;
  int region_write(const Region& r, uint64_t offset, const void* data, uint32_t count);

  void update_stall();

  std::shared_ptr<vfio::VfioDeviceOps> device_;
  std::shared_ptr<Connection> conn_;
  Config config_;
  const ServerOptions& opts_;
  ServerCounters& counters_;

  std::shared_ptr<iommu::Ioas> ioas_;
  std::shared_ptr<iommu::Access> access_;
  bool device_open_ = false;
  bool ended_ = false;

  bool negotiated_ = false;
  Capabilities client_;  // what the client stated in VERSION

  uint32_t num_irqs_ = 0;
  uint32_t device_flags_ = 0;
  std::vector<Region> regions_;
  std::map<uint64_t, DmaWindow> windows_;  // by IOVA
  std::vector<DoorbellFd> doorbells_;

  Message msg_;               // the message being handled (reused: no allocation per message)
  std::vector<uint8_t> out_;  // reply payload scratch (reused)
  std::optional<Clock::time_point> stall_deadline_;
};

}  // namespace uvfio::vfio_user
