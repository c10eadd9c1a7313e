#include "vfio_user/message_io.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <iterator>

namespace uvfio::vfio_user {
namespace {

constexpr size_t kScmMaxFd = 253;  // the kernel's SCM_MAX_FD
constexpr size_t kReadChunk = size_t{64} * 1024;

// Waits until `fd` is ready for `events`; 0, -ETIMEDOUT or -errno.
int wait_ready(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, timeout_ms);
    if (n > 0) return 0;
    if (n == 0) return -ETIMEDOUT;
    if (errno != EINTR) return -errno;
  }
}

}  // namespace

MessageIovecs::MessageIovecs(Header& hdr, std::span<const std::span<const uint8_t>> pieces) {
  for (auto p : pieces) total_ += p.size();
  if (!ok()) return;
  hdr.msg_size = static_cast<uint32_t>(total_);
  if (pieces.size() + 1 > std::size(small_)) {
    large_.resize(pieces.size() + 1);
    data_ = large_.data();
  }
  data_[count_++] = {&hdr, sizeof(hdr)};
  for (auto p : pieces) {
    if (!p.empty()) data_[count_++] = {const_cast<uint8_t*>(p.data()), p.size()};
  }
}

int64_t send_some(int fd, std::span<iovec> iov, std::span<const int> fds) {
  if (fds.size() > kScmMaxFd) return -EINVAL;
  std::vector<char> control;
  msghdr mh{};
  if (!fds.empty()) {
    control.resize(CMSG_SPACE(fds.size() * sizeof(int)));
    mh.msg_control = control.data();
    mh.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  }
  int64_t total = 0;
  size_t first = 0;  // first iovec not fully sent
  while (first < iov.size()) {
    mh.msg_iov = &iov[first];
    mh.msg_iovlen = std::min<size_t>(iov.size() - first, IOV_MAX);
    const ssize_t n = ::sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return total > 0 ? total : -EAGAIN;
      return -errno;
    }
    // The fds went with the first byte; never send them twice.
    mh.msg_control = nullptr;
    mh.msg_controllen = 0;
    total += n;
    auto left = static_cast<size_t>(n);
    while (first < iov.size() && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      iov[first++].iov_len = 0;
    }
    if (first < iov.size()) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return total;
}

int send_all(int fd, std::span<iovec> iov, std::span<const int> fds, int timeout_ms) {
  size_t left = 0;
  for (const auto& v : iov) left += v.iov_len;
  while (left > 0) {
    const int64_t n = send_some(fd, iov, fds);
    if (n == -EAGAIN) {
      if (int rc = wait_ready(fd, POLLOUT, timeout_ms); rc < 0) return rc;
      continue;
    }
    if (n < 0) return static_cast<int>(n);
    fds = {};
    left -= static_cast<size_t>(n);
    while (!iov.empty() && iov.front().iov_len == 0) iov = iov.subspan(1);
  }
  return 0;
}

int send_message(int fd, Header hdr, std::span<const std::span<const uint8_t>> pieces,
                 std::span<const int> fds, int timeout_ms) {
  if (fds.size() > kScmMaxFd) return -EINVAL;
  MessageIovecs iov(hdr, pieces);
  if (!iov.ok()) return -EMSGSIZE;
  return send_all(fd, iov.iov(), fds, timeout_ms);
}

