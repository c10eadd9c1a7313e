// uvfio: the command-line tool. Subcommands grow with the project (serve, info, bind, ls...).
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

#include "tools/uvfio/commands.h"
#include "uvfio/base/log.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"uvfio: VFIO in user space"};
  app.require_subcommand(1);
  std::string level;
  app.add_option("--log", level, "log level: error|warn|info|debug|trace")
      ->check([](const std::string& s) {
        uvfio::LogLevel l;
        return uvfio::parse_log_level(s, &l) ? std::string() : "unknown log level " + s;
      });

  auto* demo = app.add_subcommand("demo", "run the main demonstration (no hardware needed)");
  auto* version = app.add_subcommand("version", "print the version");

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
  if (*demo) return uvfio::tools::run_demo();
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
