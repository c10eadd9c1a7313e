#include "driver/vfio_user_transport.h"

#include <linux/vfio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "driver/vfio_user_dma.h"
#include "uvfio/base/errno_name.h"
#include "uvfio/base/log.h"
#include "uvfio/driver/error.h"
#include "uvfio/driver/region.h"

namespace uvfio::driver::detail {
namespace {

namespace vu = vfio_user;
using Call = VfioUserConnection::Call;

constexpr uint64_t kOffsetMask = (uint64_t{1} << kVfioUserRegionShift) - 1;
/// First GET_REGION_INFO asks for this much, so a usual capability chain (and libvfio-user's
/// fd, which it attaches only when the chain fits) comes in one round trip.
constexpr uint32_t kRegionInfoProbe = 4096;
constexpr uint32_t kRegionInfoMax = 60 * 1024;  // below the connection's control-reply bound
/// vfio-pci has 9 regions; device-specific ones add a few (QEMU refuses more than 100).
constexpr uint32_t kMaxRegions = 100;
/// The largest SET_IRQS vector count sent (MSI-X has at most 2048 vectors).
constexpr uint32_t kMaxIrqVectors = 2048;
/// First GET_REGION_IO_FDS asks for this much: 16 entries of libvfio-user's 48 bytes.
constexpr uint32_t kIoFdsProbe = 16 + 16 * 48;
constexpr uint32_t kIoFdsMax = 60 * 1024;  // below the connection's control-reply bound
/// libvfio-user's io fd entry (its shadow layout, used for every entry) and where the datamatch
/// sits in it and in the spec's 40-byte entry.
constexpr size_t kLvuIoFdEntry = 48;
constexpr size_t kLvuDatamatchAt = 40;
constexpr size_t kSpecDatamatchAt = 32;
/// Region accesses larger than one transfer go out pipelined, this many at a time.
constexpr size_t kWindow = 8;
/// VFIO_DEVICE_FLAGS_CAPS (6.12; absent from the 6.1 headers): device info caps are not carried
/// by vfio-user's DEVICE_GET_INFO.
constexpr uint32_t kDeviceFlagsCaps = 1u << 7;

template <class T>
std::span<const uint8_t> bytes_of(const T& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof v};
}

/// A one-piece payload for VfioUserConnection::start(): the bytes of a POD.
class One {
 public:
  template <class T>
  explicit One(const T& v) : piece_(bytes_of(v)) {}
  operator std::span<const std::span<const uint8_t>>()
      const {  // NOLINT(google-explicit-constructor)
    return {&piece_, 1};
  }

 private:
  std::span<const uint8_t> piece_;
};

/// False for an fd that is surely not an eventfd (/proc says what it is; without /proc, true):
/// a doorbell's write must never land in a file or block on a pipe the server handed out.
bool maybe_eventfd(int fd) {
  std::array<char, 64> link{};
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(path.c_str(), link.data(), link.size() - 1);
  return n < 0 || std::string_view(link.data(), static_cast<size_t>(n)) == "anon_inode:[eventfd]";
}

}  // namespace

VfioUserDeviceTransport::VfioUserDeviceTransport(std::shared_ptr<VfioUserConnection> conn,
                                                 std::string device_name, VfioUserPosting posting,
                                                 bool ioeventfds)
    : conn_(std::move(conn)),
      dma_(std::make_shared<VfioUserDmaTransport>(conn_)),
      name_(std::move(device_name)),
      posting_mode_(posting),
      ioeventfds_(ioeventfds) {}

VfioUserDeviceTransport::~VfioUserDeviceTransport() = default;

std::string VfioUserDeviceTransport::describe(uint32_t index, uint64_t off, size_t count) const {
  return fmt::format("{}+{:#x} ({} bytes)", pci_region_name(index), off, count);
}

// ---- ioctls ------------------------------------------------------------------------------------

