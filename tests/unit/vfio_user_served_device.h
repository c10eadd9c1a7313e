// A device served by uvfio's vfio-user server on a socket in a temp dir, the server's loop on a
// thread: what a test of the vfio-user client (the driver API's `vfio-user:` targets) talks to.
#pragma once

#include <gtest/gtest.h>
#include <cstdlib>

#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>

#include "uvfio/devices/registry.h"
#include "uvfio/pci/device_model.h"
#include "uvfio/vfio_user/server.h"

namespace uvfio::test {

/// Not copyable; stops the server and removes the temp dir when destroyed (or at stop()).
class ServedDevice {
 public:
  /// Serves `model` (nullptr: an edu with no DMA delay) with `options`.
  explicit ServedDevice(const vfio_user::ServerOptions& options = {},
                        std::shared_ptr<pci::DeviceModel> model = nullptr) {
    char tmpl[] = "/tmp/uvfio-vuc-XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    EXPECT_NE(d, nullptr);
    dir_ = d != nullptr ? d : "/tmp";
    path_ = dir_ + "/dev.sock";
    auto server = vfio_user::Server::create(options);
    EXPECT_TRUE(server.ok()) << server.error();
    server_ = std::move(*server);
    if (!model) {
      auto edu = devices::make_emulated_device("edu", {{"dma_delay_us", "0"}});
      EXPECT_TRUE(edu.ok());
      model = *edu;
    }
    auto ops = pci::make_vfio_pci_device(std::move(model));
    EXPECT_TRUE(ops.ok());
    auto id = server_->serve_path(*ops, path_);
    EXPECT_TRUE(id.ok()) << id.error();
    loop_ = std::thread([this] { server_->run(); });
  }
  ~ServedDevice() { stop(); }
  ServedDevice(const ServedDevice&) = delete;
  ServedDevice& operator=(const ServedDevice&) = delete;

  /// Stops the server (its clients see the socket close) and removes the socket's dir.
  void stop() {
    if (server_) {
      server_->stop();
      if (loop_.joinable()) loop_.join();
      server_.reset();
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& path() const { return path_; }
  /// The driver API target, with `opts` appended ("vfio-user:PATH[,OPTS]").
  std::string target(const std::string& opts = "") const {
    return "vfio-user:" + path_ + (opts.empty() ? "" : "," + opts);
  }
  vfio_user::Server& server() { return *server_; }

 private:
  std::string dir_;
  std::string path_;
  std::unique_ptr<vfio_user::Server> server_;
  std::thread loop_;
};

}  // namespace uvfio::test
