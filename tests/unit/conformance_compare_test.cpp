// The cross-provider comparison of the VM harness: every scenario has a kernel path, results are
// compared exactly (fd numbers and eventfd counts aside), a listed kernel-version difference is
// reported as KNOWN and never as identical, and anything else is a DIFF that fails the run.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <set>

#include "compare_run.h"
#include "comparison.h"
#include "emulated_provider.h"
#include "scenario_path.h"
#include "steps.h"
#include "uvfio/base/log.h"
#include "uvfio/vfio/vfio_system.h"

using namespace uvfio::conformance;
using namespace uvfio::conformance::steps;

namespace {

Scenario two_steps(std::string name, long expect2) {
  return {std::move(name),
          "vfio_group_fops_open",
          Setup::kViableGroup,
          {open_group(), open_group("again", 1, expect2)}};
}

Outcome outcome(std::vector<long> results) {
  Outcome o;
  o.passed = true;
  o.results = std::move(results);
  return o;
}

// A VFIO system that answers like the one it wraps, except that VFIO_GET_API_VERSION says 1: a
// "kernel" that differs from the emulation on one call.
class OtherVersionSystem : public uvfio::vfio::VfioSystem {
 public:
  explicit OtherVersionSystem(uvfio::vfio::VfioSystem& inner) : inner_(inner) {}
  int open(const std::string& path, int flags) override { return inner_.open(path, flags); }
  int close(int fd) override { return inner_.close(fd); }
  long ioctl(int fd, unsigned long request, unsigned long arg) override {
    const long r = inner_.ioctl(fd, request, arg);
    return request == VFIO_GET_API_VERSION && r == VFIO_API_VERSION ? 1 : r;
  }
  ssize_t pread(int fd, void* buf, size_t count, uint64_t offset) override {
    return inner_.pread(fd, buf, count, offset);
  }
  ssize_t pwrite(int fd, const void* buf, size_t count, uint64_t offset) override {
    return inner_.pwrite(fd, buf, count, offset);
  }
  void* mmap(int fd, size_t length, int prot, int flags, uint64_t offset) override {
    return inner_.mmap(fd, length, prot, flags, offset);
  }
  int munmap(void* addr, size_t length) override { return inner_.munmap(addr, length); }
  std::string kind() const override { return "other-version"; }

 private:
  uvfio::vfio::VfioSystem& inner_;
};

// The emulated provider behind an OtherVersionSystem.
class OtherVersionProvider : public Provider {
 public:
  std::string name() const override { return "other"; }
  std::unique_ptr<World> make(Setup setup) override {
    auto inner = inner_->make(setup);
    if (!inner) return nullptr;
    auto w = std::make_unique<Wrapped>(std::move(inner));
    w->sys = &w->system;
    return w;
  }
  void destroy(std::unique_ptr<World> w) override {
    inner_->destroy(std::move(static_cast<Wrapped&>(*w).inner));
  }

 private:
  struct Wrapped : World {
    explicit Wrapped(std::unique_ptr<World> w) : inner(std::move(w)), system(*inner->sys) {
      static_cast<World&>(*this) = *inner;
    }
    std::unique_ptr<World> inner;
    OtherVersionSystem system;
  };
  std::unique_ptr<Provider> inner_ = make_emulated_provider();
};

class NothingProvider : public Provider {
 public:
  std::string name() const override { return "nothing"; }
  std::unique_ptr<World> make(Setup) override { return nullptr; }
  void destroy(std::unique_ptr<World>) override {}
};

const Scenario& scenario_named(std::string_view name) {
  for (const Scenario& s : all_scenarios()) {
    if (s.name == name) return s;
  }
  ADD_FAILURE() << "no scenario " << name;
  return all_scenarios().front();
}

}  // namespace

TEST(ConformanceCompare, EveryScenarioHasAPathAndEveryPathHasScenarios) {
  std::array<int, 3> per_path{};
  for (const Scenario& s : all_scenarios()) {
    auto p = path_of(s);
    ASSERT_TRUE(p.has_value()) << s.name;
    ++per_path[static_cast<size_t>(*p)];
  }
  for (Path p : kAllPaths) EXPECT_GT(per_path[static_cast<size_t>(p)], 0) << path_name(p);
}