long VfioUserDeviceTransport::ioctl(unsigned long request, void* arg) {
  if (arg == nullptr && request != VFIO_DEVICE_RESET) return -EFAULT;
  switch (request) {
    case VFIO_DEVICE_GET_INFO:
      return get_info(arg);
    case VFIO_DEVICE_GET_REGION_INFO:
      return get_region_info(arg);
    case VFIO_DEVICE_GET_IRQ_INFO:
      return get_irq_info(arg);
    case VFIO_DEVICE_SET_IRQS:
      return set_irqs(arg);
    case VFIO_DEVICE_RESET:
      return reset();
    default:
      // No vfio-user message for it (hot reset, features, ...): what a file without the
      // ioctl answers.
      return -ENOTTY;
  }
}

const VfioUserDeviceTransport::Info& VfioUserDeviceTransport::info_locked() {
  if (info_) return *info_;
  vu::DeviceInfo req{};
  req.argsz = sizeof req;
  Call c;
  conn_->call(c, vu::Command::kDeviceGetInfo, One(req));
  vu::DeviceInfo rep{};
  if (!c.get(rep)) conn_->fail("DEVICE_GET_INFO", EPROTO, "reply shorter than 16 bytes");
  if (rep.num_regions > kMaxRegions) {
    conn_->fail(
        "DEVICE_GET_INFO", EPROTO,
        fmt::format("{} regions (at most {} accepted)", uint32_t{rep.num_regions}, kMaxRegions));
  }
  info_ = Info{rep.flags & ~kDeviceFlagsCaps, rep.num_regions, rep.num_irqs};
  regions_.resize(rep.num_regions);
  return *info_;
}

long VfioUserDeviceTransport::get_info(void* arg) {
  vfio_device_info di{};
  std::memcpy(&di, arg, offsetof(vfio_device_info, num_irqs) + sizeof di.num_irqs);
  if (di.argsz < offsetof(vfio_device_info, num_irqs) + sizeof di.num_irqs) return -EINVAL;
  std::lock_guard lock(mu_);
  const Info& info = info_locked();
  di.flags = info.flags;
  di.num_regions = info.num_regions;
  di.num_irqs = info.num_irqs;
  // Only the fields up to num_irqs, as the kernel copies back minsz bytes.
  std::memcpy(arg, &di, offsetof(vfio_device_info, num_irqs) + sizeof di.num_irqs);
  return 0;
}

VfioUserDeviceTransport::Region& VfioUserDeviceTransport::region_locked(uint32_t index) {
  Region& r = regions_.at(index);
  if (r.queried) return r;
  uint32_t argsz = kRegionInfoProbe;
  Call c;
  vfio_region_info rep{};
  for (int attempt = 0;; ++attempt) {
    vfio_region_info req{};
    req.argsz = argsz;
    req.index = index;
    conn_->start(c, vu::Command::kDeviceGetRegionInfo, One(req));
    if (const int err = conn_->finish(c); err != 0) {
      r.queried = true;
      r.err = err;
      return r;
    }
    if (!c.get(rep)) {
      conn_->fail("DEVICE_GET_REGION_INFO", EPROTO,
                  pci_region_name(index) + ": reply shorter than 32 bytes");
    }
    if (rep.index != index) {
      conn_->fail("DEVICE_GET_REGION_INFO", EPROTO,
                  fmt::format("asked for region {}, the reply is for {}", index, rep.index));
    }
    if (rep.argsz <= argsz) break;
    // The chain did not fit: ask again with what the server says it needs.
    if (rep.argsz > kRegionInfoMax || attempt > 0) {
      conn_->fail("DEVICE_GET_REGION_INFO", EPROTO,
                  fmt::format("{}: implausible argsz {}", pci_region_name(index), rep.argsz));
    }
    argsz = rep.argsz;
  }
  // The info is what the server says it is (argsz), at least the 32-byte structure.
  const size_t len = std::max<size_t>(std::min<size_t>(c.payload().size(), rep.argsz), sizeof rep);
  r.info.assign(c.payload().begin(),
                c.payload().begin() + static_cast<ptrdiff_t>(std::min(len, c.payload().size())));
  r.info.resize(len);
  r.flags = rep.flags;
  if ((rep.flags & VFIO_REGION_INFO_FLAG_MMAP) != 0) {
    if (!c.fds().empty()) {
      r.fd = std::move(c.fds().front());
      r.fd_offset = rep.offset;
    } else {
      // Mappable without an fd to map is not mappable here: accesses go by message.
      r.flags &= ~VFIO_REGION_INFO_FLAG_MMAP;
      log_write(LogLevel::kInfo, "vfio-user",
                fmt::format("{}: {} is mmappable but came without an fd: accessed by messages",
                            conn_->target(), pci_region_name(index)));
    }
  }
  vfio_region_info fixed = rep;
  fixed.flags = r.flags;
  fixed.argsz = static_cast<uint32_t>(len);
  fixed.offset = uint64_t{index} << kVfioUserRegionShift;
  std::memcpy(r.info.data(), &fixed, sizeof fixed);
  r.queried = true;
  if (ioeventfds_) query_io_fds_locked(index, r);
  return r;
}

