// What the vfio-user server tests share besides the raw client: region indexes, edu behind the
// vfio-pci core, DMA_MAP/DMA_UNMAP payloads, a connect to a socket path, waiting for a condition,
// and a fixture that serves one device to a raw client on a socketpair with the loop on a thread.
#pragma once

#include <gtest/gtest.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"
#include "uvfio/devices/edu.h"
#include "uvfio/pci/device_model.h"
#include "uvfio/vfio_user/server.h"
#include "vfio_user_server_client.h"

namespace uvfio::test {

using vfio_user::Server;
using vfio_user::ServerOptions;

inline constexpr uint32_t kBar0 = VFIO_PCI_BAR0_REGION_INDEX;
inline constexpr uint32_t kConfig = VFIO_PCI_CONFIG_REGION_INDEX;
inline constexpr uint32_t kDmaRW = vfio_user::kDmaMapRead | vfio_user::kDmaMapWrite;
/// The VERSION JSON most tests negotiate with.
inline constexpr const char* kVersionJson = R"({"capabilities":{"max_msg_fds":8}})";

/// edu's device model with no DMA delay (QEMU's 100 ms would slow every transfer down).
inline std::shared_ptr<pci::DeviceModel> make_edu_model() {
  devices::EduOptions o;
  o.dma_delay = std::chrono::microseconds(0);
  return *devices::make_edu_device(o);
}
/// `model` behind the vfio-pci core, as the server serves it.
inline std::shared_ptr<vfio::VfioDeviceOps> vfio_pci(std::shared_ptr<pci::DeviceModel> model) {
  return *pci::make_vfio_pci_device(std::move(model));
}
inline std::shared_ptr<vfio::VfioDeviceOps> make_edu() {
  return vfio_pci(make_edu_model());
}

inline std::vector<uint8_t> dma_map(uint64_t addr, uint64_t size, uint32_t flags,
                                    uint64_t offset = 0, uint32_t argsz = 32) {
  return bytes_of(vfio_user::DmaMap{argsz, flags, offset, addr, size});
}
inline std::vector<uint8_t> dma_unmap(uint64_t addr, uint64_t size, uint32_t flags = 0,
                                      uint32_t argsz = 24) {
  return bytes_of(vfio_user::DmaUnmap{argsz, flags, addr, size});
}

/// The address of a UNIX socket at `path` (cut to what sun_path holds).
inline sockaddr_un unix_address(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
  return sa;
}
/// A client socket connected to `path` (invalid if nobody listens there).
inline UniqueFd connect_to(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_un sa = unix_address(path);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return {};
  return fd;
}
/// A stream socket bound to `path`, not listening yet (invalid if the bind failed).
inline UniqueFd bound_to(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const sockaddr_un sa = unix_address(path);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) return {};
  return fd;
}

/// Whether `pred` holds within `timeout` (polled every millisecond).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

/// VERSION with `json`, which the server must accept.
inline void negotiate(RawClient& c, const std::string& json = kVersionJson) {
  auto r = c.version(json);
  ASSERT_TRUE(r && !r->is_error());
}

/// Starts one edu transfer (`cmd`: edu's DMA command register value): the first errno of the
/// four register writes, 0 when all were accepted.
inline int start_edu_dma(RawClient& c, uint64_t src, uint64_t dst, uint64_t count, uint64_t cmd) {
  namespace reg = devices::edu_reg;
  for (auto [off, value] : {std::pair{reg::kDmaSrc, src}, std::pair{reg::kDmaDst, dst},
                            std::pair{reg::kDmaCount, count}, std::pair{reg::kDmaCmd, cmd}}) {
    if (const int err = c.write_reg(kBar0, off, value, 8); err != 0) return err;
  }
  return 0;
}

/// Turns on memory decoding and bus mastering: the errno of the config write, 0 when done.
inline int enable_bus_master(RawClient& c) {
  return c.write_reg(kConfig, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
}

/// Triggers MSI vector 0 through `eventfd` (SET_IRQS): the errno of the reply, 0 when done.
inline int set_msi_eventfd(RawClient& c, int eventfd) {
  const std::vector<uint32_t> set = {20, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
                                     VFIO_PCI_MSI_IRQ_INDEX, 0, 1};
  std::vector<uint8_t> payload(set.size() * sizeof(uint32_t));
  std::memcpy(payload.data(), set.data(), payload.size());
  return c.errno_of(Command::kDeviceSetIrqs, payload, {eventfd});
}

/// A server serving one device to a raw client on a socketpair, its loop on a thread.
class ServedDeviceTest : public ::testing::Test {
 protected:
  /// Creates the server with `opts` and serves `device` to a new client; runs the loop.
  void serve(const vfio_user::ServerOptions& opts,
             std::shared_ptr<vfio::VfioDeviceOps> device = make_edu()) {
    auto server = vfio_user::Server::create(opts);
    ASSERT_TRUE(server.ok()) << errno_name(server.error());
    server_ = std::move(*server);
    UniqueFd theirs;
    client_.emplace(RawClient::pair(&theirs));
    auto id = server_->serve_connected_fd(std::move(device), std::move(theirs));
    ASSERT_TRUE(id.ok()) << errno_name(id.error());
    id_ = *id;
    loop_ = std::thread([this] { server_->run(); });
  }
  /// A new client of the device, after the last one left.
  void reconnect() {
    UniqueFd theirs;
    client_.emplace(RawClient::pair(&theirs));
    auto r = server_->attach_client(id_, std::move(theirs));
    ASSERT_TRUE(r.ok()) << errno_name(r.error());
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (loop_.joinable()) loop_.join();
    server_.reset();
  }
  RawClient& c() { return *client_; }
  void negotiate(const std::string& json = kVersionJson) { test::negotiate(c(), json); }
  void bus_master() { ASSERT_EQ(enable_bus_master(c()), 0); }
  /// Whether the server let go of the client within `timeout`.
  bool disconnected(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return eventually([&] { return !server_->client_connected(id_); }, timeout);
  }

  std::unique_ptr<vfio_user::Server> server_;
  std::optional<RawClient> client_;
  vfio_user::DeviceId id_ = 0;
  std::thread loop_;
};

}  // namespace uvfio::test