TEST(ConformanceCompare, PathsFollowTheWorldThenTheArea) {
  const auto& find = scenario_named;
  // A container scenario that needs no-IOMMU mode on runs on the no-IOMMU machine.
  EXPECT_EQ(path_of(find("container: SET_IOMMU(NOIOMMU) on an ordinary container is ENODEV")),
            Path::kNoIommu);
  // ... and one that needs it off on the legacy one.
  EXPECT_EQ(path_of(find("container: no-IOMMU extension absent when the mode is off")),
            Path::kLegacy);
  EXPECT_EQ(path_of(find("iommufd: a group attached to an iommufd")), Path::kIommufd);
  EXPECT_EQ(path_of(find("type1 v2: unmap that splits a mapping is EINVAL")), Path::kLegacy);
  EXPECT_EQ(path_of(find("noiommu: opening a no-IOMMU group needs CAP_SYS_RAWIO")), Path::kNoIommu);
  Scenario stray{"stray: nowhere", "x", Setup::kViableGroup, {open_group()}};
  EXPECT_FALSE(path_of(stray).has_value());
}

TEST(ConformanceCompare, SameAnswerIsExactExceptForFdNumbersAndEventfdCounts) {
  EXPECT_TRUE(same_answer(0, 0, 0));
  EXPECT_FALSE(same_answer(9, 9, 8));
  EXPECT_TRUE(same_answer(Step::kAnyFd, 3, 7));
  EXPECT_FALSE(same_answer(Step::kAnyFd, 3, -EBUSY));
  EXPECT_TRUE(same_answer(Step::kAnyFd, -EBUSY, -EBUSY));
  EXPECT_FALSE(same_answer(Step::kAnyFd, -EPERM, -EBUSY));
  EXPECT_TRUE(same_answer(Step::kPositive, 1, 2));
  EXPECT_FALSE(same_answer(Step::kPositive, 1, 0));
  // An errno never matches a different errno, whatever the expectation.
  EXPECT_FALSE(same_answer(err(EINVAL), -EINVAL, -ENOTTY));
}

TEST(ConformanceCompare, ADifferenceIsReportedWithItsStep) {
  Scenario s = two_steps("two", err(EBUSY));
  Comparison c = compare(s, outcome({5, -EBUSY}), outcome({9, -EBUSY}), {});
  EXPECT_TRUE(c.identical());  // fds 5 and 9 are the same answer
  c = compare(s, outcome({5, -EPERM}), outcome({9, -EBUSY}), {});
  ASSERT_EQ(c.differences.size(), 1u);
  EXPECT_EQ(c.differences[0].step, 2u);
  EXPECT_EQ(c.differences[0].subject, -EPERM);
  EXPECT_EQ(c.differences[0].reference, -EBUSY);
  EXPECT_EQ(c.differences[0].known, nullptr);
  EXPECT_FALSE(c.explained());
  // A missing step is a difference too.
  c = compare(s, outcome({5}), outcome({9, -EBUSY}), {});
  ASSERT_EQ(c.differences.size(), 1u);
  EXPECT_EQ(c.differences[0].subject, kNoResult);
}

TEST(ConformanceCompare, AKnownDifferenceMatchesOnlyItsStepAndValue) {
  Scenario s = two_steps("two", err(EBUSY));
  const KnownDifference table[] = {{"two", 2, -EPERM, "6.x", "test entry"}};
  Comparison c = compare(s, outcome({5, -EPERM}), outcome({9, -EBUSY}), table);
  ASSERT_EQ(c.differences.size(), 1u);
  EXPECT_EQ(c.differences[0].known, &table[0]);
  EXPECT_TRUE(c.explained());
  EXPECT_FALSE(c.identical());
  // Another value at the same step is not what the entry explains.
  c = compare(s, outcome({5, -EACCES}), outcome({9, -EBUSY}), table);
  EXPECT_FALSE(c.explained());
  // The listed answer does not count against the subject's expectations; another one does.
  EXPECT_TRUE(expectation_misses(s, outcome({5, -EPERM}), table).empty());
  EXPECT_EQ(expectation_misses(s, outcome({5, -EPERM})), std::vector<size_t>{2});
  EXPECT_EQ(expectation_misses(s, outcome({5, -EACCES}), table), std::vector<size_t>{2});
}

TEST(ConformanceCompare, TheRealTableNamesRealScenariosAndReasons) {
  std::set<std::string_view> names;
  for (const Scenario& s : all_scenarios()) names.insert(s.name);
  for (const KnownDifference& d : known_differences()) {
    EXPECT_TRUE(names.count(d.scenario)) << d.scenario;
    EXPECT_GE(d.step, 1u);
    EXPECT_FALSE(d.reason.empty());
    EXPECT_FALSE(d.kernels.empty());
  }
}