long VfioUserDeviceTransport::get_region_info(void* arg) {
  vfio_region_info req{};
  std::memcpy(&req, arg, sizeof req);
  if (req.argsz < sizeof req) return -EINVAL;
  std::lock_guard lock(mu_);
  if (req.index >= info_locked().num_regions) return -EINVAL;
  const Region& r = region_locked(req.index);
  if (r.err != 0) return -r.err;
  vfio_region_info out{};
  std::memcpy(&out, r.info.data(), sizeof out);
  if (req.argsz < r.info.size()) {
    // The kernel's answer when the chain does not fit: the size needed, no chain.
    out.cap_offset = 0;
    std::memcpy(arg, &out, sizeof out);
    return 0;
  }
  std::memcpy(arg, r.info.data(), r.info.size());
  return 0;
}

long VfioUserDeviceTransport::get_irq_info(void* arg) {
  vfio_irq_info req{};
  std::memcpy(&req, arg, sizeof req);
  if (req.argsz < sizeof req) return -EINVAL;
  vfio_irq_info msg{};
  msg.argsz = sizeof msg;
  msg.index = req.index;
  Call c;
  conn_->start(c, vu::Command::kDeviceGetIrqInfo, One(msg));
  if (const int err = conn_->finish(c); err != 0) return -err;
  vfio_irq_info rep{};
  if (!c.get(rep)) conn_->fail("DEVICE_GET_IRQ_INFO", EPROTO, "reply shorter than 16 bytes");
  req.flags = rep.flags;
  req.count = rep.count;
  std::memcpy(arg, &req, sizeof req);
  return 0;
}

