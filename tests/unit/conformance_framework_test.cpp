// The conformance runner itself: a scenario whose expectation is wrong must fail, with the step
// and both values named, and a world a provider cannot build must be reported as skipped.
#include <gtest/gtest.h>

#include "emulated_provider.h"
#include "steps.h"

using namespace uvfio::conformance;
using namespace uvfio::conformance::steps;

TEST(ConformanceRunner, ReportsAMismatchWithStepAndValues) {
  auto provider = make_emulated_provider();
  Scenario wrong{"wrong on purpose",
                 "vfio_group_fops_open",
                 Setup::kViableGroup,
                 {open_group(), open_group("again", 1, kFd)}};  // the kernel says EBUSY
  Outcome o = run(wrong, *provider);
  EXPECT_FALSE(o.skipped);
  EXPECT_FALSE(o.passed);
  EXPECT_NE(o.detail.find("step 2"), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("expected an fd, got -EBUSY"), std::string::npos) << o.detail;
  ASSERT_EQ(o.results.size(), 2u);
  EXPECT_EQ(o.results[1], -EBUSY);
}

TEST(ConformanceRunner, PassesWhenEveryStepMatches) {
  auto provider = make_emulated_provider();
  Scenario right{"right",
                 "vfio_group_fops_open",
                 Setup::kViableGroup,
                 {open_group(), open_group("again", 1, err(EBUSY))}};
  EXPECT_TRUE(run(right, *provider).passed);
}

namespace {
class NothingProvider : public Provider {
 public:
  std::string name() const override { return "nothing"; }
  std::unique_ptr<World> make(Setup) override { return nullptr; }
  void destroy(std::unique_ptr<World>) override {}
};
}  // namespace

TEST(ConformanceRunner, UnbuildableWorldIsSkippedNotPassed) {
  NothingProvider p;
  Outcome o = run(all_scenarios().front(), p);
  EXPECT_TRUE(o.skipped);
  EXPECT_FALSE(o.passed);
}

TEST(ConformanceRunner, EnoughScenariosEachNamingAKernelFunction) {
  EXPECT_GE(all_scenarios().size(), 80u);
  for (const Scenario& s : all_scenarios()) {
    EXPECT_FALSE(s.kernel_function.empty()) << s.name;
    EXPECT_FALSE(s.steps.empty()) << s.name;
  }
}