int send_bytes(int fd, std::span<const uint8_t> bytes, int timeout_ms) {
  iovec v{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  return send_all(fd, std::span(&v, 1), {}, timeout_ms);
}

int send_message(int fd, Message& m, int timeout_ms) {
  std::vector<int> raw;
  raw.reserve(m.fds.size());
  for (const auto& f : m.fds) raw.push_back(f.get());
  const std::span<const uint8_t> piece(m.payload);
  const int rc = send_message(fd, m.hdr, std::span(&piece, 1), raw, timeout_ms);
  if (rc == 0) m.hdr.msg_size = static_cast<uint32_t>(sizeof(Header) + m.payload.size());
  return rc;
}

MessageReader::MessageReader(uint32_t max_size, size_t max_fds)
    : max_size_(std::max<uint32_t>(max_size, sizeof(Header))),
      max_fds_(max_fds),
      control_(max_fds > 0 ? CMSG_SPACE(max_fds * sizeof(int)) : 0) {}

// Reads once into the buffer. 1: bytes arrived, 0: EOF, -EAGAIN/-ETIMEDOUT: nothing yet.
int MessageReader::fill(int fd, int timeout_ms) {
  if (timeout_ms != 0) {
    if (int rc = wait_ready(fd, POLLIN, timeout_ms); rc < 0) return rc == -ETIMEDOUT ? -EAGAIN : rc;
  }
  // Room for a whole chunk after the unconsumed bytes: move them to the front, and grow the
  // storage only the first time (or for a large message).
  if (buf_.size() - end_ < kReadChunk) {
    if (begin_ != 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < kReadChunk) buf_.resize(end_ + kReadChunk);
  }
  iovec iov{buf_.data() + end_, buf_.size() - end_};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (max_fds_ > 0) {
    mh.msg_control = control_.data();
    mh.msg_controllen = control_.size();
  }
  ssize_t n;
  do {
    n = ::recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    const int err = errno;
    return (err == EAGAIN || err == EWOULDBLOCK) ? -EAGAIN : -err;
  }
  end_ += static_cast<size_t>(n);
  const bool truncated = (mh.msg_flags & MSG_CTRUNC) != 0;
  if (mh.msg_controllen == 0 && !truncated) return n > 0 ? 1 : 0;  // the common case: no fds
  // Collect fds (also on EOF: a peer may send fds and close).
  std::vector<UniqueFd> got;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int raw;
      std::memcpy(&raw, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      got.emplace_back(raw);
    }
  }
  if (!got.empty() || truncated) {
    // A sender attaches fds to its message's first byte and the kernel ends a read after the
    // segment that carried them: they belong to the last message starting before this read's
    // end (the one in progress if none starts inside it).
    const size_t avail = end_ - begin_;
    size_t owner = 0;
    for (size_t pos = 0; pos < avail;) {
      owner = pos;
      if (avail - pos < sizeof(Header)) break;
      Header h;
      std::memcpy(&h, buf_.data() + begin_ + pos, sizeof(h));
      if (h.msg_size < sizeof(Header) || h.msg_size > max_size_) break;
      pos += h.msg_size;
    }
    if (got.empty()) fds_.push_back({owner, UniqueFd(), true});
    for (auto& f : got) fds_.push_back({owner, std::move(f), truncated});
  }
  return n > 0 ? 1 : 0;
}

MessageReader::Status MessageReader::take(Message& out) {
  const size_t avail = end_ - begin_;
  if (avail < sizeof(Header)) return Status::kAgain;
  Header h;
  std::memcpy(&h, buf_.data() + begin_, sizeof(h));
  if (h.msg_size < sizeof(Header) || h.msg_size > max_size_) {
    bad_header_ = h;
    error_ = -EMSGSIZE;
    return Status::kError;
  }
  if (avail < h.msg_size) return Status::kAgain;
  // `out` keeps its payload's capacity: a reader of many messages into one Message allocates
  // nothing once it has seen the largest.
  out.hdr = h;
  const uint8_t* body = buf_.data() + begin_ + sizeof(Header);
  out.payload.assign(body, body + (h.msg_size - sizeof(Header)));
  out.fds.clear();
  out.fds_truncated = false;
  begin_ += h.msg_size;
  if (begin_ == end_) begin_ = end_ = 0;
  if (fds_.empty()) return Status::kMessage;
  // Hand over this message's fds; shift the others to the new buffer origin.
  std::vector<PendingFd> rest;
  for (auto& p : fds_) {
    if (p.pos < h.msg_size) {
      if (p.truncated) out.fds_truncated = true;
      if (p.fd.valid()) out.fds.push_back(std::move(p.fd));
    } else {
      rest.push_back({p.pos - h.msg_size, std::move(p.fd), p.truncated});
    }
  }
  fds_ = std::move(rest);
  return Status::kMessage;
}

MessageReader::Status MessageReader::read(int fd, Message& out, int timeout_ms) {
  error_ = 0;
  for (;;) {
    if (Status s = take(out); s != Status::kAgain) return s;
    const int rc = fill(fd, timeout_ms);
    if (rc == 1) continue;
    if (rc == -EAGAIN) return Status::kAgain;
    if (rc == 0) {
      if (begin_ == end_) return Status::kClosed;
      error_ = -EPROTO;
      return Status::kError;
    }
    error_ = rc;
    return Status::kError;
  }
}

std::optional<Header> MessageReader::partial_header() const {
  if (end_ - begin_ < sizeof(Header)) return std::nullopt;
  Header h;
  std::memcpy(&h, buf_.data() + begin_, sizeof h);
  return h;
}

void MessageReader::resync(int fd) {
  begin_ = end_ = 0;
  fds_.clear();
  char sink[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
    if (n > 0 || (n < 0 && errno == EINTR)) continue;
    break;
  }
}

}  // namespace uvfio::vfio_user