long VfioUserDeviceTransport::set_irqs(void* arg) {
  vfio_irq_set hdr{};
  std::memcpy(&hdr, arg, sizeof hdr);
  constexpr uint32_t kMinsz = sizeof(vfio_irq_set);
  // The kernel's vfio_set_irqs_validate_and_prepare checks, as far as the client can make
  // them (the vector counts are the server's): they also keep us inside the caller's buffer.
  if (hdr.argsz < kMinsz ||
      (hdr.flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)) != 0 ||
      hdr.count >= UINT32_MAX - hdr.start) {
    return -EINVAL;
  }
  size_t size = 0;
  switch (hdr.flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
    case VFIO_IRQ_SET_DATA_NONE:
      break;
    case VFIO_IRQ_SET_DATA_BOOL:
      size = 1;
      break;
    case VFIO_IRQ_SET_DATA_EVENTFD:
      size = sizeof(int32_t);
      break;
    default:
      return -EINVAL;
  }
  if (size != 0 && uint64_t{hdr.argsz} - kMinsz < uint64_t{hdr.count} * size) return -EINVAL;
  if (size != 0 && hdr.count > kMaxIrqVectors) return -EINVAL;
  const auto* data = static_cast<const uint8_t*>(arg) + kMinsz;
  Call c;
  if (size != sizeof(int32_t)) {
    vfio_irq_set msg = hdr;
    msg.argsz = static_cast<uint32_t>(kMinsz + size * hdr.count);  // the request's own size
    const std::span<const uint8_t> pieces[] = {bytes_of(msg), {data, size * hdr.count}};
    conn_->start(c, vu::Command::kDeviceSetIrqs, pieces);
    return -conn_->finish(c);
  }
  // Eventfds travel as SCM_RIGHTS, at most max_msg_fds per message (the server's limit): the
  // vectors go out in runs of valid fds, and runs of negative ones (de-assign) go without fds,
  // as QEMU sends them. A failure part-way leaves the earlier runs applied.
  std::vector<int32_t> fds(hdr.count);
  if (hdr.count > 0) std::memcpy(fds.data(), data, hdr.count * sizeof(int32_t));
  const uint32_t max_fds = conn_->server().max_msg_fds;
  uint32_t i = 0;
  do {
    const bool valid = hdr.count > 0 && fds[i] >= 0;
    uint32_t n = 0;
    while (i + n < hdr.count && (fds[i + n] >= 0) == valid && (!valid || n < max_fds)) ++n;
    if (valid && n == 0) {
      conn_->fail("DEVICE_SET_IRQS", EOPNOTSUPP,
                  "the server accepts no fds (max_msg_fds 0): eventfd interrupts need them");
    }
    vfio_irq_set msg = hdr;
    msg.argsz = kMinsz;
    msg.start = hdr.start + i;
    msg.count = n;
    const std::span<const uint8_t> piece = bytes_of(msg);
    conn_->start(c, vu::Command::kDeviceSetIrqs, std::span(&piece, 1),
                 valid ? std::span<const int>(fds.data() + i, n) : std::span<const int>());
    if (const int err = conn_->finish(c); err != 0) return -err;
    i += n;
  } while (i < hdr.count);
  return 0;
}

long VfioUserDeviceTransport::reset() {
  Call c;
  conn_->start(c, vu::Command::kDeviceReset, {});
  return -conn_->finish(c);
}

// ---- region access -----------------------------------------------------------------------------

bool VfioUserDeviceTransport::posting_locked() {
  if (posting_) return *posting_;
  if (posting_mode_ == VfioUserPosting::kOff) {
    posting_ = false;
    return false;
  }
  const uint32_t n = info_locked().num_regions;
  bool any_mmap = false;
  for (uint32_t i = 0; i < n; ++i) {
    any_mmap |= (region_locked(i).flags & VFIO_REGION_INFO_FLAG_MMAP) != 0;
  }
  posting_ = !any_mmap;
  return *posting_;
}

bool VfioUserDeviceTransport::posting() const {
  std::lock_guard lock(mu_);
  return posting_.value_or(false);
}

