#include "vfio_user/output_queue.h"

#include <fcntl.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <iterator>

#include "vfio_user/message_io.h"

namespace uvfio::vfio_user {
namespace {

constexpr size_t kScmMaxFd = 253;  // the kernel's SCM_MAX_FD
// fd-less messages join the last entry while it is smaller than this, so a burst of small
// replies leaves in one sendmsg without one entry growing without bound.
constexpr size_t kJoinBytes = size_t{256} * 1024;

}  // namespace

int OutputQueue::send(int fd, const Header& hdr, std::span<const std::span<const uint8_t>> pieces,
                      std::span<const int> fds, bool hold) {
  if (fds.size() > kScmMaxFd) return -EINVAL;
  Header h = hdr;
  MessageIovecs iov(h, pieces);
  if (!iov.ok()) return -EMSGSIZE;
  const uint64_t total = iov.total();

  size_t skip = 0;
  if (!hold && queue_.empty()) {
    // Nothing older waits: straight from the caller's buffers to the socket, no copy.
    const int64_t n = send_some(fd, iov.iov(), fds);
    if (n < 0 && n != -EAGAIN) return static_cast<int>(n);
    if (n > 0) {
      sent_total_ += static_cast<uint64_t>(n);
      skip = static_cast<size_t>(n);
      if (skip == total) return 0;
      fds = {};  // they went with the first byte
    }
  }
  return push(h, pieces, fds, skip);
}

int OutputQueue::push(const Header& hdr, std::span<const std::span<const uint8_t>> pieces,
                      std::span<const int> fds, size_t skip) {
  std::vector<UniqueFd> dups;
  dups.reserve(fds.size());
  for (int f : fds) {
    UniqueFd d(::fcntl(f, F_DUPFD_CLOEXEC, 0));
    if (!d) return -errno;
    dups.push_back(std::move(d));
  }
  // A message with fds is an entry of its own: its fds go with the entry's first byte, and the
  // receiver's kernel ends a read after the segment that carried them, so a reader gives them to
  // the last message starting in that read; nothing may follow it in the same send. A message
  // without fds joins the last entry unless that one carries fds or is large already.
  if (!dups.empty() || queue_.empty() || !queue_.back().fds.empty() ||
      queue_.back().bytes.size() >= kJoinBytes) {
    queue_.emplace_back();
    queue_.back().fds = std::move(dups);
  }
  auto& out = queue_.back().bytes;
  const size_t before = out.size();
  auto append = [&](const uint8_t* p, size_t n) {
    if (skip >= n) {
      skip -= n;
      return;
    }
    out.insert(out.end(), p + skip, p + n);
    skip = 0;
  };
  append(reinterpret_cast<const uint8_t*>(&hdr), sizeof(hdr));
  for (auto p : pieces) append(p.data(), p.size());
  bytes_ += out.size() - before;
  return 0;
}

int OutputQueue::flush(int fd) {
  while (!queue_.empty()) {
    Entry& e = queue_.front();
    iovec v{e.bytes.data() + e.sent, e.bytes.size() - e.sent};
    std::vector<int> raw;
    if (e.sent == 0) {
      raw.reserve(e.fds.size());
      for (const auto& f : e.fds) raw.push_back(f.get());
    }
    const int64_t n = send_some(fd, std::span(&v, 1), raw);
    if (n == -EAGAIN) return 0;
    if (n < 0) return static_cast<int>(n);
    const auto sent = static_cast<size_t>(n);
    e.sent += sent;
    bytes_ -= sent;
    sent_total_ += sent;
    if (e.sent < e.bytes.size()) return 0;  // the socket is full
    queue_.pop_front();
  }
  return 0;
}

void OutputQueue::clear() {
  queue_.clear();
  bytes_ = 0;
}

}  // namespace uvfio::vfio_user
