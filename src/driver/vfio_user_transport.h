// VfioUserDeviceTransport: the device calls of the driver API answered with vfio-user messages
// (their payloads are the same uAPI structures), so the driver core cannot tell a remote device
// from a VFIO device file.
//
// Region offsets: the server's region `offset` is an mmap offset in the region's fd, not a
// pread/pwrite position. GET_REGION_INFO therefore reports `offset = index << 40` (vfio-pci's
// layout), pread/pwrite decode the index from it, and mmap adds the server's offset for the
// region's fd (kept from the GET_REGION_INFO reply).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "driver/transport.h"
#include "driver/vfio_user_connection.h"

namespace uvfio::driver::detail {

/// How REGION_WRITE is sent.
enum class VfioUserPosting {
  /// Posted (NO_REPLY) for BARs while no region is mmappable — QEMU's rule: a later request's
  /// reply proves the server applied it (it processes in order), but an mmap access would
  /// bypass that order. Config space and other regions always wait for their reply.
  kAuto,
  kOff,  // every write waits for its reply
};

/// The region index in a pread/pwrite/mmap offset (above it: the offset inside the region).
inline constexpr unsigned kVfioUserRegionShift = 40;

/// Thread-safe (the connection is; region state under a lock). Throws driver::Error naming the
/// message for what is not the device's own answer (timeout, lost connection, malformed
/// reply) and for failed region accesses; ioctls return the server's errno as -errno.
class VfioUserDeviceTransport : public DeviceTransport {
 public:
  /// `ioeventfds`: ask for the regions' io fds (GET_REGION_IO_FDS) and signal them in place of
  /// the writes they stand for (target option ioeventfd=on|off).
  VfioUserDeviceTransport(std::shared_ptr<VfioUserConnection> conn, std::string device_name,
                          VfioUserPosting posting, bool ioeventfds = true);
  ~VfioUserDeviceTransport() override;

  std::string backend() const override { return "vfio-user"; }
  std::string device_name() const override { return name_; }
  long ioctl(unsigned long request, void* arg) override;
  ssize_t pread(void* buf, size_t count, uint64_t offset) override;
  ssize_t pwrite(const void* buf, size_t count, uint64_t offset) override;
  void* mmap(size_t length, int prot, int flags, uint64_t offset) override;
  int munmap(void* addr, size_t length) override;
  std::shared_ptr<DmaTransport> dma() const override { return dma_; }

  const std::shared_ptr<VfioUserConnection>& connection() const { return conn_; }
  /// Whether REGION_WRITEs to BARs are posted now (kAuto and no region mmappable).
  bool posting() const;

 private:
  /// An ioeventfd of a region (GET_REGION_IO_FDS): a write of `size` bytes (any of 1..8 when
  /// 0) at `offset`, of the value `datamatch` when `match`, signals `files[file]` instead.
  struct IoFd {
    uint64_t offset = 0;
    uint64_t size = 0;
    bool match = false;
    uint64_t datamatch = 0;
    size_t file = 0;
  };
  struct Region {
    bool queried = false;
    int err = 0;                // the server's errno for this index
    std::vector<uint8_t> info;  // vfio_region_info + chain, offset rewritten
    UniqueFd fd;                // for mmap, when the region is mmappable
    uint64_t fd_offset = 0;     // the server's offset: where the region starts in `fd`
    uint32_t flags = 0;
    std::vector<IoFd> io_fds;        // asked for with the region's info
    std::vector<UniqueFd> io_files;  // the eventfds, open while the transport lives
  };
  struct Info {
    uint32_t flags = 0;
    uint32_t num_regions = 0;
    uint32_t num_irqs = 0;
  };

  long get_info(void* arg);
  long get_region_info(void* arg);
  long get_irq_info(void* arg);
  long set_irqs(void* arg);
  long reset();
  const Info& info_locked();
  Region& region_locked(uint32_t index);
  bool posting_locked();
  void write_posted(const uint8_t* src, size_t count, uint32_t index, uint64_t off);
  /// GET_REGION_IO_FDS of a region just queried (an errno answer: none).
  void query_io_fds_locked(uint32_t index, Region& r);
  /// The eventfd standing for this write, or -1 (then it goes by message).
  int doorbell_locked(uint32_t index, uint64_t off, const uint8_t* src, size_t count);
  /// Region accesses above one transfer: transfers of at most max_xfer() bytes, up to a window
  /// of them outstanding, sent in batches. Reads into `in`, or writes `out`.
  void transfer_pipelined(vfio_user::Command cmd, uint32_t index, uint64_t off, size_t count,
                          uint8_t* in, const uint8_t* out);
  std::string describe(uint32_t index, uint64_t off, size_t count) const;

  std::shared_ptr<VfioUserConnection> conn_;
  std::shared_ptr<DmaTransport> dma_;
  std::string name_;
  VfioUserPosting posting_mode_;
  bool ioeventfds_;
  mutable std::mutex mu_;  // below
  std::optional<Info> info_;
  std::vector<Region> regions_;
  std::optional<bool> posting_;  // decided once every region is known
};

}  // namespace uvfio::driver::detail
