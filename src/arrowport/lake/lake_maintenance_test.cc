// Upkeep on a full store (issue 35 item 8): cleanup before compaction, compaction that
// waits for space it can see, backoff after a failed round, and vacuum that keeps the
// files of a commit whose outcome is unknown. A directory store that is "full" on cue
// stands in for a store out of space (the e2e tests use a real small tmpfs and MinIO).
// Also: a compaction whose commit is answered as lost keeps its files, and upkeep leaves
// alone a table with features it may not write.

#include <gtest/gtest.h>

#include <atomic>
#include <optional>

#include "arrowport/lake/lake_files.h"
#include "arrowport/lake/lake_maintenance.h"
#include "arrowport/test_support/lake_test_util.h"

namespace arrowport::lake {
namespace lake_maintenance_test {

using testing::Append;
using testing::Batch;
using testing::CountRows;
using testing::OpenScripted;
using testing::OpenTable;
using testing::TempDir;
using Clock = UpkeepHealth::Clock;

/// A directory store that runs out of space on cue, and says how much it has on cue.
class FullStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  std::atomic<bool> full{false};       ///< uploads fail (no space left)
  std::atomic<int64_t> available{-1};  ///< AvailableBytes (-1: cannot say)
  /// The next commit PUT gets no verdict, and the log cannot be read until Heal().
  std::atomic<bool> lose_next_commit{false};
  std::atomic<int64_t> uploads{0};

  void Heal() { reads_fail_ = false; }

  arrow::Result<std::vector<objectstore::ObjectInfo>> List(
      const std::string& prefix, const std::string& start_after) override {
    if (reads_fail_) return arrow::Status::IOError("LIST ", prefix, ": refused");
    return inner_->List(prefix, start_after);
  }
  arrow::Status Put(const std::string& key,
                    std::shared_ptr<arrow::Buffer> data) override {
    if (full) return NoSpace(key);
    return inner_->Put(key, std::move(data));
  }
  arrow::Status PutIfAbsent(const std::string& key,
                            std::shared_ptr<arrow::Buffer> data) override {
    if (full) return NoSpace(key);
    if (key.starts_with("_delta_log/") && lose_next_commit.exchange(false)) {
      reads_fail_ = true;  // the PUT's answer is lost and the log cannot say
      return arrow::Status::IOError("PUT ", key, ": connection reset (scripted)");
    }
    return inner_->PutIfAbsent(key, std::move(data));
  }
  arrow::Result<std::shared_ptr<arrow::io::OutputStream>> OpenUpload(
      const std::string& key) override {
    ++uploads;
    if (full) return NoSpace(key);
    return inner_->OpenUpload(key);
  }
  std::optional<int64_t> AvailableBytes() const override {
    const int64_t bytes = available;
    if (bytes < 0) return std::nullopt;
    return bytes;
  }

 private:
  static arrow::Status NoSpace(const std::string& key) {
    return arrow::Status::IOError("writing ", key, ": No space left on device");
  }