TEST(ConformanceCompare, TheEmulationAgainstItselfIsIdenticalOnEveryPath) {
  // One world per setup kind is enough to exercise every path (and keeps the test fast): the
  // scenarios without interrupt waits.
  std::vector<const Scenario*> picked;
  for (const Scenario& s : all_scenarios()) {
    if (!s.name.starts_with("vfio-pci:")) picked.push_back(&s);
  }
  uvfio::set_log_level(uvfio::LogLevel::kError);  // the no-IOMMU worlds warn, as they should
  auto a = make_emulated_provider();
  auto b = make_emulated_provider();
  std::vector<std::string> lines;
  CompareReport r = compare_all(
      *a, *b, picked, {}, [&](const std::string& l) { lines.push_back(l); }, false);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.skipped, 0);
  EXPECT_TRUE(lines.empty()) << lines.front();
  const auto summary = path_lines(r, "emulated");
  ASSERT_EQ(summary.size(), 3u);
  for (Path p : kAllPaths) {
    const PathTally& t = r.tally(p);
    EXPECT_GT(t.compared, 0);
    EXPECT_EQ(t.identical, t.compared);
  }
  EXPECT_EQ(summary[0],
            "emulated conformance (legacy): " + std::to_string(r.tally(Path::kLegacy).compared) +
                "/" + std::to_string(r.tally(Path::kLegacy).compared) + " identical");
  EXPECT_TRUE(summary[1].starts_with("emulated conformance (iommufd): "));
  EXPECT_TRUE(summary[2].starts_with("emulated conformance (noiommu): "));
}

TEST(ConformanceCompare, ADifferentAnswerIsADiffAndFailsTheRun) {
  const Scenario* list[] = {&scenario_named("container: API version is 0")};
  OtherVersionProvider subject;
  auto reference = make_emulated_provider();
  std::vector<std::string> lines;
  CompareReport r = compare_all(
      subject, *reference, list, {}, [&](const std::string& l) { lines.push_back(l); }, false);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.subject_failed, 1);
  EXPECT_EQ(r.reference_failed, 0);
  EXPECT_EQ(r.differing, 1);
  EXPECT_EQ(r.tally(Path::kLegacy).compared, 1);
  EXPECT_EQ(r.tally(Path::kLegacy).identical, 0);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "FAIL container: API version is 0 [vfio_fops_unl_ioctl] (other): step 2 "
            "(VFIO_GET_API_VERSION on container): expected 0, got 1");
  EXPECT_EQ(lines[1],
            "DIFF container: API version is 0 [vfio_fops_unl_ioctl]: step 2 "
            "(VFIO_GET_API_VERSION on container): other 1, emulated 0");
  EXPECT_EQ(path_lines(r, "other"),
            std::vector<std::string>{"other conformance (legacy): 0/1 identical"});
}

TEST(ConformanceCompare, AKnownDifferenceIsPrintedAndCountedApart) {
  const Scenario* list[] = {&scenario_named("container: API version is 0")};
  const KnownDifference table[] = {
      {"container: API version is 0", 2, 1, "test kernels", "a test entry"}};
  OtherVersionProvider subject;
  auto reference = make_emulated_provider();
  std::vector<std::string> lines;
  CompareReport r = compare_all(
      subject, *reference, list, table, [&](const std::string& l) { lines.push_back(l); }, false);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.subject_failed, 0);  // the table excuses the listed answer
  EXPECT_EQ(r.differing, 0);
  EXPECT_EQ(r.tally(Path::kLegacy).known, 1);
  EXPECT_EQ(r.tally(Path::kLegacy).identical, 0);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "KNOWN container: API version is 0 [vfio_fops_unl_ioctl]: step 2 "
            "(VFIO_GET_API_VERSION on container): other 1, emulated 0 (test kernels: a test "
            "entry)");
  EXPECT_EQ(
      path_lines(r, "other"),
      std::vector<std::string>{"other conformance (legacy): 0/1 identical, 1 known difference"});
}

TEST(ConformanceCompare, ASubjectSkipIsNotCompared) {
  // The world the subject cannot build is a SKIP, counted on no path.
  NothingProvider subject;
  auto reference = make_emulated_provider();
  const Scenario* list[] = {&scenario_named("container: API version is 0")};
  std::vector<std::string> lines;
  CompareReport r = compare_all(
      subject, *reference, list, {}, [&](const std::string& l) { lines.push_back(l); }, false);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.skipped, 1);
  EXPECT_EQ(r.tally(Path::kLegacy).compared, 0);
  EXPECT_TRUE(path_lines(r, "nothing").empty());
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].starts_with("SKIP container: API version is 0")) << lines[0];
}
