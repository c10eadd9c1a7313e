#include "driver/vfio_user_dma.h"

#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "driver/dma_describe.h"
#include "uvfio/base/log.h"
#include "uvfio/driver/error.h"

namespace uvfio::driver::detail {
namespace {

namespace vu = vfio_user;

template <class T>
std::span<const uint8_t> bytes_of(const T& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof v};
}

}  // namespace

VfioUserDmaTransport::VfioUserDmaTransport(std::shared_ptr<VfioUserConnection> conn)
    : conn_(std::move(conn)) {}

VfioUserDmaTransport::~VfioUserDmaTransport() = default;

std::vector<iommu::IovaRange> VfioUserDmaTransport::iova_ranges() const {
  return {{0, UINT64_MAX}};
}

uint64_t VfioUserDmaTransport::page_sizes() const {
  const auto cpu_page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t sizes = conn_->server().pgsizes & ~(cpu_page - 1);
  return sizes != 0 ? sizes : cpu_page;
}

uint64_t VfioUserDmaTransport::map(const DmaRequest& req, std::optional<uint64_t> iova,
                                   uint64_t limit, uint64_t align) {
  std::lock_guard lock(mu_);
  const uint32_t max_maps = conn_->server().max_dma_maps;
  if (iovas_.size() >= max_maps) {
    throw Error("DMA_MAP", target(), ENOSPC,
                fmt::format("the server holds at most {} DMA maps (max_dma_maps)", max_maps));
  }
  if (!iova) {
    const uint64_t page = page_sizes() & (~page_sizes() + 1);
    const auto ranges = iova_ranges();
    iova = iovas_.find(ranges, req.length, std::max(align, page), limit);
    if (!iova) {
      throw Error("DMA_MAP", target(), ENOSPC, describe_no_room(req.length, align, limit));
    }
  }
  // A server that takes no fds (max_msg_fds 0) can still reach the memory by messages.
  const bool with_fd = req.fd >= 0 && conn_->server().max_msg_fds >= 1;
  vu::DmaMap m{};
  m.argsz = sizeof m;
  m.flags = (req.readable ? vu::kDmaMapRead : 0u) | (req.writable ? vu::kDmaMapWrite : 0u);
  m.offset = with_fd ? req.fd_offset : 0;
  m.addr = *iova;
  m.size = req.length;
  if (!with_fd) {
    // In place before the server can use it: its first DMA_READ may come before our reply.
    conn_->fdless_maps().add(*iova, req.length, req.va, req.readable, req.writable);
    conn_->serve_fdless_dma();
  }
  const std::span<const uint8_t> piece = bytes_of(m);
  const int fd = req.fd;
  VfioUserConnection::Call c;
  try {
    conn_->call(c, vu::Command::kDmaMap, std::span(&piece, 1),
                with_fd ? std::span<const int>(&fd, 1) : std::span<const int>(),
                describe_range(*iova, req.length));
  } catch (...) {
    if (!with_fd) conn_->fdless_maps().remove(*iova);
    throw;
  }
  iovas_.insert(*iova, req.length);
  if (!with_fd) fdless_.insert(*iova);
  return *iova;
}

void VfioUserDmaTransport::unmap(uint64_t iova, uint64_t length) {
  std::lock_guard lock(mu_);
  vu::DmaUnmap u{};
  u.argsz = sizeof u;
  u.addr = iova;
  u.size = length;
  const std::span<const uint8_t> piece = bytes_of(u);
  VfioUserConnection::Call c;
  try {
    conn_->call(c, vu::Command::kDmaUnmap, std::span(&piece, 1), {}, describe_range(iova, length));
  } catch (const Error& e) {
    // Only a lost connection lets the unmap complete anyway: the server dropped its maps when
    // the client went (and fd-less memory was only reachable through the socket).
    if (!conn_->closed() || e.error() == ETIMEDOUT) throw;
    if (log_enabled(LogLevel::kDebug)) {
      log_write(LogLevel::kDebug, "vfio-user",
                fmt::format("{}: unmap of {} after the connection was lost", target(),
                            describe_range(iova, length)));
    }
  }
  if (fdless_.erase(iova) != 0) conn_->fdless_maps().remove(iova);
  iovas_.erase(iova);
}

}  // namespace uvfio::driver::detail