void VfioUserDeviceTransport::query_io_fds_locked(uint32_t index, Region& r) {
  vfio_region_info info{};
  std::memcpy(&info, r.info.data(), sizeof info);
  if (info.size == 0) return;
  // Every server may answer with an errno (QEMU never sends the command; others need not
  // implement it): then the region has none, and its writes go by message.
  auto none = [&](const std::string& why) {
    if (log_enabled(LogLevel::kDebug)) {
      log_write(
          LogLevel::kDebug, "vfio-user",
          fmt::format("{}: {}: no io fds ({})", conn_->target(), pci_region_name(index), why));
    }
  };
  uint32_t argsz = kIoFdsProbe;
  Call c;
  vu::RegionIoFdsRequest rep{};
  for (int attempt = 0;; ++attempt) {
    const vu::RegionIoFdsRequest req{argsz, 0, index, 0};
    conn_->start(c, vu::Command::kDeviceGetRegionIoFds, One(req));
    if (const int err = conn_->finish(c); err != 0) return none(errno_name(err));
    if (!c.get(rep)) return none("reply shorter than 16 bytes");
    if (rep.count == 0) return;
    if (rep.argsz <= argsz) break;
    // The array did not fit (servers then send only the count and the size needed).
    if (rep.argsz > kIoFdsMax || attempt > 0) {
      return none(fmt::format("implausible argsz {}", uint32_t{rep.argsz}));
    }
    argsz = rep.argsz;
  }
  // The entries' stride is (argsz - 16) / count: the spec's 40 bytes, or libvfio-user's 48 (its
  // shadow layout for every entry, with the datamatch at 40 instead of 32).
  const size_t stride = (rep.argsz - sizeof rep) / rep.count;
  if (stride < sizeof(vu::IoFdEntry) ||
      c.payload().size() < sizeof rep + size_t{rep.count} * stride) {
    return none(fmt::format("{} entries in {} bytes", uint32_t{rep.count}, c.payload().size()));
  }
  const size_t datamatch_at = stride >= kLvuIoFdEntry ? kLvuDatamatchAt : kSpecDatamatchAt;
  for (uint32_t i = 0; i < rep.count; ++i) {
    const uint8_t* p = c.payload().data() + sizeof rep + i * stride;
    vu::IoFdEntry e{};
    std::memcpy(&e, p, sizeof e);
    std::memcpy(&e.datamatch, p + datamatch_at, sizeof e.datamatch);
    const bool match = (e.flags & vu::kIoeventfdFlagDatamatch) != 0;
    // Only plain ioeventfds of a CPU access size can stand for a write (not ioregionfds, PIO
    // or shadow ones, and a datamatch needs a size).
    const bool usable =
        e.type == vu::kIoFdTypeIoeventfd && (e.flags & ~vu::kIoeventfdFlagDatamatch) == 0 &&
        (e.size == 1 || e.size == 2 || e.size == 4 || e.size == 8 || (e.size == 0 && !match)) &&
        e.fd_index < c.fds().size() && maybe_eventfd(c.fds()[e.fd_index].get());
    if (!usable) {
      none(fmt::format("entry {} (type {}, flags {:#x}, size {}) is not usable", i,
                       uint32_t{e.type}, uint32_t{e.flags}, uint64_t{e.size}));
      continue;
    }
    r.io_fds.push_back({e.offset, e.size, match, e.datamatch, e.fd_index});
  }
  if (r.io_fds.empty()) return;
  r.io_files = std::move(c.fds());
  if (log_enabled(LogLevel::kDebug)) {
    log_write(LogLevel::kDebug, "vfio-user",
              fmt::format("{}: {}: {} io fd(s)", conn_->target(), pci_region_name(index),
                          r.io_fds.size()));
  }
}

int VfioUserDeviceTransport::doorbell_locked(uint32_t index, uint64_t off, const uint8_t* src,
                                             size_t count) {
  if (index >= info_locked().num_regions) return -1;
  const Region& r = region_locked(index);  // with its io fds
  for (const IoFd& e : r.io_fds) {
    if (e.offset != off || (e.size != 0 && e.size != count)) continue;
    if (e.match) {
      uint64_t v = 0;
      for (size_t i = 0; i < count; ++i) v |= uint64_t{src[i]} << (8 * i);  // little-endian
      if (v != e.datamatch) continue;
    }
    return r.io_files[e.file].get();
  }
  return -1;
}

void VfioUserDeviceTransport::transfer_pipelined(vu::Command cmd, uint32_t index, uint64_t off,
                                                 size_t count, uint8_t* in, const uint8_t* out) {
  const bool write = cmd == vu::Command::kRegionWrite;
  const char* name = write ? "REGION_WRITE" : "REGION_READ";
  const uint64_t chunk = conn_->max_xfer();
  std::array<Call, kWindow> calls;
  std::array<vu::RegionAccess, kWindow> reqs{};
  std::array<std::array<std::span<const uint8_t>, 2>, kWindow> pieces{};
  std::array<VfioUserConnection::Outgoing, kWindow> batch{};
  size_t sent = 0;
  size_t done = 0;
  uint64_t pos = 0;
  while (pos < count || done < sent) {
    // Refill the window once half of it has drained, all new requests in one batch.
    if (pos < count && sent - done <= kWindow / 2) {
      size_t n = 0;
      while (pos < count && sent - done < kWindow) {
        const size_t k = sent % kWindow;
        vu::RegionAccess& req = reqs[k];
        req = {};
        req.offset = off + pos;
        req.region = index;
        req.count = static_cast<uint32_t>(std::min<uint64_t>(chunk, count - pos));
        pieces[k][0] = bytes_of(req);
        pieces[k][1] =
            write ? std::span<const uint8_t>(out + pos, req.count) : std::span<const uint8_t>();
        batch[n++] = {&calls[k], cmd, std::span(pieces[k].data(), write ? 2 : 1), {}};
        pos += req.count;
        ++sent;
      }
      conn_->start_batch(std::span(batch.data(), n));
      continue;
    }
    const size_t k = done % kWindow;
    const vu::RegionAccess& req = reqs[k];
    const uint64_t at = req.offset - off;
    if (const int err = conn_->finish(calls[k]); err != 0) {
      conn_->fail(name, err, describe(index, req.offset, req.count));
    }
    if (!write) {
      vu::RegionAccess rep{};
      if (!calls[k].get(rep) || rep.count != req.count || rep.region != index ||
          rep.offset != req.offset || calls[k].payload().size() - sizeof rep < req.count) {
        conn_->fail(
            name, EPROTO,
            describe(index, req.offset, req.count) + ": the reply does not match the request");
      }
      std::memcpy(in + at, calls[k].payload().data() + sizeof rep, req.count);
    }
    ++done;
  }
}

