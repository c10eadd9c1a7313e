// What the interop tests share: a started server process per test, raw clients that have done
// VERSION, and the check that a server still serves.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "raw_client.h"
#include "requests.h"
#include "server_process.h"
#include "uvfio/base/errno_name.h"

namespace uvfio::interop {

/// edu with instant DMA and factorial (the interop tests time the transport, not edu's delays).
inline constexpr const char* kFastEdu = "edu,dma_delay_us=0,factorial_delay_us=0";

/// The errno of a reply as a name ("EINVAL", "0"), for readable failures.
inline std::string errno_text(int e) {
  return e == 0 ? "0" : errno_name(e);
}

/// A memfd of `size` bytes (for fd-backed DMA maps); invalid on failure.
inline UniqueFd make_memfd(size_t size) {
  UniqueFd fd(::memfd_create("uvfio-interop", MFD_CLOEXEC));
  if (fd && ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) fd.reset();
  return fd;
}

/// Per test: one server process serving edu, stopped (and checked) at the end.
class InteropTest : public ::testing::Test {
 protected:
  void SetUp() override { start(); }

  void start(const std::string& device = kFastEdu, std::vector<std::string> extra = {}) {
    server_ = std::make_unique<ServerProcess>(device, std::move(extra));
    ASSERT_TRUE(server_->started()) << "uvfio serve did not come up:\n" << server_->log();
  }

  ServerProcess& server() { return *server_; }

  /// A new raw client that has negotiated VERSION.
  RawClient client() {
    auto c = RawClient::connect(server_->socket_path());
    EXPECT_TRUE(c.ok()) << "connect: " << errno_text(c.error());
    if (!c) throw std::runtime_error("connect failed");
    auto v = c->version();
    EXPECT_TRUE(v.ok()) << "VERSION: " << errno_text(v.error()) << "\n" << server_->log();
    if (v) {
      EXPECT_EQ(reply_errno(*v), 0) << server_->log();
    }
    return std::move(*c);
  }

  /// The server answers a well-formed command on `c` correctly: edu's vendor and device IDs
  /// from config space (readable whatever the Command register says).
  static void expect_serving(RawClient& c, const char* after) {
    auto r = c.request(req::region_read(VFIO_PCI_CONFIG_REGION_INDEX, 0, 4));
    ASSERT_TRUE(r.ok()) << "after " << after << ": " << errno_text(r.error());
    ASSERT_EQ(errno_text(reply_errno(*r)), "0") << "after " << after;
    EXPECT_EQ(req::read_value32(*r), 0x11e81234u) << "after " << after;
  }

  /// Command register: memory space and bus master on, as a driver does before MMIO and DMA.
  static void enable_device(RawClient& c) {
    auto r = c.request(req::region_write(VFIO_PCI_CONFIG_REGION_INDEX, 0x04, 2, 0x0006));
    ASSERT_TRUE(r.ok()) << errno_text(r.error());
    ASSERT_EQ(errno_text(reply_errno(*r)), "0");
  }

  /// A brand-new connection is served (the server survived whatever came before).
  void expect_new_client_served(const char* after) {
    RawClient c = client();
    expect_serving(c, after);
  }

  void TearDown() override {
    if (!server_) return;
    EXPECT_TRUE(server_->alive()) << "the server died during the test:\n" << server_->log();
    const ExitStatus st = server_->stop();
    EXPECT_TRUE(st.exited && st.code == 0) << "uvfio serve on SIGTERM: " << st.describe() << "\n"
                                           << server_->log();
    server_.reset();
  }

  std::unique_ptr<ServerProcess> server_;
};

}  // namespace uvfio::interop
