// uvfio-vfio-user-bench: the vfio-user transport's costs, each figure beside its physical floor
// measured in the same run (the same BENCH line format as uvfio-bench):
//   BENCH <name> value=<v> unit=<u> [floor=<f> ratio=<value/floor>]
//
// Setup: the server (vfio_user::Server, its epoll loop) runs in a thread of this process and
// serves a small bench device on a UNIX socket in a temp dir; the client is this process's main
// thread (raw protocol messages, or the driver API's vfio-user target where said). Device-side
// work (DMA, interrupts) runs on a third thread, as a device model's worker would. Every figure
// is the best of interleaved runs (value and floor alternate, as in uvfio-bench).
//
// Figures (targets from issue 5):
//   region_read4_rtt          4-byte REGION_READ round trip vs a raw socketpair ping-pong of the
//                             same byte counts between two threads           (target <= 1.05x)
//   posted_write_rate         REGION_WRITE with NO_REPLY (then one read to fence) vs synchronous
//                             writes                                            (target >= 5x)
//   pipelined_read_rate_N     REGION_READs with N in flight vs one at a time    (target >= 5x)
//   dma_shared_fd_{read,write} device DMA into a client's memfd mapped by the server vs memcpy
//                             of the same size                                  (target >= 0.9x)
//   dma_messages_{read,write} device DMA to an fd-less map: DMA_READ/WRITE messages answered by
//                             the client (MB/s, no floor)
//   irq_latency               device signal_msi() -> client eventfd wake-up vs a raw eventfd
//                             hand-off between the same threads             (target <= 1.1x)
//   client_pipelined_read_rate_64[_batched]  the driver API's connection with 64 reads in
//                             flight, started one by one or refilled by batches (one sendmsg)
//                             vs synchronous reads through it
#include <linux/vfio.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "driver/vfio_user_connection.h"
#include "uvfio/base/log.h"
#include "uvfio/base/unique_fd.h"
#include "uvfio/driver/driver.h"
#include "uvfio/pci/device_model.h"
#include "uvfio/vfio_user/server.h"
#include "vfio_user/message.h"
#include "vfio_user/message_io.h"

namespace {

namespace vu = uvfio::vfio_user;
using uvfio::UniqueFd;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kBar0 = VFIO_PCI_BAR0_REGION_INDEX;
constexpr uint64_t kRegScratch = 0x0;
constexpr size_t kDmaSize = size_t{1} << 20;
constexpr uint64_t kIovaShared = 0x10000000;
constexpr uint64_t kIovaMessages = 0x20000000;

[[noreturn]] void die(const std::string& what, int err = 0) {
  std::fprintf(stderr, "uvfio-vfio-user-bench: %s%s%s\n", what.c_str(), err != 0 ? ": " : "",
               err != 0 ? std::strerror(err) : "");
  std::exit(1);
}

template <class F>
double seconds(F&& f) {
  const auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, v >= 1000 ? "%.0f" : "%.3f", v);
  return b;
}

// Every figure here has the server in a thread of this process: the lines say so (server=thread).
void report(const std::string& name, double value, const char* unit) {
  std::printf("BENCH %s value=%s unit=%s server=thread\n", name.c_str(), num(value).c_str(), unit);
  std::fflush(stdout);
}

void report(const std::string& name, double value, const char* unit, double floor) {
  std::printf("BENCH %s value=%s unit=%s floor=%s ratio=%.3f server=thread\n", name.c_str(),
              num(value).c_str(), unit, num(floor).c_str(), value / floor);
  std::fflush(stdout);
}

struct Best {
  double value = 1e300;  // seconds per op: lower is better
  double floor = 1e300;
};

