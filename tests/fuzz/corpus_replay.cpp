// Replays the committed seed corpus (or any files and directories named on the command line)
// through the fuzzer's harness without libFuzzer, so every ordinary build — GCC, ASan, TSan —
// runs each seed as a regression test.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "server_harness.h"
#include "uvfio/base/log.h"

namespace {

std::vector<uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  uvfio::set_log_level(uvfio::LogLevel::kError);
  std::vector<std::filesystem::path> files;
  bool expect_coverage = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--expect-coverage") {
      expect_coverage = true;
      continue;
    }
    const std::filesystem::path p(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(p)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
    } else {
      files.push_back(p);
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(
        stderr,
        "corpus_replay: no inputs (usage: corpus_replay [--expect-coverage] DIR|FILE...)\n");
    return 1;
  }
  auto& harness = uvfio::fuzz::ServerHarness::instance();
  for (const auto& f : files) {
    const std::vector<uint8_t> bytes = read_file(f);
    if (std::getenv("UVFIO_FUZZ_TRACE") != nullptr) {
      std::fprintf(stderr, "%s\n", f.filename().c_str());
    }
    harness.run(bytes);
  }
  const auto& t = harness.totals();
  std::printf(
      "corpus_replay: %zu inputs, %llu sessions: %llu replies (%llu errors), %llu DMA requests, "
      "%llu fds received; every invariant held\n",
      files.size(), static_cast<unsigned long long>(t.sessions),
      static_cast<unsigned long long>(t.replies), static_cast<unsigned long long>(t.error_replies),
      static_cast<unsigned long long>(t.dma_requests),
      static_cast<unsigned long long>(t.fds_received));
  // --expect-coverage: the seeds must reach the server's handlers (a corpus the server rejects
  // wholesale, or a harness that never gets replies, would hold every invariant vacuously). DMA
  // requests come from edu's worker thread and are not counted here: on a loaded machine they
  // may arrive after a session's settling time (the interop tests check that path).
  if (expect_coverage && (t.replies <= 2 * t.error_replies || t.fds_received == 0)) {
    std::fprintf(stderr,
                 "corpus_replay: the corpus does not reach the server (most replies must succeed "
                 "and fds must come back)\n");
    return 1;
  }
  return 0;
}
