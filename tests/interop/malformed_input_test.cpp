// Malformed input from a raw client against a `uvfio serve` process: each item of issue 5's list
// gets its errno (an error reply, header only, echoing the id and command), and the server keeps
// serving — on the same connection where the stream is still framed, else on a new one.
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>

#include <cstring>
#include <string>
#include <vector>

#include "interop_fixture.h"

namespace uvfio::interop {
namespace {

namespace vu = uvfio::vfio_user;
using vu::Command;
using vu::Message;

constexpr uint32_t kBar0 = VFIO_PCI_BAR0_REGION_INDEX;
constexpr uint64_t kBar0Size = uint64_t{1} << 20;
constexpr uint64_t kIova = 0x100000;
constexpr uint32_t kEventfdTrigger = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
constexpr uint32_t kNoneTrigger = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;

class MalformedInput : public InteropTest {
 protected:
  void SetUp() override {
    InteropTest::SetUp();
    c_.emplace(client());
  }

  // Sends `m`; expects an error reply with `err` (header only, same id and command), then that
  // the same connection still serves.
  void expect_errno(Message m, int err, const std::string& what) {
    const uint16_t cmd = m.hdr.command;
    auto r = c_->request(std::move(m));
    ASSERT_TRUE(r.ok()) << what << ": no reply (" << errno_text(r.error()) << ")\n"
                        << server().log();
    EXPECT_EQ(errno_text(reply_errno(*r)), errno_text(err)) << what;
    EXPECT_EQ(r->hdr.command, cmd) << what;
    if (err != 0) {
      EXPECT_TRUE(r->is_error()) << what;
      EXPECT_TRUE(r->payload.empty()) << what << ": an error reply is header only";
    }
    expect_serving(*c_, what.c_str());
  }

  // A header whose msg_size breaks framing: the server answers it EINVAL by its id (the header
  // is all it has), drops what it buffered, and reads the next message cleanly.
  void expect_framing_error(const std::vector<uint8_t>& bytes, uint16_t id,
                            const std::string& what) {
    ASSERT_EQ(c_->send_bytes(bytes), 0) << what;
    auto got = c_->receive(5s);
    ASSERT_TRUE(got.has_value()) << what << ": no error reply\n" << server().log();
    EXPECT_EQ(got->hdr.msg_id, id) << what;
    EXPECT_TRUE(got->is_reply()) << what;
    EXPECT_EQ(errno_text(reply_errno(*got)), "EINVAL") << what;
    expect_serving(*c_, what.c_str());
  }