ssize_t VfioUserDeviceTransport::pread(void* buf, size_t count, uint64_t offset) {
  const auto index = static_cast<uint32_t>(offset >> kVfioUserRegionShift);
  const uint64_t off = offset & kOffsetMask;
  if (count == 0) return 0;
  auto* out = static_cast<uint8_t*>(buf);
  if (count > conn_->max_xfer()) {
    transfer_pipelined(vu::Command::kRegionRead, index, off, count, out, nullptr);
    return static_cast<ssize_t>(count);
  }
  // The usual register read: one request, one reply, in this thread.
  vu::RegionAccess req{};
  req.offset = off;
  req.region = index;
  req.count = static_cast<uint32_t>(count);
  Call c;
  conn_->start(c, vu::Command::kRegionRead, One(req));
  if (const int err = conn_->finish(c); err != 0) {
    conn_->fail("REGION_READ", err, describe(index, off, count));
  }
  vu::RegionAccess rep{};
  if (!c.get(rep) || rep.count != req.count || rep.region != index || rep.offset != off ||
      c.payload().size() - sizeof rep < count) {
    conn_->fail("REGION_READ", EPROTO,
                describe(index, off, count) + ": the reply does not match the request");
  }
  std::memcpy(out, c.payload().data() + sizeof rep, count);
  return static_cast<ssize_t>(count);
}

void VfioUserDeviceTransport::write_posted(const uint8_t* src, size_t count, uint32_t index,
                                           uint64_t off) {
  if (conn_->server().write_multiple && count > vu::kWriteMultiMaxData) {
    // One REGION_WRITE_MULTI carries naturally aligned accesses of up to 8 bytes — the same
    // accesses the kernel's vfio-pci makes of a long BAR write.
    std::vector<vu::WriteMultiEntry> entries;
    size_t pos = 0;
    while (pos < count) {
      entries.clear();
      while (pos < count && entries.size() < vu::kWriteMultiMaxEntries) {
        const uint64_t at = off + pos;
        unsigned n = 8;
        while (n > 1 && (at % n != 0 || n > count - pos)) n /= 2;
        vu::WriteMultiEntry e{};
        e.offset = at;
        e.region = index;
        e.count = n;
        std::memcpy(e.data, src + pos, n);
        entries.push_back(e);
        pos += n;
      }
      const vu::WriteMultiHead head{entries.size()};
      const std::span<const uint8_t> pieces[] = {
          bytes_of(head),
          {reinterpret_cast<const uint8_t*>(entries.data()), entries.size() * sizeof entries[0]}};
      conn_->post(vu::Command::kRegionWriteMulti, pieces);
    }
    return;
  }
  // Transfers of at most max_xfer() bytes, a window of them gathered into one send.
  const uint64_t chunk = conn_->max_xfer();
  std::array<vu::RegionAccess, kWindow> reqs{};
  std::array<std::array<std::span<const uint8_t>, 2>, kWindow> pieces{};
  std::array<VfioUserConnection::Outgoing, kWindow> batch{};
  for (size_t pos = 0; pos < count;) {
    size_t n = 0;
    for (; n < kWindow && pos < count; ++n) {
      vu::RegionAccess& req = reqs[n];
      req = {};
      req.offset = off + pos;
      req.region = index;
      req.count = static_cast<uint32_t>(std::min<uint64_t>(chunk, count - pos));
      pieces[n] = {bytes_of(req), std::span<const uint8_t>(src + pos, req.count)};
      batch[n] = {nullptr, vu::Command::kRegionWrite, pieces[n], {}};
      pos += req.count;
    }
    conn_->start_batch(std::span(batch.data(), n));
  }
}

