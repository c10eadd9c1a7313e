#include "raw_client.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace uvfio::interop {

using vfio_user::Command;
using vfio_user::Message;
using vfio_user::MessageReader;
using Clock = std::chrono::steady_clock;

Result<RawClient> RawClient::connect(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Errno{errno};
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) return Errno{ENAMETOOLONG};
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    return Errno{errno};
  }
  return RawClient(std::move(fd));
}

int RawClient::send(Message& m) {
  return vfio_user::send_message(fd_.get(), m, 5000);
}

int RawClient::send_bytes(std::span<const uint8_t> bytes, std::span<const int> fds) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    iovec iov{const_cast<uint8_t*>(bytes.data() + sent), bytes.size() - sent};
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    std::vector<char> control;
    if (sent == 0 && !fds.empty()) {
      control.resize(CMSG_SPACE(fds.size() * sizeof(int)));
      mh.msg_control = control.data();
      mh.msg_controllen = control.size();
      cmsghdr* c = CMSG_FIRSTHDR(&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
      std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
    }
    const ssize_t n = ::sendmsg(fd_.get(), &mh, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    sent += static_cast<size_t>(n);
  }
  return 0;
}

std::optional<Message> RawClient::receive(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    Message m;
    const auto st = reader_.read(fd_.get(), m, static_cast<int>(std::max<int64_t>(left, 0)));
    switch (st) {
      case MessageReader::Status::kMessage:
        return m;
      case MessageReader::Status::kClosed:
        eof_ = true;
        return std::nullopt;
      case MessageReader::Status::kError:
        error_ = -reader_.error();
        // A reset by the peer is its way of closing, for our purposes.
        if (error_ == ECONNRESET || error_ == EPROTO) eof_ = true;
        return std::nullopt;
      case MessageReader::Status::kAgain:
        if (Clock::now() >= deadline) return std::nullopt;
        break;
    }
  }
}

void RawClient::answer_dma(Message& m) {
  ++dma_requests_;
  Message reply = vfio_user::make_reply(m.hdr);
  const auto acc = m.get<vfio_user::DmaAccess>();
  const bool inside = acc && acc->addr >= dma_base_ && acc->count <= dma_memory_.size() &&
                      acc->addr - dma_base_ <= dma_memory_.size() - acc->count;
  if (!inside) {
    reply = vfio_user::make_error_reply(m.hdr, EFAULT);
  } else {
    uint8_t* mem = dma_memory_.data() + (acc->addr - dma_base_);
    reply.put(*acc);
    if (m.hdr.command == static_cast<uint16_t>(Command::kDmaRead)) {
      reply.put_bytes({mem, acc->count});
    } else if (m.payload.size() == sizeof(*acc) + acc->count) {
      std::memcpy(mem, m.payload.data() + sizeof(*acc), acc->count);
    } else {
      reply = vfio_user::make_error_reply(m.hdr, EINVAL);
    }
  }
  (void)send(reply);
}

Result<Message> RawClient::request(Message m, std::chrono::milliseconds timeout) {
  m.hdr.msg_id = next_id();
  if (const int rc = send(m); rc != 0) return Errno{-rc};
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Errno{ETIMEDOUT};
    auto got = receive(left);
    if (!got) {
      if (eof_) return Errno{EPIPE};
      if (error_ != 0) return Errno{EPROTO};
      return Errno{ETIMEDOUT};
    }
    if (!got->is_reply()) {
      const auto cmd = static_cast<Command>(got->hdr.command);
      if (cmd == Command::kDmaRead || cmd == Command::kDmaWrite) answer_dma(*got);
      continue;
    }
    if (got->hdr.msg_id == m.hdr.msg_id) return std::move(*got);
    // A reply to something else (a test that sent without waiting): not ours, keep waiting.
  }
}

Result<Message> RawClient::version(const std::string& json) {
  Message m = vfio_user::make_command(0, Command::kVersion);
  m.put(vfio_user::VersionHead{vfio_user::kMajor, 0});
  if (!json.empty()) {
    m.put_bytes({reinterpret_cast<const uint8_t*>(json.data()), json.size()});
    m.payload.push_back(0);
  }
  return request(std::move(m));
}

bool RawClient::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (!receive(left) && (eof_ || error_ != 0)) return true;
  }
  return eof_;
}

}  // namespace uvfio::interop