  std::atomic<bool> reads_fail_{false};
};

struct FullTable {
  explicit FullTable(const TempDir& dir, config::LakeConfig lake = {}) {
    lake.url = dir.url();
    inner = objectstore::OpenObjectStore(lake.url, {}).ValueOrDie();
    store = std::make_shared<FullStore>(inner);
    table = testing::TableOn(store, lake);
  }
  std::shared_ptr<objectstore::ObjectStore> inner;
  std::shared_ptr<FullStore> store;
  std::shared_ptr<LakeTable> table;
};

std::set<std::string> DataFiles(objectstore::ObjectStore* store) {
  std::set<std::string> keys;
  for (const auto& object : store->List("").ValueOrDie()) {
    if (object.key.ends_with(".parquet") && !object.key.starts_with("_delta_log/")) {
      keys.insert(object.key);
    }
  }
  return keys;
}

config::LakeConfig Settings() {
  config::LakeConfig lake;
  lake.retention_s = 0;  // vacuum due at every round, everything unreferenced past it
  lake.compaction_interval_s = 1;
  lake.checkpoint_interval = 0;
  return lake;
}

TEST(UpkeepHealth, BacksOffExponentiallyUpToItsCapAndASuccessEndsIt) {
  UpkeepHealth health;
  const auto t0 = Clock::now();
  EXPECT_TRUE(health.WritesDue(t0));
  const std::chrono::seconds interval(10);
  health.Failed(arrow::Status::IOError("full"), interval, t0);
  EXPECT_FALSE(health.WritesDue(t0 + std::chrono::seconds(19)));
  EXPECT_TRUE(health.WritesDue(t0 + std::chrono::seconds(20)));
  health.Failed(arrow::Status::IOError("still full"), interval, t0);
  EXPECT_FALSE(health.WritesDue(t0 + std::chrono::seconds(39)));
  EXPECT_TRUE(health.WritesDue(t0 + std::chrono::seconds(40)));
  for (int i = 0; i < 30; ++i) {
    health.Failed(arrow::Status::IOError("full"), interval, t0);
  }
  const auto cap = UpkeepHealth::kMaxBackoff;
  EXPECT_FALSE(health.WritesDue(t0 + cap - std::chrono::seconds(1)));
  EXPECT_TRUE(health.WritesDue(t0 + cap));
  auto report = health.Report(t0);
  EXPECT_EQ(report.failures, 32);
  EXPECT_EQ(report.failures_in_a_row, 32);
  EXPECT_EQ(report.last_error, "full");
  EXPECT_EQ(report.retry_in_ms, std::chrono::milliseconds(cap).count());
  health.Succeeded();
  EXPECT_TRUE(health.WritesDue(t0));
  report = health.Report(t0);
  EXPECT_EQ(report.failures, 32);
  EXPECT_EQ(report.failures_in_a_row, 0);
  EXPECT_EQ(report.last_error, "");
  EXPECT_EQ(report.retry_in_ms, 0);
}

TEST(LakeUpkeep, VacuumRunsBeforeACompactionThatFailsAndCompactionBacksOff) {
  TempDir dir;
  FullTable t(dir, Settings());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Append(t.table, {Batch(i * 10, 10, 1)}).ok());
  // A compaction that lands: the three files it replaced are garbage from now on.
  auto compacted = Compact(t.table.get());
  ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
  ASSERT_EQ(compacted->files_compacted, 3);
  for (int i = 3; i < 5; ++i) ASSERT_TRUE(Append(t.table, {Batch(i * 10, 10, 1)}).ok());
  ASSERT_EQ(DataFiles(t.inner.get()).size(), 6u);
  // The store fills up: the next compaction cannot write, but cleanup comes first.
  t.store->full = true;
  UpkeepResult result;
  auto st = Upkeep(t.table.get(), &result);
  EXPECT_TRUE(st.IsIOError()) << st.ToString();
  EXPECT_EQ(result.files_vacuumed, 3);
  EXPECT_EQ(DataFiles(t.inner.get()).size(), 3u);
  auto report = t.table->upkeep().Report(Clock::now());
  EXPECT_EQ(report.failures, 1);
  EXPECT_EQ(report.failures_in_a_row, 1);
  EXPECT_NE(report.last_error.find("No space left"), std::string::npos)
      << report.last_error;
  EXPECT_GT(report.retry_in_ms, 1000);
  // The next round, within the backoff, does not write.
  const int64_t uploads = t.store->uploads;
  ASSERT_TRUE(Upkeep(t.table.get(), &result).ok());
  EXPECT_TRUE(result.backed_off);
  EXPECT_EQ(t.store->uploads, uploads);
  EXPECT_EQ(t.table->upkeep().Report(Clock::now()).failures_in_a_row, 1);
  // Space back: an append goes through at once; every row is there once.
  t.store->full = false;
  ASSERT_TRUE(Append(t.table, {Batch(50, 10, 1)}).ok());
  EXPECT_EQ(CountRows(t.table.get()), 60);
}

TEST(LakeUpkeep, CompactionTakesAtMostHalfTheFreeSpaceItIsTold) {
  TempDir dir;
  FullTable t(dir, Settings());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Append(t.table, {Batch(i * 100, 100, 1)}).ok());
  int64_t smallest_two = 0;
  {
    std::vector<int64_t> sizes;
    for (const auto& [path, add] : t.table->Latest().ValueOrDie()->files) {
      sizes.push_back(add.size);
    }
    std::sort(sizes.begin(), sizes.end());
    smallest_two = sizes[0] + sizes[1];
  }
  // Too little free space for any two files: nothing is written, and it says why.
  t.store->available = smallest_two;
  const int64_t uploads = t.store->uploads;
  auto compacted = Compact(t.table.get());
  ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
  EXPECT_EQ(compacted->files_compacted, 0);
  EXPECT_EQ(t.store->uploads, uploads);
  EXPECT_NE(t.table->upkeep().Report(Clock::now()).compaction_deferred.find("free space"),
            std::string::npos);
  // Room for some: it merges the smallest that fit within half of it.
  t.store->available = 2 * (smallest_two + smallest_two / 2) + (1 << 20);
  compacted = Compact(t.table.get());
  ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
  EXPECT_GE(compacted->files_compacted, 2);
  EXPECT_EQ(t.table->upkeep().Report(Clock::now()).compaction_deferred, "");
  EXPECT_EQ(CountRows(t.table.get()), 400);
}

