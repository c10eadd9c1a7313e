// vfio-user server: DMA. edu's DMA engine moves data through a window the client mapped with an
// fd (shared memory), without one (DMA_READ/DMA_WRITE messages on the main socket, or on a twin
// socket), and the unmap rules: exact match, UNMAP_ALL, dirty bitmap, overlap, limits, and an
// unmap that waits for the device's pins.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "test_util.h"
#include "uvfio/devices/edu.h"
#include "uvfio/vfio_user/server.h"
#include "vfio_user_server_fixture.h"

namespace uvfio::test {
namespace {

using namespace std::chrono_literals;
namespace reg = devices::edu_reg;

constexpr uint64_t kIova = 0x100000;
constexpr uint64_t kWindow = uint64_t{64} * 1024;

// A memfd the client shares with the server, mapped here too.
struct SharedMemory {
  explicit SharedMemory(size_t len) : size(len) {
    fd.reset(::memfd_create("client-ram", MFD_CLOEXEC));
    EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
    bytes = static_cast<uint8_t*>(
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0));
  }
  ~SharedMemory() { ::munmap(bytes, size); }
  UniqueFd fd;
  size_t size;
  uint8_t* bytes;
};

class DmaTest : public ServedDeviceTest {
 protected:
  void start(ServerOptions opts = {}, std::shared_ptr<vfio::VfioDeviceOps> dev = make_edu()) {
    opts.io_timeout_ms = 1000;
    if (opts.dma_timeout_ms == ServerOptions{}.dma_timeout_ms) opts.dma_timeout_ms = 3000;
    serve(opts, std::move(dev));
  }
  // The client's memory behind a window mapped without an fd at kIova.
  static MessageMemory window_memory(uint8_t fill = 0) {
    MessageMemory m;
    m.base = kIova;
    m.bytes.assign(kWindow, fill);
    return m;
  }
  // One edu transfer; true once the command's busy bit cleared.
  bool edu_dma(uint64_t src, uint64_t dst, uint64_t count, bool to_ram) {
    EXPECT_EQ(start_edu_dma(c(), src, dst, count, to_ram ? 3 : 1), 0);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto cmd = c().read_reg(kBar0, reg::kDmaCmd, 8);
      if (!cmd) return false;
      if ((*cmd & 1) == 0) return true;
    }
    return false;
  }
};

TEST_F(DmaTest, DeviceDmaThroughAnFdMapRoundTrips) {
  start();
  negotiate();
  bus_master();
  SharedMemory ram(kWindow);
  for (size_t i = 0; i < 4096; ++i) ram.bytes[i] = static_cast<uint8_t>(i * 13 + 5);
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, kWindow, kDmaRW), {ram.fd.get()}), 0);
  ASSERT_TRUE(edu_dma(kIova, devices::kEduDmaBufferBase, 4096, false));
  ASSERT_TRUE(edu_dma(devices::kEduDmaBufferBase, kIova + 0x8000, 4096, true));
  EXPECT_EQ(std::memcmp(ram.bytes, ram.bytes + 0x8000, 4096), 0);
  EXPECT_EQ(server_->stats().dma_requests, 0u);  // shared memory: not one message
  // The window was mapped at an offset of the fd: DMA lands there.
  ASSERT_EQ(
      c().errno_of(Command::kDmaMap, dma_map(0x200000, 0x4000, kDmaRW, 0xc000), {ram.fd.get()}), 0);
  ASSERT_TRUE(edu_dma(devices::kEduDmaBufferBase, 0x201000, 16, true));
  EXPECT_EQ(std::memcmp(ram.bytes, ram.bytes + 0xd000, 16), 0);
}