  std::optional<RawClient> c_;
};

std::vector<uint8_t> header_bytes(uint16_t id, uint16_t cmd, uint32_t msg_size, uint32_t flags) {
  vu::Header h{};
  h.msg_id = id;
  h.command = cmd;
  h.msg_size = msg_size;
  h.flags = flags;
  std::vector<uint8_t> b(sizeof h);
  std::memcpy(b.data(), &h, sizeof h);
  return b;
}

TEST_F(MalformedInput, TruncatedHeaderThenDisconnect) {
  // Ten bytes of a header and the client is gone: nothing to answer, nothing to leak.
  auto bytes = header_bytes(1, 4, 32, 0);
  bytes.resize(10);
  ASSERT_EQ(c_->send_bytes(bytes), 0);
  c_->close();
  expect_new_client_served("a truncated header");
}

TEST_F(MalformedInput, MsgSizeSmallerThanAHeader) {
  expect_framing_error(header_bytes(0x4242, 4, 8, 0), 0x4242, "msg_size 8");
}

TEST_F(MalformedInput, MsgSizeBeyondAnyMessage) {
  // Beyond a REGION_WRITE of max_data_xfer_size (1 MiB) with both headers.
  expect_framing_error(header_bytes(0x4343, 4, (1u << 20) + 64, 0), 0x4343, "msg_size 1 MiB + 64");
  expect_framing_error(header_bytes(0x4444, 4, 64u << 20, 0), 0x4444, "msg_size 64 MiB");
}

TEST_F(MalformedInput, SizeSmallerThanTheCommandsBody) {
  // REGION_READ needs 16 bytes of access header; DEVICE_GET_INFO 16.
  Message m = req::region_read(kBar0, 0, 4);
  m.payload.resize(8);
  expect_errno(std::move(m), EINVAL, "REGION_READ with an 8-byte body");
  m = req::device_info();
  m.payload.resize(4);
  expect_errno(std::move(m), EINVAL, "DEVICE_GET_INFO with a 4-byte body");
  m = req::dma_map(kIova, 0x1000);
  m.payload.resize(24);
  expect_errno(std::move(m), EINVAL, "DMA_MAP with a 24-byte body");
}

TEST_F(MalformedInput, SizeLargerThanTheCommandsBody) {
  // REGION_WRITE: the data must be exactly `count` bytes.
  enable_device(*c_);
  Message m = req::region_write(kBar0, 0x04, 4, 1);
  m.payload.resize(m.payload.size() + 4);
  expect_errno(std::move(m), EINVAL, "REGION_WRITE with 4 bytes more than its count");
  m = req::region_write(kBar0, 0x04, 4, 1);
  m.payload.resize(m.payload.size() - 2);
  expect_errno(std::move(m), EINVAL, "REGION_WRITE with 2 bytes less than its count");
  // REGION_READ carries no data.
  m = req::region_read(kBar0, 0, 4);
  m.payload.resize(m.payload.size() + 4);
  expect_errno(std::move(m), EINVAL, "REGION_READ with data");
  // DMA_MAP's body is exactly its 32-byte struct.
  m = req::dma_map(kIova, 0x1000);
  m.payload.resize(40);
  expect_errno(std::move(m), EINVAL, "DMA_MAP with 8 trailing bytes");
}

TEST_F(MalformedInput, WrongArgsz) {
  expect_errno(req::device_info(8), EINVAL, "DEVICE_GET_INFO argsz 8");
  expect_errno(req::region_info(kBar0, 16), EINVAL, "GET_REGION_INFO argsz 16");
  Message m = req::dma_map(kIova, 0x1000);
  m.payload[0] = 24;  // DMA_MAP's argsz is its own size, 32
  expect_errno(std::move(m), EINVAL, "DMA_MAP argsz 24");
  m = req::set_irqs(kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1);
  m.payload[0] = 16;  // SET_IRQS's argsz covers the struct and its data: 20 here
  expect_errno(std::move(m), EINVAL, "SET_IRQS argsz 16");
}

TEST_F(MalformedInput, UnknownCommand) {
  // EINVAL as libvfio-user answers (QEMU's client would say ENOSYS; docs/vfio-user.md).
  expect_errno(req::command(static_cast<Command>(99)), EINVAL, "command 99");
  // DIRTY_PAGES (14) left the protocol with migration v2; 0 was never a command; DMA_READ is
  // server-to-client only.
  Message m = req::command(Command::kDirtyPages);
  m.payload.resize(8);
  expect_errno(std::move(m), EINVAL, "DIRTY_PAGES");
  expect_errno(req::command(static_cast<Command>(0)), EINVAL, "command 0");
  m = req::command(Command::kDmaRead);
  m.put(vu::DmaAccess{0, 4});
  expect_errno(std::move(m), EINVAL, "DMA_READ sent to the server");
}

TEST_F(MalformedInput, ReplyFlaggedMessageIsNotACommand) {
  // A reply to nothing the server asked: answered EINVAL (an error reply with its id), and the
  // server carries on.
  Message m = req::device_info();
  m.hdr.flags = vu::kTypeReply;
  expect_errno(std::move(m), EINVAL, "a stray reply");
  // Type values other than command and reply, and reserved flag bits, are refused.
  m = req::device_info();
  m.hdr.flags = 7;
  expect_errno(std::move(m), EINVAL, "message type 7");
  m = req::device_info();
  m.hdr.flags = 1u << 8;
  expect_errno(std::move(m), EINVAL, "reserved flag bit 8");
  m = req::device_info();
  m.hdr.flags = vu::kFlagError;
  expect_errno(std::move(m), EINVAL, "a command with the ERROR flag");
}

TEST_F(MalformedInput, FdsOnACommandThatTakesNone) {
  const int fds_before = server().open_fds();
  Message m = req::device_info();
  m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  expect_errno(std::move(m), EINVAL, "DEVICE_GET_INFO with 2 fds");
  m = req::region_read(VFIO_PCI_CONFIG_REGION_INDEX, 0, 4);
  m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  expect_errno(std::move(m), EINVAL, "REGION_READ with an fd");
  m = req::set_irqs(kNoneTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1);
  m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  expect_errno(std::move(m), EINVAL, "SET_IRQS DATA_NONE with an fd");
  // The refused fds were closed, not kept.
  EXPECT_EQ(server().open_fds(), fds_before);
}

TEST_F(MalformedInput, MissingFdsWhereRequired) {
  // Eventfds for a range travel one per vector: two vectors, one fd.
  Message m = req::set_irqs(kEventfdTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2);
  m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  expect_errno(std::move(m), EINVAL, "SET_IRQS EVENTFD count 2 with one fd");
  m = req::set_irqs(kEventfdTrigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1);
  m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  expect_errno(std::move(m), EINVAL, "SET_IRQS EVENTFD count 1 with two fds");
}

TEST_F(MalformedInput, CountBeyondMaxDataXferSize) {
  enable_device(*c_);
  // The server's limit is its VERSION reply's max_data_xfer_size (1 MiB by default).
  expect_errno(req::region_read(kBar0, 0, (1u << 20) + 4), EINVAL, "REGION_READ of 1 MiB + 4");
  Message m = req::command(Command::kRegionWrite);
  m.put(vu::RegionAccess{0, kBar0, (1u << 20) + 4});
  expect_errno(std::move(m), EINVAL, "REGION_WRITE claiming 1 MiB + 4 without the data");
}

TEST_F(MalformedInput, RegionOffsetsPastTheEnd) {
  enable_device(*c_);
  expect_errno(req::region_read(kBar0, kBar0Size, 4), EINVAL, "BAR0 read at its size");
  expect_errno(req::region_read(kBar0, kBar0Size - 2, 4), EINVAL, "BAR0 read across its end");
  expect_errno(req::region_read(kBar0, UINT64_MAX - 1, 4), EINVAL, "BAR0 read wrapping 2^64");
  expect_errno(req::region_write(kBar0, kBar0Size, 4, 0), EINVAL, "BAR0 write at its size");
  expect_errno(req::region_read(VFIO_PCI_CONFIG_REGION_INDEX, 256, 4), EINVAL,
               "config read past 256 bytes");
  expect_errno(req::region_read(VFIO_PCI_NUM_REGIONS, 0, 4), EINVAL, "region 9");
  expect_errno(req::region_read(UINT32_MAX, 0, 4), EINVAL, "region 2^32-1");
  expect_errno(req::region_info(VFIO_PCI_NUM_REGIONS), EINVAL, "GET_REGION_INFO region 9");
}

TEST_F(MalformedInput, OverlappingDmaMaps) {
  UniqueFd mem = make_memfd(0x8000);
  ASSERT_TRUE(mem);
  Message m = req::dma_map(kIova, 0x4000);
  m.fds.push_back(mem.dup());
  expect_errno(std::move(m), 0, "the first DMA_MAP");
  m = req::dma_map(kIova + 0x1000, 0x1000, 0x1000);
  m.fds.push_back(mem.dup());
  expect_errno(std::move(m), EEXIST, "a DMA_MAP inside a mapped one");
  m = req::dma_map(kIova - 0x1000, 0x2000);
  expect_errno(std::move(m), EEXIST, "a DMA_MAP (no fd) across a mapped one's start");
  m = req::dma_map(kIova + 0x3000, 0x2000);
  expect_errno(std::move(m), EEXIST, "a DMA_MAP across a mapped one's end");
  // Adjacent is fine.
  m = req::dma_map(kIova + 0x4000, 0x1000);
  expect_errno(std::move(m), 0, "an adjacent DMA_MAP");
}

TEST_F(MalformedInput, DmaMapArgumentsOutOfRange) {
  UniqueFd mem = make_memfd(0x4000);
  ASSERT_TRUE(mem);
  // A window the fd does not fully back: the memory is not there, as type1 answers a map of
  // unmapped process memory (EFAULT) — and never a mapping the device would SIGBUS on.
  Message m = req::dma_map(kIova, 0x1000, 0x4000);  // starts at the file's end
  m.fds.push_back(mem.dup());
  expect_errno(std::move(m), EFAULT, "a DMA_MAP past the end of its fd");
  m = req::dma_map(kIova, 0x2000, 0x3000);  // runs past the file's end
  m.fds.push_back(mem.dup());
  expect_errno(std::move(m), EFAULT, "a DMA_MAP across the end of its fd");
  m = req::dma_map(kIova, 0x1800);
  expect_errno(std::move(m), EINVAL, "a DMA_MAP of 1.5 pages");
  m = req::dma_map(UINT64_MAX - 0xfff, 0x2000);
  expect_errno(std::move(m), EINVAL, "a DMA_MAP wrapping 2^64");
  m = req::dma_map(kIova, 0);
  expect_errno(std::move(m), EINVAL, "a DMA_MAP of 0 bytes");
  m = req::dma_map(kIova, 0x1000, 0, 0x80);
  expect_errno(std::move(m), EINVAL, "a DMA_MAP with an unknown flag");
}

TEST_F(MalformedInput, UnmapOfAnUnknownRange) {
  UniqueFd mem = make_memfd(0x4000);
  ASSERT_TRUE(mem);
  Message m = req::dma_map(kIova, 0x4000);
  m.fds.push_back(mem.dup());
  expect_errno(std::move(m), 0, "DMA_MAP");
  expect_errno(req::dma_unmap(kIova + 0x10000, 0x1000), ENOENT, "unmap of nothing mapped");
  expect_errno(req::dma_unmap(kIova, 0x1000), ENOENT, "unmap of part of a map");
  expect_errno(req::dma_unmap(kIova, 0x4000, vu::kDmaUnmapAll), EINVAL,
               "UNMAP_ALL with an address");
  expect_errno(req::dma_unmap(kIova, 0x4000, 0x80), EINVAL, "unmap with an unknown flag");
  // The exact range still unmaps, once.
  expect_errno(req::dma_unmap(kIova, 0x4000), 0, "the exact unmap");
  expect_errno(req::dma_unmap(kIova, 0x4000), ENOENT, "the same unmap again");
}

TEST_F(MalformedInput, SetIrqsBeyondTheVectorCount) {
  // edu: one INTx, one MSI vector, no MSI-X.
  Message m = req::set_irqs(kEventfdTrigger, VFIO_PCI_MSI_IRQ_INDEX, 0, 2);
  m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  m.fds.emplace_back(::eventfd(0, EFD_CLOEXEC));
  expect_errno(std::move(m), EINVAL, "MSI vectors 0-1 of 1");
  expect_errno(req::set_irqs(kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, 1, 1), EINVAL,
               "MSI vector 1 of 1");
  expect_errno(req::set_irqs(kNoneTrigger, VFIO_PCI_MSI_IRQ_INDEX, UINT32_MAX, 2), EINVAL,
               "start + count wrapping 2^32");
  expect_errno(req::set_irqs(kNoneTrigger, VFIO_PCI_NUM_IRQS, 0, 1), EINVAL, "IRQ index 5");
  expect_errno(req::set_irqs(kNoneTrigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1), EINVAL,
               "MSI-X, which edu lacks");
  expect_errno(
      req::set_irqs(VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
                    VFIO_PCI_INTX_IRQ_INDEX, 0, 1),
      EINVAL, "two DATA types");
}

TEST_F(MalformedInput, FirstMessageMustBeVersion) {
  c_.reset();  // the fixture's client leaves; a new one skips VERSION
  auto c = RawClient::connect(server().socket_path());
  ASSERT_TRUE(c.ok());
  auto r = c->request(req::device_info());
  ASSERT_TRUE(r.ok()) << errno_text(r.error()) << "\n" << server().log();
  EXPECT_EQ(errno_text(reply_errno(*r)), "EINVAL");
}

}  // namespace
}  // namespace uvfio::interop
