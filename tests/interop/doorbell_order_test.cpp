// Doorbells (GET_REGION_IO_FDS ioeventfds) keep the order of the client's writes: a doorbell rung
// after a posted REGION_WRITE lands after it, although the two reach the server by different
// file descriptors.
#include <gtest/gtest.h>
#include <linux/vfio.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "interop_fixture.h"

namespace uvfio::interop {
namespace {

namespace vu = uvfio::vfio_user;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kBar0 = VFIO_PCI_BAR0_REGION_INDEX;
constexpr uint64_t kEduIrqStatus = 0x24;
constexpr uint64_t kEduIrqRaise = 0x60;
constexpr uint64_t kEduIrqAck = 0x64;
constexpr uint32_t kDoorbellValue = 0x10000;  // edu's doorbell datamatch (docs/vfio-user.md)

using DoorbellOrder = InteropTest;

TEST_F(DoorbellOrder, ADoorbellLandsAfterThePostedWritesSentBeforeIt) {
  RawClient c = client();
  enable_device(c);

  auto q = req::command(vu::Command::kDeviceGetRegionIoFds);
  q.put(vu::RegionIoFdsRequest{512, 0, kBar0, 0});
  auto r = c.request(std::move(q));
  ASSERT_TRUE(r.ok()) << errno_text(r.error());
  ASSERT_EQ(errno_text(reply_errno(*r)), "0") << server().log();
  const auto head = r->get<vu::RegionIoFdsRequest>(0);
  ASSERT_TRUE(head);
  ASSERT_GE(head->count, 1u);
  const size_t stride = (r->payload.size() - sizeof(vu::RegionIoFdsRequest)) / head->count;
  int bell = -1;
  for (uint32_t i = 0; i < head->count; ++i) {
    const auto e = r->get<vu::IoFdEntry>(sizeof(vu::RegionIoFdsRequest) + i * stride);
    ASSERT_TRUE(e);
    if (e->offset == kEduIrqRaise && e->fd_index < r->fds.size()) {
      EXPECT_EQ(e->datamatch, kDoorbellValue);
      bell = r->fds[e->fd_index].get();
    }
  }
  ASSERT_GE(bell, 0) << "no doorbell for edu's raise register";

  for (int round = 0; round < 20; ++round) {
    // Posted: clear every interrupt bit (more times than the server handles in one turn). Then
    // ring: raise the doorbell bit. In order, the bit ends up set; a doorbell performed before
    // the last clear would be wiped out by it.
    for (int i = 0; i < 200; ++i) {
      auto ack = req::region_write(kBar0, kEduIrqAck, 4, 0xffffffff, vu::kFlagNoReply);
      ack.hdr.msg_id = c.next_id();
      ASSERT_EQ(c.send(ack), 0);
    }
    const uint64_t one = 1;
    ASSERT_EQ(::write(bell, &one, sizeof one), static_cast<ssize_t>(sizeof one));

    // The doorbell is asynchronous (as a KVM ioeventfd is): poll until it shows.
    const auto deadline = Clock::now() + 5s;
    uint32_t status = 0;
    while (Clock::now() < deadline) {
      auto s = c.request(req::region_read(kBar0, kEduIrqStatus, 4));
      ASSERT_TRUE(s.ok()) << errno_text(s.error());
      ASSERT_EQ(errno_text(reply_errno(*s)), "0");
      status = req::read_value32(*s);
      if ((status & kDoorbellValue) != 0) break;
      std::this_thread::sleep_for(1ms);
    }
    ASSERT_NE(status & kDoorbellValue, 0u)
        << "round " << round << ": the doorbell was performed before the write sent ahead of it\n"
        << server().log();
  }
}

}  // namespace
}  // namespace uvfio::interop