TEST_F(DmaTest, DmaWithoutAnFdTravelsAsMessagesOnTheMainSocket) {
  start();
  negotiate();
  bus_master();
  MessageMemory mem = window_memory();
  for (size_t i = 0; i < 4096; ++i) mem.bytes[i] = static_cast<uint8_t>(i * 7 + 1);
  c().memory = &mem;
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, kWindow, kDmaRW)), 0);
  ASSERT_TRUE(edu_dma(kIova, devices::kEduDmaBufferBase, 4096, false));
  ASSERT_TRUE(edu_dma(devices::kEduDmaBufferBase, kIova + 0x4000, 4096, true));
  EXPECT_EQ(std::memcmp(mem.bytes.data(), mem.bytes.data() + 0x4000, 4096), 0);
  EXPECT_GE(mem.reads, 1);
  EXPECT_GE(mem.writes, 1);
  EXPECT_GE(server_->stats().dma_requests, 2u);
  EXPECT_EQ(server_->stats().dma_failures, 0u);
}

TEST_F(DmaTest, Qemu10DmaLayoutIsRecognizedAndSpoken) {
  start();
  negotiate(R"({"capabilities":{"max_msg_fds":16}})");
  bus_master();
  MessageMemory mem = window_memory();
  for (size_t i = 0; i < 4096; ++i) mem.bytes[i] = static_cast<uint8_t>(i * 5 + 3);
  mem.qemu_layout = true;
  c().memory = &mem;
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, kWindow, kDmaRW)), 0);
  // QEMU's DMA_READ reply (data at 12, its first bytes in the count's upper half) is read right,
  // and from then on DMA_WRITE goes out the way QEMU reads it.
  ASSERT_TRUE(edu_dma(kIova, devices::kEduDmaBufferBase, 4096, false));
  ASSERT_TRUE(edu_dma(devices::kEduDmaBufferBase, kIova + 0x4000, 4096, true));
  EXPECT_EQ(std::memcmp(mem.bytes.data(), mem.bytes.data() + 0x4000, 4096), 0);
  EXPECT_EQ(server_->stats().dma_failures, 0u);
  // A bare-header DMA_WRITE reply is accepted.
  ASSERT_TRUE(edu_dma(devices::kEduDmaBufferBase, kIova + 0x8000, 64, true));
  EXPECT_EQ(std::memcmp(mem.bytes.data(), mem.bytes.data() + 0x8000, 64), 0);
  EXPECT_EQ(server_->stats().dma_failures, 0u);
}

TEST_F(DmaTest, DmaMessagesAreSplitByTheClientsTransferLimit) {
  start();
  negotiate(R"({"capabilities":{"max_msg_fds":8,"max_data_xfer_size":1024}})");
  bus_master();
  MessageMemory mem = window_memory(0x5a);
  c().memory = &mem;
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, kWindow, kDmaRW)), 0);
  ASSERT_TRUE(edu_dma(kIova, devices::kEduDmaBufferBase, 4096, false));
  EXPECT_EQ(mem.reads, 4);  // 4 KiB in 1 KiB messages
}

TEST_F(DmaTest, DmaWithoutAnFdUsesTheTwinSocketWhenNegotiated) {
  start();
  auto r = c().version(R"({"capabilities":{"max_msg_fds":8,"twin_socket":{"supported":true}}})");
  ASSERT_TRUE(r && !r->is_error());
  ASSERT_EQ(r->fds.size(), 1u);
  const std::string text(reinterpret_cast<const char*>(r->payload.data()) + 4);
  EXPECT_NE(text.find(R"("twin_socket":{"fd_index":0,"supported":true})"), std::string::npos)
      << text;
  bus_master();
  MessageMemory mem = window_memory();
  for (size_t i = 0; i < 4096; ++i) mem.bytes[i] = static_cast<uint8_t>(i ^ 0x3c);
  // Nothing on the main socket: DMA requests arriving there would fail the test.
  std::atomic<bool> stop{false};
  UniqueFd twin = std::move(r->fds[0]);
  std::thread server_side([&] {
    RawClient t(std::move(twin));
    t.memory = &mem;
    vfio_user::MessageReader reader;
    while (!stop.load()) {
      Message m;
      if (reader.read(t.fd(), m, 20) == vfio_user::MessageReader::Status::kMessage) {
        t.serve(t.fd(), m);
      }
    }
  });
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, kWindow, kDmaRW)), 0);
  EXPECT_TRUE(edu_dma(kIova, devices::kEduDmaBufferBase, 4096, false));
  EXPECT_TRUE(edu_dma(devices::kEduDmaBufferBase, kIova + 0x2000, 4096, true));
  stop = true;
  server_side.join();
  EXPECT_EQ(std::memcmp(mem.bytes.data(), mem.bytes.data() + 0x2000, 4096), 0);
  EXPECT_GE(mem.reads, 1);
  EXPECT_GE(mem.writes, 1);
}

