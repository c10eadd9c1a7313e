// The CLI's subcommands, one file each, and the help text they share.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "uvfio/vfio_user/server.h"

namespace CLI {
class App;
}

namespace uvfio::tools {

/// `uvfio demo` with its defaults: quick DMA so the run takes about a second.
inline constexpr const char* kDemoDefaultTarget = "emu:edu,dma_delay_us=0";

struct DemoOptions {
  std::string target = kDemoDefaultTarget;
  bool force_intx = false;
  unsigned latency_samples = 200;
  unsigned dma_rounds = 8;
  uint64_t dma_mask = 0x0fffffff;
  std::chrono::milliseconds timeout{5000};
};

/// `uvfio demo [TARGET]`: runs the edu driver example and prints its report. 0 when every step
/// passed, 1 otherwise (the report says which step failed and why).
int run_demo(const DemoOptions& options);

struct InfoOptions {
  std::string target;
  bool json = false;
};

/// `uvfio info TARGET [--json]`: opens the device and prints its info, regions, IRQs, decoded
/// config space and DMA space. 0 on success, 1 with a message on stderr if the target cannot be
/// opened or queried.
int run_info(const InfoOptions& options);

struct LsOptions {
  bool json = false;
  std::string root = "/";  // where sys/ and dev/ are: "/" but in tests
};

/// `uvfio ls [--json]`: the kernel VFIO paths the host offers, IOMMU groups with viability and
/// devices. 0 (also on a host without VFIO, which it reports).
int run_ls(const LsOptions& options);

struct BindOptions {
  std::string bdf;
  bool unbind = false;
  std::string root = "/";
};

/// `uvfio bind BDF` / `uvfio unbind BDF`: binds BDF's IOMMU group to vfio-pci, or restores the
/// drivers it had. 0 on success; 1 with a message saying what to do on stderr.
int run_bind(const BindOptions& options);

struct ServeOptions {
  vfio_user::ServerOptions server;
  bool no_twin_socket = false;
  bool no_write_multiple = false;
};

/// Registers `uvfio serve` and its options on `app` (DEVICE --socket PATH pairs are not CLI11
/// options: they come back as the subcommand's remaining() arguments).
CLI::App* add_serve_command(CLI::App& app, ServeOptions& options);
/// `uvfio serve ... DEVICE (--socket PATH | --fd N)...`: serves until SIGTERM/SIGINT. 0 on a
/// clean stop, 2 for bad arguments, 1 if a socket cannot be served.
int run_serve(const ServeOptions& options, const std::vector<std::string>& args);

/// The "Targets" help section: the target syntax, the transport options, and every emulated
/// device with its options (from the device registry).
std::string target_help();

/// Wraps every line of `text` longer than `width` at spaces; continuation lines of an indented line
/// keep its indentation plus two spaces. For help texts.
std::string wrap_text(std::string_view text, size_t width = 100);

}  // namespace uvfio::tools
