// Step-by-step comparison of one scenario's outcomes on two providers (the kernel against the
// emulation in the VM harness): identical return values and errno, or a known difference.
#pragma once

#include <climits>
#include <span>
#include <vector>

#include "known_difference.h"
#include "scenario.h"

namespace uvfio::conformance {

/// Stands for "no result" when one outcome has fewer steps than the other.
inline constexpr long kNoResult = LONG_MIN;

/// Whether results `a` and `b` of a step expecting `expect` are the same answer: exactly equal,
/// except where the scenario's expectation accepts a class of values whose members mean nothing
/// to the uAPI: any fd (kAnyFd; the number depends on what else the process has open) and any
/// positive eventfd count (kPositive; how many signals coalesce before the read is timing).
/// An errno is always compared exactly.
bool same_answer(long expect, long a, long b);

struct StepDifference {
  size_t step;                   // 1-based
  long subject;                  // what the provider under test returned
  long reference;                // what the reference returned
  const KnownDifference* known;  // the table entry explaining it, or null
};

struct Comparison {
  std::vector<StepDifference> differences;
  bool identical() const { return differences.empty(); }
  /// True when every difference is a known one (also when there is none).
  bool explained() const;
};

/// Compares `subject` with `reference`, both outcomes of `s` (neither skipped); a difference is
/// known when `known` lists (scenario, step, subject's value).
Comparison compare(const Scenario& s, const Outcome& subject, const Outcome& reference,
                   std::span<const KnownDifference> known);

/// The 1-based steps where `o` missed the scenario's expectation, leaving out those a known
/// difference explains (a kernel that answers as listed is not failing the scenario).
std::vector<size_t> expectation_misses(const Scenario& s, const Outcome& o,
                                       std::span<const KnownDifference> known = {});

}  // namespace uvfio::conformance