TEST_F(DmaTest, MapValidation) {
  ServerOptions o;
  o.max_dma_maps = 2;
  o.pgsizes = 4096;
  start(o);
  negotiate();
  SharedMemory ram(kWindow);
  // Wrong argsz, trailing bytes, unknown flags, no permission, misaligned, empty, wrapping.
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, 4096, kDmaRW, 0, 24)), EINVAL);
  auto longer = dma_map(kIova, 4096, kDmaRW);
  longer.push_back(0);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, longer), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, 4096, kDmaRW | 0x10)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, 4096, 0)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova + 1, 4096, kDmaRW)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, 4095, kDmaRW)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, 0, kDmaRW)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(~uint64_t{0xfff}, 0x2000, kDmaRW)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, 4096, kDmaRW, 12), {ram.fd.get()}),
            EINVAL);
  // Two fds; an access mode without an fd.
  EXPECT_EQ(
      c().errno_of(Command::kDmaMap, dma_map(kIova, 4096, kDmaRW), {ram.fd.get(), ram.fd.get()}),
      EINVAL);
  EXPECT_EQ(
      c().errno_of(Command::kDmaMap, dma_map(kIova, 4096, kDmaRW | vfio_user::kDmaMapAccessMmap)),
      EINVAL);
  // Overlaps, whichever side: EEXIST; the limit: EINVAL.
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, 0x4000, kDmaRW), {ram.fd.get()}), 0);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, 0x4000, kDmaRW), {ram.fd.get()}), EEXIST);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova + 0x3000, 0x2000, kDmaRW)), EEXIST);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova - 0x1000, 0x2000, kDmaRW)), EEXIST);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova - 0x1000, 0x10000, kDmaRW)), EEXIST);
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova + 0x4000, 0x1000, kDmaRW)), 0);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova + 0x8000, 0x1000, kDmaRW)), EINVAL);
  // A read-only fd cannot back a writable window (the mmap fails).
  UniqueFd ro(::open(("/proc/self/fd/" + std::to_string(ram.fd.get())).c_str(), O_RDONLY));
  ASSERT_EQ(c().errno_of(Command::kDmaUnmap, dma_unmap(kIova + 0x4000, 0x1000)), 0);
  EXPECT_EQ(c().errno_of(Command::kDmaMap, dma_map(0x900000, 4096, kDmaRW), {ro.get()}), EACCES);
  EXPECT_EQ(
      c().errno_of(Command::kDmaMap, dma_map(0x900000, 4096, vfio_user::kDmaMapRead), {ro.get()}),
      0);
}

