#include <gtest/gtest.h>
#include <sys/resource.h>

#include "uvfio/iommu/memlock_account.h"

using namespace uvfio;
using namespace uvfio::iommu;

namespace {
const MemlockAccount::Key kProc{};
const MemlockAccount::Key kFile{1, 42};
uint64_t pages(const MemlockAccount& a) {
  return a.locked_bytes() / MemlockAccount::host_page_size();
}
}  // namespace

TEST(MemlockAccount, EachPageCountedOnce) {
  auto a = MemlockAccount::create(MemlockAccount::kUnlimited);
  ASSERT_TRUE(a->charge(kProc, 10, 19).ok());
  EXPECT_EQ(pages(*a), 10u);
  ASSERT_TRUE(a->charge(kProc, 15, 24).ok());  // 15..19 already counted
  EXPECT_EQ(pages(*a), 15u);
  ASSERT_TRUE(a->charge(kProc, 10, 24).ok());  // all counted
  EXPECT_EQ(pages(*a), 15u);
  ASSERT_TRUE(a->charge(kFile, 10, 19).ok());  // another source: its own pages
  EXPECT_EQ(pages(*a), 25u);
  a->uncharge(kProc, 10, 24);
  EXPECT_EQ(pages(*a), 25u);  // 10..19 and 15..24 still referenced once each
  a->uncharge(kProc, 10, 19);
  EXPECT_EQ(pages(*a), 20u);  // 15..19 (from 15..24) and 20..24 remain with the file's 10
  a->uncharge(kProc, 15, 24);
  a->uncharge(kFile, 10, 19);
  EXPECT_EQ(pages(*a), 0u);
}

TEST(MemlockAccount, LimitRefusesWithNothingCharged) {
  const uint64_t ps = MemlockAccount::host_page_size();
  auto a = MemlockAccount::create(8 * ps);
  ASSERT_TRUE(a->charge(kProc, 0, 5).ok());
  EXPECT_EQ(a->charge(kProc, 4, 9).error(), ENOMEM);  // 4 new pages: 6 + 4 > 8
  EXPECT_EQ(pages(*a), 6u);
  ASSERT_TRUE(a->charge(kProc, 4, 7).ok());  // 2 new pages: exactly 8
  EXPECT_EQ(pages(*a), 8u);
  ASSERT_TRUE(a->charge(kProc, 0, 7).ok());  // nothing new: fine even at the limit
  a->set_limit(2 * ps);                      // lowering never unmaps
  EXPECT_EQ(pages(*a), 8u);
  EXPECT_EQ(a->charge(kProc, 100, 100).error(), ENOMEM);
}

TEST(MemlockAccount, FromRlimitUsesSoftLimit) {
  rlimit rl{};
  ASSERT_EQ(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
  auto a = MemlockAccount::create_from_rlimit();
  if (rl.rlim_cur == RLIM_INFINITY) {
    EXPECT_EQ(a->limit(), MemlockAccount::kUnlimited);
  } else {
    EXPECT_EQ(a->limit(), rl.rlim_cur);
  }
}

TEST(MemlockAccount, RangesAtTheTopOfTheSpace) {
  auto a = MemlockAccount::create(MemlockAccount::kUnlimited);
  ASSERT_TRUE(a->charge(kFile, UINT64_MAX - 3, UINT64_MAX).ok());
  ASSERT_TRUE(a->charge(kFile, UINT64_MAX - 1, UINT64_MAX).ok());
  EXPECT_EQ(pages(*a), 4u);
  a->uncharge(kFile, UINT64_MAX - 3, UINT64_MAX);
  EXPECT_EQ(pages(*a), 2u);
  a->uncharge(kFile, UINT64_MAX - 1, UINT64_MAX);
  EXPECT_EQ(pages(*a), 0u);
}
