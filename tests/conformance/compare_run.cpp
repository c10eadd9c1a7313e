#include "compare_run.h"

#include "comparison.h"

namespace uvfio::conformance {
namespace {

std::string result_text(long v) {
  return v == kNoResult ? "nothing" : describe(v);
}

std::string label(const Scenario& s) {
  return s.name + " [" + s.kernel_function + "]";
}

std::string step_text(const Scenario& s, size_t step) {
  return "step " + std::to_string(step) +
         (step <= s.steps.size() ? " (" + s.steps[step - 1].what + ")" : std::string());
}

// "FAIL <name> [fn] (<provider>): step N (...): expected X, got Y" for the first miss.
std::string failure_line(const Scenario& s, const Outcome& o, const std::string& provider,
                         size_t step) {
  const long got = step <= o.results.size() ? o.results[step - 1] : kNoResult;
  return "FAIL " + label(s) + " (" + provider + "): " + step_text(s, step) + ": expected " +
         describe(s.steps[step - 1].expect) + ", got " + result_text(got);
}

}  // namespace

bool CompareReport::ok() const {
  return subject_failed == 0 && reference_failed == 0 && differing == 0 && unclassified == 0;
}

CompareReport compare_all(Provider& subject, Provider& reference,
                          std::span<const Scenario* const> scenarios,
                          std::span<const KnownDifference> known,
                          const std::function<void(const std::string&)>& print, bool verbose) {
  CompareReport r;
  for (const Scenario* sp : scenarios) {
    const Scenario& s = *sp;
    const std::optional<Path> path = path_of(s);
    if (!path) {
      ++r.unclassified;
      print("FAIL " + label(s) + ": no kernel path for this scenario (tests/conformance/" +
            "scenario_path.cpp)");
      continue;
    }
    const Outcome a = run(s, subject);
    if (a.skipped) {
      ++r.skipped;
      print("SKIP " + label(s) + ": " + a.detail);
      continue;
    }
    PathTally& t = r.tally(*path);
    ++t.compared;
    const std::vector<size_t> misses = expectation_misses(s, a, known);
    if (misses.empty()) {
      ++r.subject_passed;
    } else {
      ++r.subject_failed;
      print(failure_line(s, a, subject.name(), misses.front()));
    }
    const Outcome b = run(s, reference);
    if (b.skipped) {
      // The reference is the emulation, which builds every world; not comparing would hide a gap.
      ++r.reference_failed;
      print("FAIL " + label(s) + " (" + reference.name() + "): " + b.detail);
      continue;
    }
    if (const auto ref_misses = expectation_misses(s, b); !ref_misses.empty()) {
      ++r.reference_failed;
      print(failure_line(s, b, reference.name(), ref_misses.front()));
    }
    const Comparison c = compare(s, a, b, known);
    for (const StepDifference& d : c.differences) {
      std::string line = (d.known ? "KNOWN " : "DIFF ") + label(s) + ": " + step_text(s, d.step) +
                         ": " + subject.name() + " " + result_text(d.subject) + ", " +
                         reference.name() + " " + result_text(d.reference);
      if (d.known)
        line += " (" + std::string(d.known->kernels) + ": " + std::string(d.known->reason) + ")";
      print(line);
    }
    if (c.identical()) {
      ++t.identical;
      if (verbose) print("SAME " + label(s) + " (" + std::string(path_name(*path)) + ")");
    } else if (c.explained()) {
      ++t.known;
    } else {
      ++r.differing;
    }
  }
  return r;
}

std::vector<std::string> path_lines(const CompareReport& r, const std::string& subject_name) {
  std::vector<std::string> out;
  for (Path p : kAllPaths) {
    const PathTally& t = r.tally(p);
    if (t.compared == 0) continue;
    std::string line = subject_name + " conformance (" + std::string(path_name(p)) +
                       "): " + std::to_string(t.identical) + "/" + std::to_string(t.compared) +
                       " identical";
    if (t.known > 0) {
      line += ", " + std::to_string(t.known) + " known difference" + (t.known > 1 ? "s" : "");
    }
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace uvfio::conformance