TEST_F(DmaTest, UnmapRules) {
  start();
  negotiate();
  SharedMemory ram(kWindow);
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, 0x4000, kDmaRW), {ram.fd.get()}), 0);
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova + 0x4000, 0x4000, kDmaRW)), 0);
  // Not an exact match: ENOENT (libvfio-user); malformed: EINVAL.
  EXPECT_EQ(c().errno_of(Command::kDmaUnmap, dma_unmap(kIova, 0x2000)), ENOENT);
  EXPECT_EQ(c().errno_of(Command::kDmaUnmap, dma_unmap(kIova, 0x8000)), ENOENT);
  EXPECT_EQ(c().errno_of(Command::kDmaUnmap, dma_unmap(0x900000, 0x1000)), ENOENT);
  EXPECT_EQ(c().errno_of(Command::kDmaUnmap, dma_unmap(kIova, 0x4000, 0, 16)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDmaUnmap, dma_unmap(kIova, 0x4000, 1u << 5)), EINVAL);
  EXPECT_EQ(c().errno_of(Command::kDmaUnmap, dma_unmap(kIova, 0x4000, vfio_user::kDmaUnmapAll)),
            EINVAL);  // ALL needs address and size 0
  auto r = c().request(Command::kDmaUnmap, dma_unmap(kIova, 0x4000));
  ASSERT_TRUE(r && !r->is_error());
  EXPECT_EQ(r->payload, dma_unmap(kIova, 0x4000));  // the request echoed
  EXPECT_EQ(c().errno_of(Command::kDmaUnmap, dma_unmap(kIova, 0x4000)), ENOENT);
  // UNMAP_ALL (QEMU sends it with argsz 24), then nothing is left.
  ASSERT_EQ(c().errno_of(Command::kDmaUnmap, dma_unmap(0, 0, vfio_user::kDmaUnmapAll)), 0);
  EXPECT_EQ(c().errno_of(Command::kDmaUnmap, dma_unmap(kIova + 0x4000, 0x4000)), ENOENT);
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, 0x4000, kDmaRW)), 0);  // free again
}

TEST_F(DmaTest, UnmapReportsDirtyPages) {
  start();
  negotiate();
  bus_master();
  SharedMemory ram(kWindow);
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, kWindow, kDmaRW), {ram.fd.get()}), 0);
  // The device writes pages 3 and 4 (one transfer across the boundary).
  ASSERT_TRUE(edu_dma(devices::kEduDmaBufferBase, kIova + 0x3800, 0x1000, true));
  auto req = dma_unmap(kIova, kWindow, vfio_user::kDmaUnmapGetDirtyBitmap, 24 + 16 + 8);
  auto bm = bytes_of(vfio_user::DirtyBitmap{4096, 8});
  req.insert(req.end(), bm.begin(), bm.end());
  auto short_argsz = req;
  short_argsz[0] = 24 + 16;
  EXPECT_EQ(c().errno_of(Command::kDmaUnmap, short_argsz), EINVAL);
  auto bad_size = req;
  bad_size[24 + 8] = 16;  // bitmap size not the window's
  EXPECT_EQ(c().errno_of(Command::kDmaUnmap, bad_size), EINVAL);
  auto r = c().request(Command::kDmaUnmap, req);
  ASSERT_TRUE(r && !r->is_error());
  ASSERT_EQ(r->payload.size(), 24u + 16u + 8u);
  uint64_t bits = 0;
  std::memcpy(&bits, r->payload.data() + 40, 8);
  EXPECT_EQ(bits, 0x18u);
  EXPECT_EQ(c().errno_of(Command::kDmaUnmap, dma_unmap(kIova, kWindow)), ENOENT);  // gone
}

// A device that pins client memory and drops its pins only when the unmap asks, slowly.
class PinningDevice : public vfio::VfioDeviceOps {
 public:
  int open_device(const vfio::DmaContext& dma) override {
    access = dma.access;
    return 0;
  }
  void close_device() override { access.reset(); }
  long ioctl(unsigned long request, unsigned long arg) override {
    if (request != VFIO_DEVICE_GET_INFO) return -ENOTTY;
    auto* info = reinterpret_cast<vfio_device_info*>(arg);
    info->flags = VFIO_DEVICE_FLAGS_PCI;
    info->num_regions = 0;
    info->num_irqs = 0;
    return 0;
  }
  void dma_unmap(uint64_t iova, uint64_t length) override {
    std::this_thread::sleep_for(100ms);
    if (access && pinned && iova <= kIova && kIova < iova + length) {
      (void)access->unpin(kIova, 0x1000);
      pinned = false;
      unpinned_at = std::chrono::steady_clock::now();
    }
  }
  std::shared_ptr<iommu::Access> access;
  std::atomic<bool> pinned{false};
  std::chrono::steady_clock::time_point unpinned_at;
};

