// `uvfio serve`: serves emulated devices over vfio-user, each on its own UNIX socket, from one
// event loop, until SIGTERM or SIGINT (the vfio-user backend conventions: no daemonizing, logs on
// stderr, the sockets removed on the way out).
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tools/uvfio/commands.h"
#include "uvfio/base/errno_name.h"
#include "uvfio/devices/registry.h"
#include "uvfio/pci/device_model.h"
#include "uvfio/vfio_user/server.h"

namespace uvfio::tools {
namespace {

// The server the signal handlers stop: stop() is async-signal-safe (an eventfd write).
vfio_user::Server* g_server = nullptr;

extern "C" void on_signal(int /*sig*/) {
  if (g_server != nullptr) g_server->stop();
}

struct Endpoint {
  std::string device;  // NAME[,opt=val...]
  std::optional<std::string> socket;
  std::optional<int> fd;
};

// Pairs each DEVICE with the --socket PATH or --fd N after it. Returns an error text, or "".
std::string parse_endpoints(const std::vector<std::string>& args, std::vector<Endpoint>* out) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string value;
    std::string opt;
    if (a.rfind("--socket", 0) == 0 || a.rfind("--fd", 0) == 0) {
      const size_t eq = a.find('=');
      opt = a.substr(0, eq);
      if (opt != "--socket" && opt != "--fd") return "unknown option " + a;
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return opt + " needs a value";
      }
      if (out->empty()) return fmt::format("{} {} before any DEVICE", opt, value);
      Endpoint& e = out->back();
      if (e.socket || e.fd) return "DEVICE " + e.device + " has two endpoints";
      if (value.empty()) return opt + " needs a value";
      if (opt == "--socket") {
        e.socket = value;
      } else {
        char* end = nullptr;
        const long n = std::strtol(value.c_str(), &end, 10);
        if (*end != '\0' || n < 0 || n > 1 << 20) return "--fd " + value + ": not an fd number";
        e.fd = static_cast<int>(n);
      }
      continue;
    }
    if (a.rfind('-', 0) == 0) {
      return "unknown option " + a + " (server options go before the first DEVICE)";
    }
    if (!out->empty() && !out->back().socket && !out->back().fd) {
      return "DEVICE " + out->back().device + " needs --socket PATH or --fd N";
    }
    out->push_back({a, std::nullopt, std::nullopt});
  }
  if (out->empty()) return "no DEVICE to serve";
  if (!out->back().socket && !out->back().fd) {
    return "DEVICE " + out->back().device + " needs --socket PATH or --fd N";
  }
  return "";
}

}  // namespace

CLI::App* add_serve_command(CLI::App& app, ServeOptions& o) {
  auto* serve = app.add_subcommand(
      "serve", "Serve emulated devices to other processes over vfio-user (UNIX sockets)");
  // Everything from the first DEVICE on is parsed here: DEVICE --socket PATH pairs may repeat.
  serve->prefix_command();
  serve
      ->add_option("--max-msg-fds", o.server.max_msg_fds,
                   "most fds the server accepts in one message")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  serve
      ->add_option("--max-data-xfer-size", o.server.max_data_xfer_size,
                   "largest REGION_READ/WRITE count the server accepts")
      ->check(CLI::Range(uint64_t{1}, uint64_t{64} << 20))
      ->capture_default_str();
  serve->add_option("--max-dma-maps", o.server.max_dma_maps, "most DMA windows per client")
      ->check(CLI::Range(1u, 65535u))
      ->capture_default_str();
  serve
      ->add_option("--pgsizes", o.server.pgsizes,
                   "page sizes DMA maps must align to (bitmask, smallest bit >= 4096)")
      ->capture_default_str();
  serve->add_flag("--no-twin-socket", o.no_twin_socket,
                  "never offer a twin socket (DMA requests then share the main socket)");
  serve->add_flag("--no-write-multiple", o.no_write_multiple,
                  "do not advertise REGION_WRITE_MULTI");
  serve
      ->add_option("--io-timeout-ms", o.server.io_timeout_ms,
                   "how long a client may stall mid-message or stop reading replies")
      ->check(CLI::Range(1, 3600000))
      ->capture_default_str();
  serve
      ->add_option("--dma-timeout-ms", o.server.dma_timeout_ms,
                   "how long the device waits for a client's DMA_READ/DMA_WRITE reply")
      ->check(CLI::Range(1, 3600000))
      ->capture_default_str();
  serve->footer(wrap_text(
      "Usage: uvfio serve [OPTIONS] DEVICE[,opt=val...] (--socket PATH | --fd N) [DEVICE "
      "(--socket PATH | --fd N)]...\n\n"
      "Serves each DEVICE (an emulated device from the list below, with its options, e.g. "
      "edu,dma_delay_us=0) on its own socket: --socket PATH creates a UNIX socket there (a stale "
      "one is replaced; it is removed on exit), --fd N serves on an inherited listening socket. "
      "Repeat DEVICE --socket PATH to serve several devices from one process; server options go "
      "before the first DEVICE. One client per device at a time: a second connection is "
      "accepted and closed at once (logged). A client that disconnects resets its device and "
      "drops its DMA maps; the socket then accepts the next client. Prints `uvfio serve: "
      "listening on PATH` on stderr once each socket accepts; runs in the foreground until "
      "SIGTERM or SIGINT, then removes its sockets and exits 0. Clients: `uvfio demo --target "
      "vfio-user:PATH`, `uvfio info vfio-user:PATH`, QEMU 10.1+ (-device "
      "vfio-user-pci,socket=PATH), libvfio-user clients.\n\n" +
      target_help()));
  return serve;
}