// Runs `value` and `floor` `reps` times each, alternating which goes first; each returns the
// time of `ops` operations. Best (lowest) seconds per op of each.
template <class V, class F>
Best best_of(int reps, double ops, V&& value, F&& floor) {
  Best b;
  for (int i = 0; i < reps; ++i) {
    if (i % 2 == 0) {
      b.value = std::min(b.value, seconds(value) / ops);
      b.floor = std::min(b.floor, seconds(floor) / ops);
    } else {
      b.floor = std::min(b.floor, seconds(floor) / ops);
      b.value = std::min(b.value, seconds(value) / ops);
    }
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// The bench device: one 4 KiB MMIO BAR (a scratch register), one MSI vector; DMA and interrupts
// are driven by the bench through the DeviceBus the vfio-pci core hands it.

class BenchDevice : public uvfio::pci::DeviceModel {
 public:
  uvfio::pci::DeviceLayout layout() const override {
    uvfio::pci::DeviceLayout l;
    l.vendor_id = 0x1b36;
    l.device_id = 0x00ff;
    l.class_code = 0xff0000;
    l.bars[0] = {uvfio::pci::BarType::kMem32, 4096, false, false};
    l.capabilities.emplace_back(uvfio::pci::MsiSpec{1, true, false});
    l.name = "vfio-user-bench";
    return l;
  }
  void attach(uvfio::pci::DeviceBus& bus) override { bus_ = &bus; }
  uint64_t mmio_read(unsigned /*bar*/, uint64_t offset, unsigned /*size*/) override {
    return offset == kRegScratch ? scratch_.load(std::memory_order_relaxed) : 0;
  }
  void mmio_write(unsigned /*bar*/, uint64_t offset, unsigned /*size*/, uint64_t v) override {
    if (offset == kRegScratch) scratch_.store(v, std::memory_order_relaxed);
  }
  uvfio::pci::DeviceBus& bus() { return *bus_; }

 private:
  uvfio::pci::DeviceBus* bus_ = nullptr;
  std::atomic<uint64_t> scratch_{0};
};

// ---------------------------------------------------------------------------------------------
// The server in its own thread, serving one BenchDevice on <tmp>/bench.sock.

class ServerThread {
 public:
  ServerThread() {
    char tmpl[] = "/tmp/uvfio-vfio-user-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) die("mkdtemp", errno);
    dir_ = tmpl;
    path_ = dir_ + "/bench.sock";
    auto server = vu::Server::create({});
    if (!server) die("Server::create", server.error());
    server_ = std::move(*server);
    model_ = std::make_shared<BenchDevice>();
    auto ops = uvfio::pci::make_vfio_pci_device(model_);
    if (!ops) die("make_vfio_pci_device", ops.error());
    auto id = server_->serve_path(std::move(*ops), path_);
    if (!id) die("serve_path", id.error());
    id_ = *id;
    thread_ = std::thread([this] { server_->run(); });
  }
  ~ServerThread() {
    server_->stop();
    thread_.join();
    server_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;

  const std::string& path() const { return path_; }
  BenchDevice& device() { return *model_; }
  bool connected() const { return server_->client_connected(id_); }

 private:
  std::string dir_, path_;
  std::unique_ptr<vu::Server> server_;
  std::shared_ptr<BenchDevice> model_;
  vu::DeviceId id_ = 0;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// A minimal raw client: requests by id, posted commands, and (from a helper thread) answers to
// the server's DMA_READ/DMA_WRITE for an fd-less map.

class Client {
 public:
  explicit Client(const std::string& path) {
    fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
      die("connect " + path, errno);
    }
    vu::Message v = vu::make_command(0, vu::Command::kVersion);
    v.put(vu::VersionHead{vu::kMajor, 0});
    const std::string json = R"({"capabilities":{"max_msg_fds":8}})";
    v.put_bytes({reinterpret_cast<const uint8_t*>(json.data()), json.size() + 1});
    expect_ok(call(std::move(v)), "VERSION");
    // Memory space and bus master on.
    expect_ok(call(write_msg(VFIO_PCI_CONFIG_REGION_INDEX, 0x04, 2, 0x0006)), "Command");
  }

  int fd() const { return fd_.get(); }

  static vu::Message read_msg(uint32_t region, uint64_t offset, uint32_t count) {
    vu::Message m = vu::make_command(0, vu::Command::kRegionRead);
    m.put(vu::RegionAccess{offset, region, count});
    return m;
  }
  static vu::Message write_msg(uint32_t region, uint64_t offset, uint32_t count, uint64_t value,
                               uint32_t flags = 0) {
    vu::Message m = vu::make_command(0, vu::Command::kRegionWrite, flags);
    m.put(vu::RegionAccess{offset, region, count});
    m.put_bytes({reinterpret_cast<const uint8_t*>(&value), count});
    return m;
  }

  void send(vu::Message& m) {
    m.hdr.msg_id = ++id_;
    if (const int rc = vu::send_message(fd_.get(), m); rc != 0) die("send", -rc);
  }
  // Several commands in one sendmsg (a pipelining client's burst; no fds).
  void send_batch(vu::Message& m, int n) {
    std::vector<uint8_t> buf;
    m.hdr.msg_size = static_cast<uint32_t>(sizeof(vu::Header) + m.payload.size());
    for (int i = 0; i < n; ++i) {
      m.hdr.msg_id = ++id_;
      const auto* h = reinterpret_cast<const uint8_t*>(&m.hdr);
      buf.insert(buf.end(), h, h + sizeof(vu::Header));
      buf.insert(buf.end(), m.payload.begin(), m.payload.end());
    }
    for (size_t off = 0; off < buf.size();) {
      const ssize_t k = ::send(fd_.get(), buf.data() + off, buf.size() - off, MSG_NOSIGNAL);
      if (k < 0) die("send", errno);
      off += static_cast<size_t>(k);
    }
  }
  // One reply read the way the floor reads: a blocking recv, no poll first (the figure then
  // charges the client only what the floor's reader pays). For one request in flight.
  void receive_blocking() {
    size_t got = 0;
    for (;;) {
      const ssize_t n = ::recv(fd_.get(), raw_.data() + got, raw_.size() - got, 0);
      if (n <= 0) die("recv", n < 0 ? errno : EPIPE);
      got += static_cast<size_t>(n);
      if (got < sizeof(vu::Header)) continue;
      vu::Header h;
      std::memcpy(&h, raw_.data(), sizeof h);
      if (h.msg_size > raw_.size()) die("reply too large");
      if (got >= h.msg_size) {
        if (got != h.msg_size) die("more than one reply in flight");
        return;
      }
    }
  }
  vu::Message receive() {
    vu::Message m;
    const auto st = reader_.read(fd_.get(), m, -1);
    if (st != vu::MessageReader::Status::kMessage) die("receive", -reader_.error());
    return m;
  }
  vu::Message call(vu::Message m) {
    send(m);
    vu::Message r = receive();
    if (r.hdr.msg_id != m.hdr.msg_id) die("reply out of order");
    return r;
  }
  static void expect_ok(const vu::Message& r, const char* what) {
    if (r.is_error()) die(what, static_cast<int>(r.hdr.error_no));
  }

 private:
  UniqueFd fd_;
  vu::MessageReader reader_;
  std::vector<uint8_t> raw_ = std::vector<uint8_t>(4096);
  uint16_t id_ = 0;
};

// ---------------------------------------------------------------------------------------------
// 1. 4-byte REGION_READ round trip vs a raw socketpair ping-pong.

// The floor: the same bytes (a 32-byte request, a 36-byte reply) bounced between two threads
// over a socketpair with blocking read/write: the least any socket transport can cost.
double socketpair_pingpong_s(int iters) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair", errno);
  UniqueFd a(sv[0]), b(sv[1]);
  std::thread echo([&] {
    uint8_t buf[64];
    for (int i = 0; i < iters; ++i) {
      size_t got = 0;
      while (got < 32) got += static_cast<size_t>(::read(b.get(), buf + got, 32 - got));
      if (::write(b.get(), buf, 36) != 36) die("write", errno);
    }
  });
  uint8_t buf[64] = {};
  const double s = seconds([&] {
    for (int i = 0; i < iters; ++i) {
      if (::write(a.get(), buf, 32) != 32) die("write", errno);
      size_t got = 0;
      while (got < 36) got += static_cast<size_t>(::read(a.get(), buf + got, 36 - got));
    }
  });
  echo.join();
  return s;
}

void bench_round_trip(Client& c) {
  constexpr int kIters = 20000;
  constexpr int kReps = 11;
  vu::Message m = Client::read_msg(kBar0, kRegScratch, 4);
  const Best b = best_of(
      kReps, kIters,
      [&] {
        for (int i = 0; i < kIters; ++i) {
          c.send(m);
          c.receive_blocking();
        }
      },
      [&] { (void)socketpair_pingpong_s(kIters); });
  std::printf(
      "# region_read4_rtt: raw vfio-user client (main thread: sendmsg, blocking recv) -> Server "
      "(its own thread: epoll_wait, recvmsg, sendmsg), one request in flight\n");
  report("vfio_user_region_read4_rtt", b.value * 1e6, "us", b.floor * 1e6);
}

// ---------------------------------------------------------------------------------------------
// 2. Posted writes and pipelined reads against synchronous ones.

void bench_posted_and_pipelined(Client& c) {
  constexpr int kOps = 20000;
  constexpr int kReps = 9;
  vu::Message w = Client::write_msg(kBar0, kRegScratch, 4, 1);
  vu::Message pw = Client::write_msg(kBar0, kRegScratch, 4, 1, vu::kFlagNoReply);
  vu::Message r = Client::read_msg(kBar0, kRegScratch, 4);
  // The synchronous baselines read like the round-trip figure (blocking recv): the best a
  // one-at-a-time client can do.
  auto sync_writes = [&] {
    for (int i = 0; i < kOps; ++i) {
      c.send(w);
      c.receive_blocking();
    }
  };
  auto posted_writes = [&] {
    for (int i = 0; i < kOps; ++i) c.send(pw);
    c.send(r);  // the read's reply proves every posted write before it was applied
    (void)c.receive();
  };
  Best b = best_of(kReps, kOps, posted_writes, sync_writes);
  report("vfio_user_posted_write_rate", 1 / b.value, "writes/s", 1 / b.floor);

  for (const int depth : {1, 8, 64}) {
    auto pipelined = [&] {
      int sent = 0, received = 0;
      while (received < kOps) {
        while (sent < kOps && sent - received < depth) {
          c.send(r);
          ++sent;
        }
        (void)c.receive();
        ++received;
      }
    };
    auto sync_reads = [&] {
      for (int i = 0; i < kOps; ++i) {
        c.send(r);
        c.receive_blocking();
      }
    };
    b = best_of(kReps, kOps, pipelined, sync_reads);
    report("vfio_user_pipelined_read_rate_" + std::to_string(depth), 1 / b.value, "reads/s",
           1 / b.floor);
    if (depth == 1) continue;
    // The same depth with the client refilling half the window in one sendmsg: what is left
    // is the server's own per-message cost.
    auto batched = [&] {
      int sent = 0, received = 0;
      while (received < kOps) {
        if (sent - received <= depth / 2 && sent < kOps) {
          const int n = std::min(depth - (sent - received), kOps - sent);
          c.send_batch(r, n);
          sent += n;
        }
        (void)c.receive();
        ++received;
      }
    };
    b = best_of(kReps, kOps, batched, sync_reads);
    report("vfio_user_pipelined_read_rate_" + std::to_string(depth) + "_batched", 1 / b.value,
           "reads/s", 1 / b.floor);
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Device DMA: through a client's memfd mapped by the server, and by messages.

void bench_dma(Client& c, BenchDevice& dev) {
  constexpr int kReps = 9;
  constexpr int kIters = 64;  // 64 MiB per run
  // Shared: the client's memfd, mapped at kIovaShared.
  UniqueFd mem(::memfd_create("uvfio-bench-dma", MFD_CLOEXEC));
  if (!mem || ::ftruncate(mem.get(), kDmaSize) != 0) die("memfd", errno);
  void* client_view = ::mmap(nullptr, kDmaSize, PROT_READ | PROT_WRITE, MAP_SHARED, mem.get(), 0);
  if (client_view == MAP_FAILED) die("mmap", errno);
  std::memset(client_view, 0x11, kDmaSize);
  vu::Message map = vu::make_command(0, vu::Command::kDmaMap);
  map.put(
      vu::DmaMap{sizeof(vu::DmaMap), vu::kDmaMapRead | vu::kDmaMapWrite, 0, kIovaShared, kDmaSize});
  map.fds.push_back(mem.dup());
  Client::expect_ok(c.call(std::move(map)), "DMA_MAP (fd)");

  std::vector<uint8_t> dev_buf(kDmaSize, 0x22), host(kDmaSize, 0x33);
  std::vector<uint8_t> other(kDmaSize, 0x44);
  uvfio::pci::DeviceBus& bus = dev.bus();
  auto dma_write = [&] {
    for (int i = 0; i < kIters; ++i) {
      if (const int rc = bus.dma_write(kIovaShared, dev_buf.data(), kDmaSize); rc != 0) {
        die("dma_write", -rc);
      }
    }
  };
  auto dma_read = [&] {
    for (int i = 0; i < kIters; ++i) {
      if (const int rc = bus.dma_read(kIovaShared, dev_buf.data(), kDmaSize); rc != 0) {
        die("dma_read", -rc);
      }
    }
  };
  // The floor: memcpy between two buffers of this process, both warm, of the same size.
  auto memcpy_run = [&] {
    for (int i = 0; i < kIters; ++i) {
      std::memcpy(other.data(), host.data(), kDmaSize);
      asm volatile("" : : : "memory");
    }
  };
  const double bytes = double{kDmaSize} * kIters;
  Best b = best_of(kReps, bytes / 1e9, dma_write, memcpy_run);
  report("vfio_user_dma_shared_fd_write_1m", 1 / b.value, "GB/s", 1 / b.floor);
  b = best_of(kReps, bytes / 1e9, dma_read, memcpy_run);
  report("vfio_user_dma_shared_fd_read_1m", 1 / b.value, "GB/s", 1 / b.floor);
  ::munmap(client_view, kDmaSize);

  // By messages: an fd-less map; the client answers DMA_READ/WRITE from a buffer of its own, on
  // a helper thread, while the device thread (here: this one) waits on each transfer.
  map = vu::make_command(0, vu::Command::kDmaMap);
  map.put(vu::DmaMap{sizeof(vu::DmaMap), vu::kDmaMapRead | vu::kDmaMapWrite, 0, kIovaMessages,
                     kDmaSize});
  Client::expect_ok(c.call(std::move(map)), "DMA_MAP (no fd)");
  std::vector<uint8_t> remote(kDmaSize, 0x55);
  std::atomic<bool> stop{false};
  std::thread answerer([&] {
    vu::MessageReader reader;
    while (!stop.load(std::memory_order_relaxed)) {
      vu::Message m;
      const auto st = reader.read(c.fd(), m, 50);
      if (st == vu::MessageReader::Status::kAgain) continue;
      if (st != vu::MessageReader::Status::kMessage) break;
      const auto acc = m.get<vu::DmaAccess>();
      if (!acc || acc->addr < kIovaMessages || acc->count > kDmaSize ||
          acc->addr - kIovaMessages > kDmaSize - acc->count) {
        vu::Message e = vu::make_error_reply(m.hdr, EFAULT);
        (void)vu::send_message(c.fd(), e);
        continue;
      }
      uint8_t* p = remote.data() + (acc->addr - kIovaMessages);
      vu::Message reply = vu::make_reply(m.hdr);
      reply.put(*acc);
      if (m.hdr.command == static_cast<uint16_t>(vu::Command::kDmaRead)) {
        const std::span<const uint8_t> data(p, acc->count);
        const std::span<const uint8_t> pieces[] = {
            {reinterpret_cast<const uint8_t*>(&*acc), sizeof(*acc)}, data};
        vu::Header h = reply.hdr;
        (void)vu::send_message(c.fd(), h, pieces, {});
      } else {
        std::memcpy(p, m.payload.data() + sizeof(*acc), acc->count);
        (void)vu::send_message(c.fd(), reply);
      }
    }
  });
  constexpr int kMsgIters = 8;
  const double msg_bytes = double{kDmaSize} * kMsgIters;
  double best_w = 0, best_r = 0;
  for (int rep = 0; rep < 5; ++rep) {
    best_w = std::max(best_w, msg_bytes / 1e6 / seconds([&] {
                                for (int i = 0; i < kMsgIters; ++i) {
                                  if (bus.dma_write(kIovaMessages, dev_buf.data(), kDmaSize) != 0) {
                                    die("dma_write by messages");
                                  }
                                }
                              }));
    best_r = std::max(best_r, msg_bytes / 1e6 / seconds([&] {
                                for (int i = 0; i < kMsgIters; ++i) {
                                  if (bus.dma_read(kIovaMessages, dev_buf.data(), kDmaSize) != 0) {
                                    die("dma_read by messages");
                                  }
                                }
                              }));
  }
  stop = true;
  answerer.join();
  std::printf("# dma_messages: 1 MiB device transfers to an fd-less map, answered by the client\n");
  report("vfio_user_dma_messages_write_1m", best_w, "MB/s");
  report("vfio_user_dma_messages_read_1m", best_r, "MB/s");
}

// ---------------------------------------------------------------------------------------------
// 4. Interrupt delivery: device signal_msi() on the device thread -> the client's eventfd wakes
// a waiting thread, which answers over a raw eventfd; against the same hand-off over two raw
// eventfds between the same threads.

void bench_irq(Client& c, BenchDevice& dev) {
  constexpr int kIters = 5000;
  constexpr int kReps = 15;
  UniqueFd irq(::eventfd(0, EFD_CLOEXEC));
  vu::Message set = vu::make_command(0, vu::Command::kDeviceSetIrqs);
  vfio_irq_set s{};
  s.argsz = sizeof s;
  s.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
  s.index = VFIO_PCI_MSI_IRQ_INDEX;
  s.count = 1;
  set.put(s);
  set.fds.push_back(irq.dup());
  Client::expect_ok(c.call(std::move(set)), "SET_IRQS MSI");

  UniqueFd ping(::eventfd(0, EFD_CLOEXEC)), pong(::eventfd(0, EFD_CLOEXEC));
  // The client's waiting thread: waits on `wait_fd`, answers on pong.
  auto waiter = [&](int wait_fd) {
    return std::thread([&, wait_fd] {
      uint64_t v;
      const uint64_t one = 1;
      for (int i = 0; i < kIters; ++i) {
        if (::read(wait_fd, &v, 8) != 8) die("read eventfd", errno);
        if (::write(pong.get(), &one, 8) != 8) die("write eventfd", errno);
      }
    });
  };
  uvfio::pci::DeviceBus& bus = dev.bus();
  auto via_device = [&] {
    std::thread t = waiter(irq.get());
    uint64_t v;
    for (int i = 0; i < kIters; ++i) {
      bus.signal_msi(0);
      if (::read(pong.get(), &v, 8) != 8) die("read eventfd", errno);
    }
    t.join();
  };
  auto raw = [&] {
    std::thread t = waiter(ping.get());
    uint64_t v;
    const uint64_t one = 1;
    for (int i = 0; i < kIters; ++i) {
      if (::write(ping.get(), &one, 8) != 8) die("write eventfd", errno);
      if (::read(pong.get(), &v, 8) != 8) die("read eventfd", errno);
    }
    t.join();
  };
  // What the device path does beyond the floor's write: the trigger's eventfd is blocking (as
  // a client may hand it), so the device first checks with poll(POLLOUT) that the write cannot
  // stall it on a saturated counter. The same hand-off with that poll, for the comment below.
  auto raw_polled = [&] {
    std::thread t = waiter(ping.get());
    uint64_t v;
    const uint64_t one = 1;
    for (int i = 0; i < kIters; ++i) {
      pollfd p{ping.get(), POLLOUT, 0};
      if (::poll(&p, 1, 0) != 1) die("poll eventfd", errno);
      if (::write(ping.get(), &one, 8) != 8) die("write eventfd", errno);
      if (::read(pong.get(), &v, 8) != 8) die("read eventfd", errno);
    }
    t.join();
  };
  const Best b = best_of(kReps, kIters, via_device, raw);
  const Best p = best_of(kReps, kIters, raw_polled, raw);
  std::printf("# irq_latency: round trip device thread -> client thread -> device thread\n");
  std::printf(
      "# irq_latency: the raw hand-off with the device's poll(POLLOUT) before each write: %.3f us "
      "(floor %.3f us, ratio %.3f)\n",
      p.value * 1e6, p.floor * 1e6, p.value / p.floor);
  report("vfio_user_irq_latency", b.value * 1e6, "us", b.floor * 1e6);
}

// The same 4-byte read through the driver API's vfio-user client (Region::read32), against the
// same raw ping-pong floor: what the client library adds.
void bench_driver_round_trip(const std::string& path) {
  constexpr int kIters = 20000;
  constexpr int kReps = 11;
  const uvfio::driver::Device dev = uvfio::driver::open("vfio-user:" + path);
  dev.config().enable_memory();
  const uvfio::driver::Region bar0 = dev.bar(0);
  const Best b = best_of(
      kReps, kIters,
      [&] {
        for (int i = 0; i < kIters; ++i) (void)bar0.read32(kRegScratch);
      },
      [&] { (void)socketpair_pingpong_s(kIters); });
  report("vfio_user_region_read4_rtt_driver_api", b.value * 1e6, "us", b.floor * 1e6);
}

// The driver API's client connection (VfioUserConnection) pipelining 64 reads: one start() per
// request, or refills of half the window in one start_batch() (one gathered sendmsg), each
// against synchronous reads through the same connection.
void bench_client_pipelined(const std::string& path) {
  using uvfio::driver::detail::VfioUserConnection;
  constexpr int kOps = 20000;
  constexpr int kReps = 9;
  constexpr int kDepth = 64;
  auto conn = VfioUserConnection::connect(path, "vfio-user:" + path);
  // Memory space on (the Command register).
  const vu::RegionAccess cmd{0x04, VFIO_PCI_CONFIG_REGION_INDEX, 2};
  const uint16_t mem = 0x0002;
  const std::span<const uint8_t> wpieces[] = {{reinterpret_cast<const uint8_t*>(&cmd), sizeof cmd},
                                              {reinterpret_cast<const uint8_t*>(&mem), sizeof mem}};
  VfioUserConnection::Call setup;
  conn->call(setup, vu::Command::kRegionWrite, wpieces);
  const vu::RegionAccess rd{kRegScratch, kBar0, 4};
  const std::span<const uint8_t> rpiece{reinterpret_cast<const uint8_t*>(&rd), sizeof rd};
  const std::span<const std::span<const uint8_t>> rpieces(&rpiece, 1);
  std::vector<VfioUserConnection::Call> calls(kDepth);
  auto finish = [&](VfioUserConnection::Call& c) {
    if (conn->finish(c) != 0) die("REGION_READ");
  };
  auto sync_reads = [&] {
    for (int i = 0; i < kOps; ++i) {
      conn->start(calls[0], vu::Command::kRegionRead, rpieces);
      finish(calls[0]);
    }
  };
  auto one_by_one = [&] {
    int sent = 0;
    int received = 0;
    while (received < kOps) {
      while (sent < kOps && sent - received < kDepth) {
        conn->start(calls[static_cast<size_t>(sent % kDepth)], vu::Command::kRegionRead, rpieces);
        ++sent;
      }
      finish(calls[static_cast<size_t>(received % kDepth)]);
      ++received;
    }
  };
  std::vector<VfioUserConnection::Outgoing> batch(kDepth);
  auto batched = [&] {
    int sent = 0;
    int received = 0;
    while (received < kOps) {
      if (sent < kOps && sent - received <= kDepth / 2) {
        size_t n = 0;
        while (sent < kOps && sent - received < kDepth) {
          batch[n++] = {
              &calls[static_cast<size_t>(sent % kDepth)], vu::Command::kRegionRead, rpieces, {}};
          ++sent;
        }
        conn->start_batch(std::span(batch.data(), n));
      }
      finish(calls[static_cast<size_t>(received % kDepth)]);
      ++received;
    }
  };
  Best b = best_of(kReps, kOps, one_by_one, sync_reads);
  report("vfio_user_client_pipelined_read_rate_64", 1 / b.value, "reads/s", 1 / b.floor);
  b = best_of(kReps, kOps, batched, sync_reads);
  report("vfio_user_client_pipelined_read_rate_64_batched", 1 / b.value, "reads/s", 1 / b.floor);
}

int run() {
  uvfio::set_log_level(uvfio::LogLevel::kError);
  const auto t0 = Clock::now();
  std::printf("# uvfio-vfio-user-bench: server in a thread of this process; ratio = value/floor\n");
  ServerThread server;
  bench_driver_round_trip(server.path());
  // The driver's session has ended once the server has processed its hang-up.
  while (server.connected()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  bench_client_pipelined(server.path());
  while (server.connected()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  Client c(server.path());
  bench_round_trip(c);
  bench_posted_and_pipelined(c);
  bench_dma(c, server.device());
  bench_irq(c, server.device());
  std::printf("# total %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  return 0;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "uvfio-vfio-user-bench: %s\n", e.what());
    return 1;
  }
}