TEST_F(DmaTest, UnmapRepliesOnlyAfterTheDeviceDroppedItsPins) {
  auto dev = std::make_shared<PinningDevice>();
  start({}, dev);
  negotiate();
  SharedMemory ram(kWindow);
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, kWindow, kDmaRW), {ram.fd.get()}), 0);
  auto segs = dev->access->pin(kIova, 0x1000, iommu::kAccessWrite);
  ASSERT_TRUE(segs.ok());
  dev->pinned = true;
  (*segs)[0].host[0] = std::byte{0x42};  // the pin reaches the client's memory
  EXPECT_EQ(ram.bytes[0], 0x42);
  auto r = c().request(Command::kDmaUnmap, dma_unmap(kIova, kWindow));
  const auto replied = std::chrono::steady_clock::now();
  ASSERT_TRUE(r && !r->is_error());
  EXPECT_FALSE(dev->pinned);
  EXPECT_LE(dev->unpinned_at, replied);
  EXPECT_EQ(dev->access->pin_count(), 0u);
}

TEST_F(DmaTest, RemoteMemoryCannotBePinned) {
  auto dev = std::make_shared<PinningDevice>();
  start({}, dev);
  negotiate();
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, kWindow, kDmaRW)), 0);
  EXPECT_ERRNO(dev->access->pin(kIova, 0x1000, 0), EFAULT);
}

TEST_F(DmaTest, ADisconnectDuringDeviceDmaResetsTheDeviceAndDropsTheMaps) {
  start();
  negotiate();
  bus_master();
  MessageMemory mem = window_memory();
  mem.answer = false;  // a client that never answers DMA requests
  c().memory = &mem;
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, kWindow, kDmaRW)), 0);
  ASSERT_EQ(start_edu_dma(c(), kIova, devices::kEduDmaBufferBase, 4096, 1), 0);
  // Wait until the device asked, then leave without answering.
  EXPECT_TRUE(eventually([&] { return server_->stats().dma_requests != 0; }));
  ASSERT_EQ(server_->stats().dma_requests, 1u);
  c().close();
  EXPECT_TRUE(disconnected());
  EXPECT_EQ(server_->stats().disconnects, 1u);
  EXPECT_EQ(server_->stats().dma_failures, 1u);
  // The next client finds a fresh device: no window left, the DMA engine idle.
  reconnect();
  negotiate();
  EXPECT_EQ(c().errno_of(Command::kDmaUnmap, dma_unmap(kIova, kWindow)), ENOENT);
  EXPECT_EQ(c().read_reg(kBar0, reg::kDmaCmd, 8), 0u);
  // Another client while this one is connected is refused.
  UniqueFd other;
  RawClient extra = RawClient::pair(&other);
  EXPECT_ERRNO(server_->attach_client(id_, std::move(other)), EBUSY);
}

TEST_F(DmaTest, AClientThatStopsAnsweringDmaIsDisconnected) {
  ServerOptions o;
  o.dma_timeout_ms = 200;
  start(o);
  negotiate();
  bus_master();
  ASSERT_EQ(c().errno_of(Command::kDmaMap, dma_map(kIova, kWindow, kDmaRW)), 0);
  // Programmed (command 0 starts nothing), then started by a posted write: waiting for that
  // write's reply would let the client read (and drop) a DMA request that overtook the reply.
  ASSERT_EQ(start_edu_dma(c(), kIova, devices::kEduDmaBufferBase, 64, 0), 0);
  c().send(Command::kRegionWrite, region_access(kBar0, reg::kDmaCmd, 8, bytes_of(uint64_t{1})), {},
           vfio_user::kFlagNoReply);
  // The client reads nothing: the DMA request sits unanswered until the timeout.
  EXPECT_TRUE(disconnected());
  EXPECT_EQ(server_->stats().dma_failures, 1u);
  char b;
  // The server closed its end: after the pending DMA request, EOF.
  Message m;
  vfio_user::MessageReader rd;
  EXPECT_EQ(rd.read(c().fd(), m, 1000), vfio_user::MessageReader::Status::kMessage);
  EXPECT_EQ(m.hdr.command, static_cast<uint16_t>(Command::kDmaRead));
  EXPECT_EQ(::recv(c().fd(), &b, 1, 0), 0);
}

}  // namespace
}  // namespace uvfio::test
