// The snapshots a lake table keeps: shared, one copy per commit, charged to the budget.
#include <gtest/gtest.h>

#include "arrowport/common/memory_budget.h"
#include "arrowport/test_support/lake_test_util.h"

namespace arrowport::lake {
namespace lake_table_kept_test {

using testing::Append;
using testing::Batch;
using testing::CountRows;
using testing::TempDir;

std::shared_ptr<LakeTable> OpenCharged(const TempDir& dir,
                                       std::shared_ptr<MemoryBudget> budget) {
  config::LakeConfig lake;
  lake.url = dir.url();
  auto store = objectstore::OpenObjectStore(lake.url, {}).ValueOrDie();
  return std::make_shared<LakeTable>(store, lake, nullptr, std::move(budget));
}

TEST(LakeTableKeptTest, ACommitCopiesOneSnapshotAndTheKeptOnesAreCharged) {
  TempDir dir;
  auto budget = MemoryBudget::Make(int64_t{1} << 30);
  {
    auto table = OpenCharged(dir, budget);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(Append(table, {Batch(i * 10, 10)}).ok());
    EXPECT_EQ(table->commits(), 5);
    EXPECT_EQ(table->snapshot_copies(), 5);
    // Reading again finds nothing new: no copy.
    auto latest = table->Latest();
    ASSERT_TRUE(latest.ok()) << latest.status().ToString();
    EXPECT_EQ(latest->get(), table->Cached().get());
    EXPECT_EQ(table->snapshot_copies(), 5);
    EXPECT_GT(table->kept_bytes(), 0);
    EXPECT_EQ(table->charged_bytes(), table->kept_bytes());
    EXPECT_EQ(budget->used(), table->charged_bytes());
    EXPECT_EQ(CountRows(table.get()), 50);
  }
  EXPECT_EQ(budget->used(), 0);  // given back with the table
}

TEST(LakeTableKeptTest, AShortBudgetDropsOlderSnapshotsAndKeepsTheLatest) {
  TempDir dir;
  {
    auto table = OpenCharged(dir, nullptr);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(Append(table, {Batch(i * 10, 10)}).ok());
  }
  // Room for about two snapshots of this table.
  int64_t one = 0;
  {
    auto probe = OpenCharged(dir, nullptr);
    ASSERT_TRUE(probe->Latest().ok());
    one = probe->kept_bytes();
  }
  auto budget = MemoryBudget::Make(one * 5 / 2);
  auto table = OpenCharged(dir, budget);
  for (int i = 4; i < 10; ++i) ASSERT_TRUE(Append(table, {Batch(i * 10, 10)}).ok());
  EXPECT_LE(budget->used(), budget->capacity());
  EXPECT_EQ(budget->used(), table->charged_bytes());
  EXPECT_LT(table->Kept().size(), 7u);  // older ones dropped for room
  EXPECT_EQ(table->Kept().back()->version, 9);
  EXPECT_EQ(CountRows(table.get()), 100);
}

// Issue 68's attack: eight commits in 0.07 s made every endpoint of the snapshot a reader
// had just been handed "no longer served". A minute's snapshots are kept, not the last 8.
TEST(LakeTableKeptTest, SnapshotsOfTheLastMinuteStayReadable) {
  TempDir dir;
  auto table = OpenCharged(dir, MemoryBudget::Make(int64_t{1} << 30));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Append(table, {Batch(i * 10, 10)}).ok());
  auto first = table->At(0);
  EXPECT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_GE(table->Kept().size(), 20u);
}

}  // namespace lake_table_kept_test
}  // namespace arrowport::lake