int run_serve(const ServeOptions& options, const std::vector<std::string>& args) {
  std::vector<Endpoint> endpoints;
  if (std::string err = parse_endpoints(args, &endpoints); !err.empty()) {
    std::fprintf(stderr, "uvfio serve: %s\n", err.c_str());
    return 2;
  }
  vfio_user::ServerOptions so = options.server;
  so.twin_socket = !options.no_twin_socket;
  so.write_multiple = !options.no_write_multiple;
  auto server = vfio_user::Server::create(so);
  if (!server) {
    std::fprintf(stderr, "uvfio serve: server options refused: %s\n",
                 errno_describe(server.error()).c_str());
    return 2;
  }
  for (const Endpoint& e : endpoints) {
    std::string why;
    auto model = devices::make_emulated_device_from_spec(e.device, &why);
    if (!model) {
      std::fprintf(stderr, "uvfio serve: DEVICE %s: %s\n", e.device.c_str(),
                   why.empty() ? errno_describe(model.error()).c_str() : why.c_str());
      return 2;
    }
    auto ops = pci::make_vfio_pci_device(*model);
    if (!ops) {
      std::fprintf(stderr, "uvfio serve: DEVICE %s: %s\n", e.device.c_str(),
                   errno_describe(ops.error()).c_str());
      return 1;
    }
    if (e.socket) {
      if (auto id = (*server)->serve_path(*ops, *e.socket); !id) {
        std::fprintf(stderr, "uvfio serve: cannot listen on %s: %s\n", e.socket->c_str(),
                     errno_describe(id.error()).c_str());
        return 1;
      }
      std::fprintf(stderr, "uvfio serve: listening on %s (%s)\n", e.socket->c_str(),
                   e.device.c_str());
    } else {
      if (auto id = (*server)->serve_listening_fd(*ops, UniqueFd(*e.fd)); !id) {
        std::fprintf(stderr, "uvfio serve: cannot serve on fd %d: %s\n", *e.fd,
                     errno_describe(id.error()).c_str());
        return 1;
      }
      std::fprintf(stderr, "uvfio serve: listening on fd %d (%s)\n", *e.fd, e.device.c_str());
    }
  }
  g_server = server->get();
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  const int rc = (*server)->run();
  // Restore the defaults before the server goes: a late signal must not reach a dead pointer.
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGINT, SIG_DFL);
  g_server = nullptr;
  const auto stats = (*server)->stats();
  server->reset();  // ends every session (devices reset) and removes the sockets
  std::fprintf(stderr, "uvfio serve: stopped (%llu clients served, %llu refused, %llu messages)\n",
               static_cast<unsigned long long>(stats.connections_accepted),
               static_cast<unsigned long long>(stats.connections_refused),
               static_cast<unsigned long long>(stats.messages));
  if (rc < 0) {
    std::fprintf(stderr, "uvfio serve: event loop failed: %s\n", errno_describe(-rc).c_str());
    return 1;
  }
  return 0;
}

}  // namespace uvfio::tools
