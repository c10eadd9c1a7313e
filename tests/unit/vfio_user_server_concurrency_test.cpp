// vfio-user server under concurrency: device threads raising interrupts and doing DMA alongside
// the event loop, several clients at once, a device thread waiting for a DMA reply while the loop
// keeps serving others, and a command handler whose device does DMA synchronously on the loop
// thread (the loop must read the reply itself, not wait for it). Runs under TSan.
#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "test_util.h"
#include "uvfio/devices/edu.h"
#include "uvfio/vfio_user/server.h"
#include "vfio_user_server_fixture.h"

namespace uvfio::test {
namespace {

using namespace std::chrono_literals;
namespace reg = devices::edu_reg;

void setup(RawClient& c, int irq_fd) {
  negotiate(c);
  ASSERT_EQ(enable_bus_master(c), 0);
  if (irq_fd >= 0) {
    ASSERT_EQ(set_msi_eventfd(c, irq_fd), 0);
  }
}

bool wait_fd(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) != 1) return false;
  uint64_t n;
  return ::read(fd, &n, 8) == 8;
}

// Programs one edu transfer and waits for its completion interrupt.
bool edu_dma_irq(RawClient& c, int irq_fd, uint64_t src, uint64_t dst, bool to_ram) {
  if (start_edu_dma(c, src, dst, 1024, to_ram ? 7 : 5) != 0) return false;
  if (!wait_fd(irq_fd, 5000)) return false;
  return c.write_reg(kBar0, reg::kIrqAck, devices::kEduIrqDma) == 0;
}

TEST(ServerConcurrency, ClientsDevicesAndDeviceThreadsTogether) {
  ServerOptions o;
  auto server = std::move(*Server::create(o));
  constexpr int kClients = 3;
  std::vector<UniqueFd> theirs(kClients);
  std::vector<RawClient> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(RawClient::pair(&theirs[i]));
    ASSERT_TRUE(server->serve_connected_fd(make_edu(), std::move(theirs[i])).ok());
  }
  std::thread loop([&] { server->run(); });
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      RawClient& c = clients[i];
      UniqueFd irq(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      setup(c, irq.get());
      UniqueFd mem(::memfd_create("ram", MFD_CLOEXEC));
      if (::ftruncate(mem.get(), 0x10000) != 0) ++failures;
      auto* ram = static_cast<uint8_t*>(
          ::mmap(nullptr, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED, mem.get(), 0));
      if (c.errno_of(Command::kDmaMap, dma_map(0x100000, 0x10000, kDmaRW), {mem.get()}) != 0) {
        ++failures;
      }
      for (int round = 0; round < 30; ++round) {
        const auto v = static_cast<uint32_t>(i * 1000 + round);
        if (c.write_reg(kBar0, reg::kLiveness, v) != 0 || c.read_reg(kBar0, reg::kLiveness) != ~v) {
          ++failures;
        }
        std::memset(ram, static_cast<int>(v & 0xff), 1024);
        // DMA in and out, each completion an interrupt from the edu DMA thread.
        if (!edu_dma_irq(c, irq.get(), 0x100000, devices::kEduDmaBufferBase, false) ||
            !edu_dma_irq(c, irq.get(), devices::kEduDmaBufferBase, 0x108000, true)) {
          ++failures;
        }
        if (std::memcmp(ram, ram + 0x8000, 1024) != 0) ++failures;
        // An interrupt raised by MMIO on the loop thread.
        if (c.write_reg(kBar0, reg::kIrqRaise, 0x10000) != 0 || !wait_fd(irq.get(), 5000) ||
            c.write_reg(kBar0, reg::kIrqAck, 0x10000) != 0) {
          ++failures;
        }
      }
      ::munmap(ram, 0x10000);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(server->stats().error_replies, 0u);
  server->stop();
  loop.join();
}

