// The vfio-user client's reading of GET_REGION_IO_FDS against a scripted server on a socketpair:
// libvfio-user's 48-byte entries (datamatch at byte 40) and the spec's 40-byte ones, the second
// query when the array did not fit, entries the client must not use (a shadow ioeventfd, an fd
// that is not an eventfd), and an errno answer (every write then goes by message).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "driver/vfio_user_connection.h"
#include "driver/vfio_user_transport.h"
#include "uvfio/vfio_user/protocol.h"
#include "vfio_user/message.h"
#include "vfio_user/message_io.h"

namespace uvfio::test {
namespace {

namespace vu = vfio_user;
using driver::detail::VfioUserConnection;
using driver::detail::VfioUserDeviceTransport;
using driver::detail::VfioUserPosting;

template <class T>
void append(std::vector<uint8_t>& out, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}

/// What the scripted server answers GET_REGION_IO_FDS with: the payload and fds for a request
/// of `argsz`, or an errno.
struct IoFdsAnswer {
  std::function<std::vector<uint8_t>(uint32_t argsz)> payload;
  std::function<std::vector<UniqueFd>()> fds;
  int err = 0;
};

/// A one-region device (4 KiB, read/write, no mmap) played on a socketpair, recording the
/// REGION_WRITEs it is sent and the argsz of every GET_REGION_IO_FDS.
class Scripted {
 public:
  explicit Scripted(IoFdsAnswer answer) : answer_(std::move(answer)) {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    UniqueFd client(sv[0]);
    fd_.reset(sv[1]);
    thread_ = std::thread([this] { serve(); });
    driver::detail::VfioUserClientOptions o;
    o.timeout = std::chrono::milliseconds(2000);
    o.twin_socket = false;
    conn_ = VfioUserConnection::adopt(std::move(client), "vfio-user:scripted", o);
    transport_ =
        std::make_unique<VfioUserDeviceTransport>(conn_, "scripted", VfioUserPosting::kOff, true);
  }
  ~Scripted() {
    transport_.reset();
    conn_->close();
    conn_.reset();
    thread_.join();
  }
  Scripted(const Scripted&) = delete;
  Scripted& operator=(const Scripted&) = delete;

  /// A 4-byte write at `off` of region 0 through the transport.
  void write32(uint64_t off, uint32_t v) {
    ASSERT_EQ(transport_->pwrite(&v, sizeof v, off), static_cast<ssize_t>(sizeof v));
  }
  std::vector<uint64_t> writes() const {
    std::lock_guard lock(mu_);
    return writes_;
  }
  std::vector<uint32_t> io_fds_argsz() const {
    std::lock_guard lock(mu_);
    return io_fds_argsz_;
  }

 private:
  void serve() {
    vu::MessageReader rd(vu::kMaxMessageSize, 16);
    for (;;) {
      vu::Message m;
      const auto st = rd.read(fd_.get(), m, 5000);
      if (st != vu::MessageReader::Status::kMessage) return;
      vu::Message r = vu::make_reply(m.hdr);
      switch (static_cast<vu::Command>(m.hdr.command)) {
        case vu::Command::kVersion: {
          const vu::VersionHead h{0, 0};
          append(r.payload, h);
          const std::string text = R"({"capabilities":{"max_msg_fds":16}})";
          r.payload.insert(r.payload.end(), text.begin(), text.end());
          r.payload.push_back(0);
          break;
        }
        case vu::Command::kDeviceGetInfo:
          append(r.payload, vu::DeviceInfo{16, VFIO_DEVICE_FLAGS_PCI, 1, 0});
          break;
        case vu::Command::kDeviceGetRegionInfo: {
          vfio_region_info ri{};
          ri.argsz = sizeof ri;
          ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
          ri.size = 4096;
          append(r.payload, ri);
          break;
        }
        case vu::Command::kDeviceGetRegionIoFds: {
          const auto req = m.get<vu::RegionIoFdsRequest>();
          {
            std::lock_guard lock(mu_);
            io_fds_argsz_.push_back(req ? uint32_t{req->argsz} : 0);
          }
          if (answer_.err != 0 || !req) {
            r = vu::make_error_reply(m.hdr, answer_.err != 0 ? answer_.err : EINVAL);
            break;
          }
          r.payload = answer_.payload(req->argsz);
          if (r.payload.size() > sizeof(vu::RegionIoFdsRequest)) r.fds = answer_.fds();
          break;
        }
        case vu::Command::kRegionWrite: {
          const auto acc = m.get<vu::RegionAccess>();
          std::lock_guard lock(mu_);
          writes_.push_back(acc ? uint64_t{acc->offset} : ~uint64_t{0});
          break;
        }
        default:
          r = vu::make_error_reply(m.hdr, ENOSYS);
      }
      if ((m.hdr.flags & vu::kFlagNoReply) == 0 && vu::send_message(fd_.get(), r) != 0) return;
    }
  }

