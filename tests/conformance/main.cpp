// uvfio-conformance: runs every scenario against a provider and prints one line per problem and
// the summary "conformance (<provider>): N/N passed".
//   uvfio-conformance [--provider emulated|kernel] [--compare] [--filter SUBSTRING] [--verbose]
// --compare also runs each scenario the provider could run on the emulation (in this process),
// compares the two step by step (return values and errno) and prints one line per kernel VFIO
// path it reached: "<provider> conformance (legacy|iommufd|noiommu): N/N identical".
// Exit status: 0 everything ran and passed (and was identical), 1 something failed or differed,
// 2 usage, 3 nothing failed but something was skipped (a machine without some path).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "compare_run.h"
#include "emulated_provider.h"
#include "kernel_provider.h"
#include "scenario.h"
#include "uvfio/base/log.h"

namespace {

using namespace uvfio::conformance;

constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitSkipped = 3;

std::unique_ptr<Provider> make_provider(const std::string& name) {
  if (name == "emulated") return make_emulated_provider();
  if (name == "kernel") return make_kernel_provider();
  return nullptr;
}

std::string skipped_suffix(int skipped) {
  return skipped ? ", " + std::to_string(skipped) + " skipped" : std::string();
}

int run_alone(Provider& provider, const std::vector<const Scenario*>& scenarios, bool verbose) {
  int passed = 0, failed = 0, skipped = 0;
  for (const Scenario* sp : scenarios) {
    const Scenario& s = *sp;
    Outcome o = run(s, provider);
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
  std::printf("conformance (%s): %d/%d passed%s\n", provider.name().c_str(), passed,
              passed + failed, skipped_suffix(skipped).c_str());
  if (failed) return kExitFailed;
  return skipped ? kExitSkipped : 0;
}

int run_compared(Provider& subject, const std::vector<const Scenario*>& scenarios, bool verbose) {
  auto reference = make_emulated_provider();
  const CompareReport r = compare_all(
      subject, *reference, scenarios, known_differences(),
      [](const std::string& line) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);  // the VM harness reads the serial console as it goes
      },
      verbose);
  const int ran = r.subject_passed + r.subject_failed;
  std::printf("conformance (%s): %d/%d passed%s\n", subject.name().c_str(), r.subject_passed, ran,
              skipped_suffix(r.skipped).c_str());
  std::printf("conformance (%s): %d/%d passed (the scenarios %s ran)\n", reference->name().c_str(),
              ran - r.reference_failed, ran, subject.name().c_str());
  for (const std::string& line : path_lines(r, subject.name())) std::printf("%s\n", line.c_str());
  if (!r.ok()) return kExitFailed;
  return r.skipped ? kExitSkipped : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string provider_name = "emulated", filter;
  bool verbose = false, compare = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--provider") && i + 1 < argc) {
      provider_name = argv[++i];
    } else if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) {
      filter = argv[++i];
    } else if (!std::strcmp(argv[i], "--verbose")) {
      verbose = true;
    } else if (!std::strcmp(argv[i], "--compare")) {
      compare = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--provider emulated|kernel] [--compare] [--filter TEXT] "
                   "[--verbose]\n",
                   argv[0]);
      return kExitUsage;
    }
  }
  // The emulation logs what the kernel would (taint, no-IOMMU opens); keep the report readable.
  if (!verbose) uvfio::set_log_level(uvfio::LogLevel::kError);
  std::unique_ptr<Provider> provider = make_provider(provider_name);
  if (!provider) {
    std::fprintf(stderr, "unknown provider %s\n", provider_name.c_str());
    return kExitUsage;
  }
  std::vector<const Scenario*> scenarios;
  for (const Scenario& s : all_scenarios()) {
    if (filter.empty() || s.name.find(filter) != std::string::npos) scenarios.push_back(&s);
  }
  return compare ? run_compared(*provider, scenarios, verbose)
                 : run_alone(*provider, scenarios, verbose);
}
