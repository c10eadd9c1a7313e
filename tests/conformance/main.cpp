// uvfio-conformance: runs every scenario against a provider and prints one line per scenario and
// the summary "conformance (<provider>): N/N passed". Exit status 0 only if none failed.
//   uvfio-conformance [--provider emulated|kernel] [--filter SUBSTRING] [--verbose]
#include <cstdio>
#include <cstring>
#include <string>

#include "emulated_provider.h"
#include "kernel_provider.h"
#include "scenario.h"
#include "uvfio/base/log.h"

int main(int argc, char** argv) {
  using namespace uvfio::conformance;
  std::string provider_name = "emulated", filter;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--provider") && i + 1 < argc) {
      provider_name = argv[++i];
    } else if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) {
      filter = argv[++i];
    } else if (!std::strcmp(argv[i], "--verbose")) {
      verbose = true;
    } else {
      std::fprintf(stderr, "usage: %s [--provider emulated|kernel] [--filter TEXT] [--verbose]\n",
                   argv[0]);
      return 2;
    }
  }
  // The emulation logs what the kernel would (taint, no-IOMMU opens); keep the report readable.
  if (!verbose) uvfio::set_log_level(uvfio::LogLevel::kError);
  std::unique_ptr<Provider> provider;
  if (provider_name == "emulated") provider = make_emulated_provider();
  if (provider_name == "kernel") provider = make_kernel_provider();
  if (!provider) {
    std::fprintf(stderr, "unknown provider %s\n", provider_name.c_str());
    return 2;
  }
  int passed = 0, failed = 0, skipped = 0;
  for (const Scenario& s : all_scenarios()) {
    if (!filter.empty() && s.name.find(filter) == std::string::npos) continue;
    Outcome o = run(s, *provider);
    if (o.skipped) {
      ++skipped;
      std::printf("SKIP %s [%s]: %s\n", s.name.c_str(), s.kernel_function.c_str(),
                  o.detail.c_str());
    } else if (o.passed) {
      ++passed;
      if (verbose) std::printf("PASS %s [%s]\n", s.name.c_str(), s.kernel_function.c_str());
    } else {
      ++failed;
      std::printf("FAIL %s [%s]: %s\n", s.name.c_str(), s.kernel_function.c_str(),
                  o.detail.c_str());
    }
  }
  std::printf("conformance (%s): %d/%d passed%s\n", provider->name().c_str(), passed,
              passed + failed,
              skipped ? (", " + std::to_string(skipped) + " skipped").c_str() : "");
  return failed == 0 && skipped == 0 ? 0 : 1;
}
