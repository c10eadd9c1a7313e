// Runs the scenarios on a provider under test (the kernel) and on a reference (the emulation),
// compares them step by step and tallies the results per kernel VFIO path. Single-threaded.
#pragma once

#include <array>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "known_difference.h"
#include "scenario.h"
#include "scenario_path.h"

namespace uvfio::conformance {

struct PathTally {
  int compared = 0;   // scenarios the subject could run on this path
  int identical = 0;  // ... whose every step gave the same answer on both providers
  int known = 0;      // ... that differ only by known differences
};

struct CompareReport {
  int subject_passed = 0;  // met every expectation (known differences aside)
  int subject_failed = 0;
  int reference_failed = 0;  // the reference missed an expectation or could not build the world
  int skipped = 0;           // the subject could not build the world
  int differing = 0;         // scenarios with a difference no table entry explains
  int unclassified = 0;      // scenarios without a path (scenario_path.cpp)
  std::array<PathTally, 3> paths{};  // indexed by Path

  PathTally& tally(Path p) { return paths[static_cast<size_t>(p)]; }
  const PathTally& tally(Path p) const { return paths[static_cast<size_t>(p)]; }
  /// Nothing failed, differed without explanation or went unclassified (skips are allowed).
  bool ok() const;
};

/// Runs every scenario in `scenarios` on `subject`, and those it could build on `reference`;
/// reports each problem through `print` as one line: "SKIP", "FAIL <name> [fn] (<provider>)",
/// "DIFF" (an unexplained difference) or "KNOWN" (a listed one), plus "SAME" lines if `verbose`.
CompareReport compare_all(Provider& subject, Provider& reference,
                          std::span<const Scenario* const> scenarios,
                          std::span<const KnownDifference> known,
                          const std::function<void(const std::string&)>& print, bool verbose);

/// The summary: "<subject> conformance (<path>): I/N identical[, K known differences]" for every
/// path with N > 0, in kAllPaths order.
std::vector<std::string> path_lines(const CompareReport& r, const std::string& subject_name);

}  // namespace uvfio::conformance
