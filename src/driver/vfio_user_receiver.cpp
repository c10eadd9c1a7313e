#include "driver/vfio_user_receiver.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace uvfio::driver::detail {
namespace {

constexpr size_t kInitialBuffer = size_t{64} * 1024;
constexpr size_t kMinRoom = size_t{16} * 1024;  // compact before reading into less than this

}  // namespace

VfioUserReceiver::VfioUserReceiver(uint32_t max_message_size, size_t max_fds)
    : max_size_(std::max<uint32_t>(max_message_size, sizeof(vfio_user::Header))),
      buf_(std::min<size_t>(kInitialBuffer, max_size_ + kMinRoom)),
      control_(CMSG_SPACE(std::max<size_t>(max_fds, 1) * sizeof(int))) {}

int VfioUserReceiver::next(View& out) {
  const size_t have = tail_ - head_;
  if (have < sizeof(vfio_user::Header)) return 0;
  vfio_user::Header h;
  std::memcpy(&h, buf_.data() + head_, sizeof h);
  if (h.msg_size < sizeof h || h.msg_size > max_size_) {
    bad_ = h;
    return -EPROTO;
  }
  if (have < h.msg_size) return 0;
  out.hdr = h;
  out.payload = {buf_.data() + head_ + sizeof h, h.msg_size - sizeof h};
  out_fds_.clear();  // fds a consumer left behind are closed here
  out.fds_truncated = false;
  if (!pending_.empty()) {
    auto it = pending_.begin();
    while (it != pending_.end()) {
      if (it->pos >= consumed_ && it->pos < consumed_ + h.msg_size) {
        if (it->truncated) out.fds_truncated = true;
        if (it->fd.valid()) out_fds_.push_back(std::move(it->fd));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  out.fds = &out_fds_;
  head_ += h.msg_size;
  consumed_ += h.msg_size;
  return 1;
}

void VfioUserReceiver::compact(size_t need) {
  const size_t have = tail_ - head_;
  if (head_ > 0 && (buf_.size() - head_ < need || buf_.size() - tail_ < kMinRoom)) {
    std::memmove(buf_.data(), buf_.data() + head_, have);
    head_ = 0;
    tail_ = have;
  }
  if (buf_.size() - head_ < need) buf_.resize(head_ + need);
  if (buf_.size() - tail_ < kMinRoom && buf_.size() < size_t{max_size_} + kMinRoom) {
    buf_.resize(std::min(buf_.size() * 2, size_t{max_size_} + kMinRoom));
  }
}

int VfioUserReceiver::fill(int fd) {
  if (head_ == tail_) head_ = tail_ = 0;
  size_t need = sizeof(vfio_user::Header);
  if (tail_ - head_ >= sizeof(vfio_user::Header)) {
    vfio_user::Header h;
    std::memcpy(&h, buf_.data() + head_, sizeof h);
    if (h.msg_size >= sizeof h && h.msg_size <= max_size_) need = h.msg_size;
  }
  compact(need);
  iovec iov{buf_.data() + tail_, buf_.size() - tail_};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control_.data();
  mh.msg_controllen = control_.size();
  ssize_t n;
  do {
    n = ::recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? -EAGAIN : -errno;
  tail_ += static_cast<size_t>(n);
  const bool truncated = (mh.msg_flags & MSG_CTRUNC) != 0;
  bool any_fd = false;
  size_t owner = head_;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    if (!any_fd) {
      // A sender attaches fds to its message's first byte, and the kernel ends a read after
      // the segment that carried them: they belong to the last message starting in the
      // buffer before this read's end.
      for (size_t pos = head_; pos < tail_;) {
        owner = pos;
        if (tail_ - pos < sizeof(vfio_user::Header)) break;
        vfio_user::Header h;
        std::memcpy(&h, buf_.data() + pos, sizeof h);
        if (h.msg_size < sizeof h || h.msg_size > max_size_) break;
        pos += h.msg_size;
      }
      any_fd = true;
    }
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int raw;
      std::memcpy(&raw, CMSG_DATA(c) + i * sizeof(int), sizeof raw);
      pending_.push_back({consumed_ + (owner - head_), UniqueFd(raw), truncated});
    }
  }
  if (truncated && !any_fd) {
    pending_.push_back({consumed_ + (tail_ > head_ ? tail_ - 1 - head_ : 0), UniqueFd(), true});
  }
  return n > 0 ? 1 : 0;
}

}  // namespace uvfio::driver::detail