ssize_t VfioUserDeviceTransport::pwrite(const void* buf, size_t count, uint64_t offset) {
  const auto index = static_cast<uint32_t>(offset >> kVfioUserRegionShift);
  const uint64_t off = offset & kOffsetMask;
  if (count == 0) return 0;
  const auto* src = static_cast<const uint8_t*>(buf);
  bool posted = false;
  int doorbell = -1;
  if (index <= VFIO_PCI_BAR5_REGION_INDEX || (ioeventfds_ && count <= sizeof(uint64_t))) {
    std::lock_guard lock(mu_);
    if (ioeventfds_ && count <= sizeof(uint64_t))
      doorbell = doorbell_locked(index, off, src, count);
    if (doorbell < 0 && index <= VFIO_PCI_BAR5_REGION_INDEX) posted = posting_locked();
  }
  if (doorbell >= 0) {
    // The server performs this very write when the eventfd fires: nothing crosses the socket.
    // (The fd stays open while the transport lives: regions are never forgotten.)
    conn_->ring(doorbell, "REGION_WRITE");
    return static_cast<ssize_t>(count);
  }
  if (posted) {
    write_posted(src, count, index, off);
    return static_cast<ssize_t>(count);
  }
  if (count > conn_->max_xfer()) {
    transfer_pipelined(vu::Command::kRegionWrite, index, off, count, nullptr, src);
    return static_cast<ssize_t>(count);
  }
  vu::RegionAccess req{};
  req.offset = off;
  req.region = index;
  req.count = static_cast<uint32_t>(count);
  const std::span<const uint8_t> pieces[] = {bytes_of(req), {src, count}};
  Call c;
  conn_->start(c, vu::Command::kRegionWrite, pieces);
  if (const int err = conn_->finish(c); err != 0) {
    conn_->fail("REGION_WRITE", err, describe(index, off, count));
  }
  return static_cast<ssize_t>(count);
}

// ---- mmap --------------------------------------------------------------------------------------

void* VfioUserDeviceTransport::mmap(size_t length, int prot, int flags, uint64_t offset) {
  const auto index = static_cast<uint32_t>(offset >> kVfioUserRegionShift);
  const uint64_t off = offset & kOffsetMask;
  int fd = -1;
  uint64_t base = 0;
  {
    std::lock_guard lock(mu_);
    if (index >= info_locked().num_regions) return reinterpret_cast<void*>(-intptr_t{EINVAL});
    const Region& r = region_locked(index);
    if (r.err != 0 || !r.fd.valid() || (r.flags & VFIO_REGION_INFO_FLAG_MMAP) == 0) {
      return reinterpret_cast<void*>(-intptr_t{EINVAL});
    }
    fd = r.fd.get();  // stays open while the transport lives
    base = r.fd_offset;
  }
  if (off > UINT64_MAX - base || base + off > static_cast<uint64_t>(INT64_MAX)) {
    return reinterpret_cast<void*>(-intptr_t{EINVAL});
  }
  void* p = ::mmap(nullptr, length, prot, flags, fd, static_cast<off_t>(base + off));
  if (p == MAP_FAILED) return reinterpret_cast<void*>(-intptr_t{errno});
  return p;
}

int VfioUserDeviceTransport::munmap(void* addr, size_t length) {
  return ::munmap(addr, length) == 0 ? 0 : -errno;
}

}  // namespace uvfio::driver::detail
