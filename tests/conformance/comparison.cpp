#include "comparison.h"

#include <algorithm>

namespace uvfio::conformance {

bool same_answer(long expect, long a, long b) {
  if (a == b) return true;
  if (expect == Step::kAnyFd) return a >= 0 && b >= 0;
  if (expect == Step::kPositive) return a > 0 && b > 0;
  return false;
}

bool Comparison::explained() const {
  return std::all_of(differences.begin(), differences.end(),
                     [](const StepDifference& d) { return d.known != nullptr; });
}

Comparison compare(const Scenario& s, const Outcome& subject, const Outcome& reference,
                   std::span<const KnownDifference> known) {
  Comparison c;
  const size_t n = std::max({s.steps.size(), subject.results.size(), reference.results.size()});
  for (size_t i = 0; i < n; ++i) {
    const long a = i < subject.results.size() ? subject.results[i] : kNoResult;
    const long b = i < reference.results.size() ? reference.results[i] : kNoResult;
    // A step past the scenario's end has no expectation: only equality counts there.
    const long expect = i < s.steps.size() ? s.steps[i].expect : 0;
    if (a != kNoResult && b != kNoResult && same_answer(expect, a, b)) continue;
    c.differences.push_back({i + 1, a, b, find_known_difference(known, s.name, i + 1, a)});
  }
  return c;
}

std::vector<size_t> expectation_misses(const Scenario& s, const Outcome& o,
                                       std::span<const KnownDifference> known) {
  std::vector<size_t> misses;
  for (size_t i = 0; i < s.steps.size(); ++i) {
    if (i >= o.results.size()) {
      misses.push_back(i + 1);
      continue;
    }
    if (result_matches(s.steps[i].expect, o.results[i])) continue;
    if (find_known_difference(known, s.name, i + 1, o.results[i])) continue;
    misses.push_back(i + 1);
  }
  return misses;
}

}  // namespace uvfio::conformance