TEST(LakeUpkeep, AfterARewriteFailedTheNextTakesHalfAsMuch) {
  // A store that cannot say how much room it has (S3): the failure says it.
  TempDir dir;
  FullTable t(dir, Settings());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Append(t.table, {Batch(i * 100, 100, 1)}).ok());
  int64_t all = 0;
  for (const auto& [path, add] : t.table->Latest().ValueOrDie()->files) all += add.size;
  t.store->full = true;
  EXPECT_FALSE(Compact(t.table.get()).ok());
  EXPECT_EQ(t.table->upkeep().Report(Clock::now()).rewrite_limit_bytes, all / 2);
  // Room again: the next rewrite takes the two smallest files (half the bytes), not four;
  // landing doubles the limit.
  t.store->full = false;
  auto compacted = Compact(t.table.get());
  ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
  EXPECT_EQ(compacted->files_compacted, 2);
  EXPECT_EQ(t.table->upkeep().Report(Clock::now()).rewrite_limit_bytes, all / 2 * 2);
  EXPECT_EQ(CountRows(t.table.get()), 400);
}

TEST(LakeUpkeep, VacuumKeepsTheFilesOfACommitWhoseOutcomeIsUnknown) {
  TempDir dir;
  FullTable t(dir, Settings());
  ASSERT_TRUE(Append(t.table, {Batch(0, 10, 1)}).ok());
  // A request whose commit PUT gets no answer and whose log read-back fails.
  t.store->lose_next_commit = true;
  auto lost = Append(t.table, {Batch(10, 10, 1)});
  ASSERT_FALSE(lost.ok());
  t.store->Heal();
  const auto files = DataFiles(t.inner.get());
  ASSERT_EQ(files.size(), 2u);
  // It may still land at version 1: its file stays, however old.
  auto vacuumed = Vacuum(t.table.get());
  ASSERT_TRUE(vacuumed.ok()) << vacuumed.status().ToString();
  EXPECT_EQ(*vacuumed, 0);
  EXPECT_EQ(DataFiles(t.inner.get()), files);
  // Another commit holds version 1 now: the lost one never can, its file is garbage.
  ASSERT_TRUE(Append(t.table, {Batch(20, 10, 1)}).ok());
  vacuumed = Vacuum(t.table.get());
  ASSERT_TRUE(vacuumed.ok()) << vacuumed.status().ToString();
  EXPECT_EQ(*vacuumed, 1);
  EXPECT_EQ(CountRows(t.table.get()), 20);
}

TEST(LakeUpkeep, CompactionWhoseCommitIsAnsweredAsLostKeepsItsFiles) {
  TempDir dir;
  auto [store, table] = OpenScripted(dir);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Append(table, {Batch(i * 10, 10)}).ok());
  store->lose_next_ = true;
  auto compacted = Compact(table.get()).ValueOrDie();
  EXPECT_EQ(compacted.files_written, 1);
  EXPECT_EQ(CountRows(table.get()), 30);
  EXPECT_EQ(table->Latest().ValueOrDie()->files.size(), 1u);
}

TEST(LakeUpkeep, UpkeepLeavesATableItMayNotWriteAlone) {
  TempDir dir;
  config::LakeConfig lake;
  lake.retention_s = 0;
  lake.checkpoint_interval = 1;
  auto table = OpenTable(dir, lake);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Append(table, {Batch(i * 10, 10)}).ok());
  ASSERT_TRUE(table->store()
                  ->PutIfAbsent("_delta_log/00000000000000000003.json",
                                arrow::Buffer::FromString(
                                    "{\"cdc\":{\"path\":\"_change_data/x.parquet\","
                                    "\"partitionValues\":{},\"size\":1,\"dataChange\":false}}\n"))
                  .ok());
  UpkeepResult result;
  ASSERT_TRUE(Upkeep(table.get(), &result).ok());
  EXPECT_EQ(result.files_compacted, 0);
  EXPECT_FALSE(result.checkpointed);
  EXPECT_EQ(result.files_vacuumed, 0);
  EXPECT_EQ(table->Latest().ValueOrDie()->files.size(), 3u);
}

}  // namespace lake_maintenance_test
}  // namespace arrowport::lake