  IoFdsAnswer answer_;
  UniqueFd fd_;
  std::thread thread_;
  std::shared_ptr<VfioUserConnection> conn_;
  std::unique_ptr<VfioUserDeviceTransport> transport_;
  mutable std::mutex mu_;
  std::vector<uint64_t> writes_;
  std::vector<uint32_t> io_fds_argsz_;
};

uint64_t take(int efd) {
  uint64_t v = 0;
  return ::read(efd, &v, sizeof v) == static_cast<ssize_t>(sizeof v) ? v : 0;
}

TEST(VfioUserClientIoFds, LibvfioUserEntriesOfFortyEightBytes) {
  UniqueFd bell(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  UniqueFd shadow(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  IoFdsAnswer a;
  a.payload = [](uint32_t argsz) {
    std::vector<uint8_t> p;
    constexpr uint32_t kNeed = 16 + 2 * 48;
    append(p, vu::RegionIoFdsRequest{kNeed, 0, 0, 2});
    if (argsz < kNeed) return p;
    // libvfio-user's layout: offset, size, fd_index, type, flags, shadow fd index, shadow
    // offset, datamatch (at 40).
    auto entry = [&p](uint64_t off, uint32_t fd_index, uint32_t type, uint64_t datamatch) {
      append(p, off);
      append(p, uint64_t{4});
      append(p, fd_index);
      append(p, type);
      append(p, vu::kIoeventfdFlagDatamatch);
      append(p, uint32_t{0});
      append(p, uint64_t{0});
      append(p, datamatch);
    };
    entry(0x10, 0, vu::kIoFdTypeIoeventfd, 0xabcd);
    entry(0x20, 1, 2, 0x1);  // a shadow ioeventfd: not for this client
    return p;
  };
  a.fds = [&] {
    std::vector<UniqueFd> fds;
    fds.push_back(bell.dup());
    fds.push_back(shadow.dup());
    return fds;
  };
  Scripted s(a);
  s.write32(0x10, 0xabcd);  // the doorbell
  EXPECT_EQ(take(bell.get()), 1u);
  s.write32(0x10, 0x1234);  // another value
  s.write32(0x20, 0x1);     // the shadow entry's register
  EXPECT_EQ(take(shadow.get()), 0u);
  EXPECT_EQ(s.writes(), (std::vector<uint64_t>{0x10, 0x20}));
  EXPECT_EQ(s.io_fds_argsz().size(), 1u);  // 2 entries fit in the first query
}

TEST(VfioUserClientIoFds, AskedAgainWhenTheArrayDidNotFit) {
  UniqueFd bell(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  constexpr uint32_t kCount = 24;  // 16 + 24 * 40 bytes: above the first query's size
  constexpr uint32_t kNeed = 16 + kCount * 40;
  IoFdsAnswer a;
  a.payload = [](uint32_t argsz) {
    std::vector<uint8_t> p;
    append(p, vu::RegionIoFdsRequest{kNeed, 0, 0, kCount});
    if (argsz < kNeed) return p;
    for (uint32_t i = 0; i < kCount; ++i) {
      vu::IoFdEntry e{};
      e.offset = uint64_t{8} * i;
      e.size = 0;  // any size, no datamatch
      e.fd_index = 0;
      e.type = vu::kIoFdTypeIoeventfd;
      append(p, e);
    }
    return p;
  };
  a.fds = [&] {
    std::vector<UniqueFd> fds;
    fds.push_back(bell.dup());
    return fds;
  };
  Scripted s(a);
  s.write32(uint64_t{8} * 23, 0x55);
  EXPECT_EQ(take(bell.get()), 1u);
  s.write32(uint64_t{8} * 23 + 4, 0x55);  // between entries: a message
  EXPECT_EQ(s.writes(), (std::vector<uint64_t>{8 * 23 + 4}));
  const auto asked = s.io_fds_argsz();
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_LT(asked[0], kNeed);
  EXPECT_EQ(asked[1], kNeed);
}

TEST(VfioUserClientIoFds, NotAnEventfdOrAnErrnoMeansMessages) {
  {
    // A pipe handed out as an ioeventfd is not used.
    int pfd[2];
    ASSERT_EQ(::pipe2(pfd, O_CLOEXEC), 0);
    UniqueFd rd(pfd[0]);
    UniqueFd wr(pfd[1]);
    IoFdsAnswer a;
    a.payload = [](uint32_t /*argsz*/) {
      std::vector<uint8_t> p;
      append(p, vu::RegionIoFdsRequest{16 + 40, 0, 0, 1});
      vu::IoFdEntry e{};
      e.offset = 0x10;
      e.size = 4;
      e.type = vu::kIoFdTypeIoeventfd;
      append(p, e);
      return p;
    };
    a.fds = [&] {
      std::vector<UniqueFd> fds;
      fds.push_back(wr.dup());
      return fds;
    };
    Scripted s(a);
    s.write32(0x10, 0x1);
    EXPECT_EQ(s.writes(), (std::vector<uint64_t>{0x10}));
  }
  {
    IoFdsAnswer a;
    a.err = ENOSYS;
    Scripted s(a);
    s.write32(0x10, 0x1);
    s.write32(0x14, 0x1);
    EXPECT_EQ(s.writes(), (std::vector<uint64_t>{0x10, 0x14}));
    EXPECT_EQ(s.io_fds_argsz().size(), 1u);  // asked once
  }
}

}  // namespace
}  // namespace uvfio::test