TEST(ServerConcurrency, ADeviceWaitingForADmaReplyDoesNotBlockTheLoop) {
  auto server = std::move(*Server::create({}));
  UniqueFd ta, tb;
  RawClient a = RawClient::pair(&ta), b = RawClient::pair(&tb);
  ASSERT_TRUE(server->serve_connected_fd(make_edu(), std::move(ta)).ok());
  ASSERT_TRUE(server->serve_connected_fd(make_edu(), std::move(tb)).ok());
  std::thread loop([&] { server->run(); });
  setup(a, -1);
  setup(b, -1);
  MessageMemory mem;
  mem.base = 0x100000;
  mem.bytes.assign(0x10000, 0x77);
  a.memory = &mem;
  ASSERT_EQ(a.errno_of(Command::kDmaMap, dma_map(0x100000, 0x10000, kDmaRW)), 0);
  ASSERT_EQ(start_edu_dma(a, 0x100000, devices::kEduDmaBufferBase, 4096, 1), 0);
  // A's device thread now waits for A's answer, which A holds back; B is served meanwhile.
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(b.read_reg(kBar0, reg::kIdentification), 0x010000edu);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  // A answers (while polling), and the transfer completes.
  for (int i = 0; i < 1000 && a.read_reg(kBar0, reg::kDmaCmd, 8) != 0u; ++i) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(a.read_reg(kBar0, reg::kDmaCmd, 8), 0u);
  EXPECT_EQ(mem.reads, 1);
  server->stop();
  loop.join();
}

// A device that does DMA synchronously inside an MMIO write, i.e. on the loop thread: BAR0 offset
// 0 takes an IOVA, reads 4 bytes there and offers them at offset 8.
class SyncDmaModel : public pci::DeviceModel {
 public:
  pci::DeviceLayout layout() const override {
    pci::DeviceLayout l;
    l.vendor_id = 0x1234;
    l.device_id = 0x4321;
    l.bars[0] = {pci::BarType::kMem32, 0x1000, false, false};
    l.name = "syncdma";
    return l;
  }
  void attach(pci::DeviceBus& bus) override { bus_ = &bus; }
  void mmio_write(unsigned /*bar*/, uint64_t offset, unsigned /*size*/, uint64_t value) override {
    if (offset != 0) return;
    uint32_t v = 0;
    rc_.store(bus_->dma_read(value, &v, sizeof v));
    value_.store(v);
  }
  uint64_t mmio_read(unsigned /*bar*/, uint64_t offset, unsigned /*size*/) override {
    return offset == 8 ? value_.load() : static_cast<uint64_t>(static_cast<uint32_t>(rc_.load()));
  }

 private:
  pci::DeviceBus* bus_ = nullptr;
  std::atomic<uint32_t> value_{0};
  std::atomic<int> rc_{0};
};

TEST(ServerConcurrency, ADeviceDoingDmaOnTheLoopThreadGetsItsReply) {
  for (bool twin : {false, true}) {
    SCOPED_TRACE(twin ? "twin socket" : "main socket");
    auto server = std::move(*Server::create({}));
    UniqueFd theirs;
    RawClient c = RawClient::pair(&theirs);
    auto dev = vfio_pci(std::make_shared<SyncDmaModel>());
    ASSERT_TRUE(server->serve_connected_fd(dev, std::move(theirs)).ok());
    std::thread loop([&] { server->run(); });
    auto v =
        c.version(twin ? R"({"capabilities":{"max_msg_fds":8,"twin_socket":{"supported":true}}})"
                       : R"({"capabilities":{"max_msg_fds":8}})");
    ASSERT_TRUE(v && !v->is_error());
    ASSERT_EQ(v->fds.size(), twin ? 1u : 0u);
    MessageMemory mem;
    mem.base = 0x200000;
    mem.bytes.assign(0x1000, 0);
    const uint32_t magic = 0xfeedf00d;
    std::memcpy(mem.bytes.data() + 0x10, &magic, 4);
    c.memory = &mem;
    std::atomic<bool> stop{false};
    std::thread twin_server;
    if (twin) {
      twin_server = std::thread([&, fd = std::move(v->fds[0])]() mutable {
        RawClient t(std::move(fd));
        t.memory = &mem;
        vfio_user::MessageReader rd;
        while (!stop) {
          Message m;
          if (rd.read(t.fd(), m, 20) == vfio_user::MessageReader::Status::kMessage) {
            t.serve(t.fd(), m);
          }
        }
      });
    }
    ASSERT_EQ(enable_bus_master(c), 0);
    ASSERT_EQ(c.errno_of(Command::kDmaMap, dma_map(0x200000, 0x1000, kDmaRW)), 0);
    // The write's handler waits for the DMA reply that arrives on the socket the loop reads.
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(c.write_reg(kBar0, 0, 0x200010, 4), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);  // no timeout was needed
    EXPECT_EQ(c.read_reg(kBar0, 4), 0u);                   // the DMA's rc
    EXPECT_EQ(c.read_reg(kBar0, 8), magic);
    stop = true;
    if (twin_server.joinable()) twin_server.join();
    EXPECT_EQ(mem.reads, 1);  // one DMA_READ, on whichever socket
    server->stop();
    loop.join();
  }
}

}  // namespace
}  // namespace uvfio::test
