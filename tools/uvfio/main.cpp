// uvfio: the command-line tool. `uvfio --help` lists the commands; `uvfio CMD --help` each one's
// options and the TARGET syntax (with the emulated devices from the registry).
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

#include "tools/uvfio/commands.h"
#include "uvfio/base/log.h"

namespace {

int run(int argc, char** argv) {
  using uvfio::tools::DemoOptions;
  using uvfio::tools::InfoOptions;
  const std::string targets = uvfio::tools::target_help();
  using uvfio::tools::wrap_text;

  CLI::App app{
      "uvfio: Linux VFIO in user space. Open devices through one driver API whatever serves "
      "them (emulated in this process, served by another process over vfio-user, or the "
      "kernel's vfio-pci) and inspect them."};
  app.require_subcommand(1);
  app.get_formatter()->column_width(34);
  app.footer(wrap_text("Run `uvfio COMMAND --help` for a command's options.\n\n" + targets));
  std::string level;
  app.add_option("--log", level,
                 "log verbosity: error, warn, info, debug or trace (default warn; the UVFIO_LOG "
                 "environment variable sets it too)")
      ->check([](const std::string& s) {
        uvfio::LogLevel l;
        return uvfio::parse_log_level(s, &l) ? std::string() : "unknown log level " + s;
      });

  DemoOptions demo_opts;
  auto timeout_ms = static_cast<unsigned>(demo_opts.timeout.count());
  auto* demo = app.add_subcommand(
      "demo",
      "Drive an edu device (emulated, served over vfio-user, or the kernel's) with the example "
      "driver and print a report");
  // The target is positional or --target: `uvfio demo --target vfio-user:/tmp/x.sock`.
  demo->add_option("target,--target", demo_opts.target,
                   fmt::format("the device to drive (default {}: edu with its DMA delay cut to 0 "
                               "so the demo is quick; e.g. vfio-user:/tmp/x.sock for an edu "
                               "served by `uvfio serve edu --socket /tmp/x.sock`)",
                               uvfio::tools::kDemoDefaultTarget));
  demo->add_flag("--intx", demo_opts.force_intx,
                 "use INTx (level, automasked, unmasked after each ack) even if MSI is available");
  demo->add_option("--latency-samples", demo_opts.latency_samples,
                   "interrupts (and eventfd ping-pongs) timed for the latency figure")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();
  demo->add_option("--dma-rounds", demo_opts.dma_rounds,
                   "DMA round trips (RAM -> device -> RAM) timed for the throughput figure")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  demo->add_option("--dma-mask", demo_opts.dma_mask,
                   "the device's DMA mask the driver maps its buffers under: must match the "
                   "target's edu dma_mask (default 0x0fffffff, 28 bits)");
  demo->add_option("--timeout-ms", timeout_ms,
                   "longest wait for any one completion (factorial, interrupt, DMA)")
      ->check(CLI::Range(1u, 3600000u))
      ->capture_default_str();
  demo->footer(wrap_text(
      "The report lists each step with the values it read: identification (config IDs, BAR0 "
      "id register), liveness, bus mastering, factorial polled and by interrupt (MSI, or INTx "
      "with unmask), interrupt latency (MMIO write -> eventfd wake-up) against a raw eventfd "
      "ping-pong floor measured in the same run, a verified DMA round trip RAM -> device -> RAM "
      "through the IOMMU with its throughput against memcpy, and a DMA aimed at an unmapped "
      "IOVA, which the IOMMU refuses (and counts, where the transport can tell: emulated "
      "devices; over vfio-user the server counts, so the report shows the memory untouched). Exit "
      "status 0 when every step passed, 1 "
      "otherwise (with the failing step on stderr).\n\n" +
      targets));

  InfoOptions info_opts;
  auto* info = app.add_subcommand(
      "info", "Show a device's info, regions, IRQs, decoded config space and DMA space");
  info->add_option("target,--target", info_opts.target,
                   "the device to inspect, e.g. emu:edu or vfio-user:/tmp/x.sock")
      ->required();
  info->add_flag("--json", info_opts.json,
                 "print the same facts as one JSON object (numbers as numbers, with names beside "
                 "flags, plus the raw config bytes as hex)");
  info->footer(wrap_text(
      "Prints what a driver sees: device info and flags; every region (size, offset, flags, "
      "capability chain, sparse mmap areas); every IRQ index (count, flags); config space "
      "decoded as `lspci -vv` would (IDs, class, Command/Status, BARs, interrupt pin, each "
      "capability with its fields, extended capabilities); and the DMA space (type, whether it "
      "translates, IOVA ranges, page sizes). Only reads; exit status 1 with a message naming "
      "the failed operation if TARGET cannot be opened or queried.\n\n" +
      targets));

  uvfio::tools::LsOptions ls_opts;
  auto* ls = app.add_subcommand(
      "ls", "List IOMMU groups and PCI devices, and which kernel VFIO paths this host offers");
  ls->add_flag("--json", ls_opts.json, "print the same facts as one JSON object");
  ls->add_option("--root", ls_opts.root,
                 "read sys/ and dev/ under this directory instead of / (for tests)");
  ls->footer(wrap_text(
      "Shows whether the host has the legacy container (/dev/vfio/vfio), iommufd (/dev/iommu) "
      "and no-IOMMU mode, then every IOMMU group: its type (or no-IOMMU), whether it is viable "
      "(every device bound to vfio-pci, pci-stub or a bridge driver, or to none), its VFIO file, "
      "and its devices with BDF, vendor:device, class and current driver. Works on a host "
      "without VFIO, saying so. Only reads."));

  uvfio::tools::BindOptions bind_opts;
  auto* bind = app.add_subcommand("bind", "Bind a PCI function (and its IOMMU group) to vfio-pci");
  bind->add_option("bdf", bind_opts.bdf, "the function, DDDD:BB:DD.F or BB:DD.F")->required();
  bind->add_option("--root", bind_opts.root, "sysfs root other than / (for tests)");
  bind->footer(wrap_text(
      "Through driver_override, the old driver's unbind and drivers_probe, for every function of "
      "the group that needs it (bridges stay on their driver: they do not block viability; a "
      "bridge as BDF is refused). The previous driver is remembered under /run/uvfio/bind/ and "
      "`uvfio unbind` restores it. Needs root and the vfio-pci module."));
  uvfio::tools::BindOptions unbind_opts;
  unbind_opts.unbind = true;
  auto* unbind = app.add_subcommand(
      "unbind", "Give a PCI function (and its IOMMU group) back to the drivers it had before bind");
  unbind->add_option("bdf", unbind_opts.bdf, "the function, DDDD:BB:DD.F or BB:DD.F")->required();
  unbind->add_option("--root", unbind_opts.root, "sysfs root other than / (for tests)");
  unbind->footer(wrap_text(
      "Unbinds each function of the group from vfio-pci, clears driver_override and re-probes, "
      "then binds the recorded previous driver explicitly if the probe picked another. Waits for "
      "VFIO users of the device to close it (the kernel asks them to). Needs root."));

  uvfio::tools::ServeOptions serve_opts;
  auto* serve = uvfio::tools::add_serve_command(app, serve_opts);

  auto* version = app.add_subcommand("version", "Print uvfio's version");

  CLI11_PARSE(app, argc, argv);
  if (!level.empty()) {
    uvfio::LogLevel l;
    uvfio::parse_log_level(level, &l);
    uvfio::set_log_level(l);
  }
  if (*version) {
    std::puts("uvfio " UVFIO_VERSION);
    return 0;
  }
  if (*demo) {
    demo_opts.timeout = std::chrono::milliseconds(timeout_ms);
    return uvfio::tools::run_demo(demo_opts);
  }
  if (*info) return uvfio::tools::run_info(info_opts);
  if (*ls) return uvfio::tools::run_ls(ls_opts);
  if (*bind) return uvfio::tools::run_bind(bind_opts);
  if (*unbind) return uvfio::tools::run_bind(unbind_opts);
  if (*serve) return uvfio::tools::run_serve(serve_opts, serve->remaining());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "uvfio: %s\n", e.what());
    return 1;
  }
}
