#include "arrowport/lake/lake_append.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "arrow/api.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/lake/lake_maintenance.h"
#include "arrowport/test_support/lake_test_util.h"

namespace arrowport::lake {
namespace lake_append_test {

using testing::Append;
using testing::Batch;
using testing::CountRows;
using testing::OpenTable;
using testing::TempDir;

int64_t ParquetFiles(const TempDir& dir) {
  int64_t n = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.path())) {
    if (entry.path().extension() == ".parquet" &&
        entry.path().string().find("_delta_log") == std::string::npos) {
      ++n;
    }
  }
  return n;
}

TEST(LakeAppend, CreatesAPartitionedTableInOneCommit) {
  TempDir dir;
  config::LakeConfig lake;
  lake.partition_by = {"day"};
  auto table = OpenTable(dir, lake);
  ASSERT_EQ(Append(table, {Batch(0, 30), Batch(30, 30)}).ValueOrDie(), 0);
  auto snapshot = table->Latest().ValueOrDie();
  EXPECT_EQ(snapshot->version, 0);
  EXPECT_EQ(snapshot->files.size(), 3u);  // one file per day
  EXPECT_EQ(snapshot->num_records(), 60);
  EXPECT_EQ(CountRows(table.get()), 60);
  for (const auto& [path, add] : snapshot->files) {
    ASSERT_TRUE(add.partition_values.at("day").has_value());
    EXPECT_EQ(path.rfind("day=" + *add.partition_values.at("day") + "/", 0), 0u) << path;
    EXPECT_NE(add.stats.find("\"minValues\":{\"id\""), std::string::npos) << add.stats;
  }
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/_delta_log/00000000000000000000.json"));
}

TEST(LakeAppend, AFailedRequestLeavesNoFileAndNoCommit) {
  TempDir dir;
  auto table = OpenTable(dir);
  ASSERT_TRUE(Append(table, {Batch(0, 10)}).ok());
  {
    LakeAppend append(table, {});
    ASSERT_TRUE(append.Start(*Batch(0, 1)->schema()).ok());
    ASSERT_TRUE(append.Write(*Batch(10, 10)).ok());
    // The request ends here without a commit (the client went away).
  }
  EXPECT_EQ(table->Latest().ValueOrDie()->version, 0);
  EXPECT_EQ(ParquetFiles(dir), 1);
  EXPECT_EQ(CountRows(table.get()), 10);
}

TEST(LakeAppend, ARequestIdCommitsOnce) {
  TempDir dir;
  auto table = OpenTable(dir);
  AppendOptions options;
  options.request_id = "req-1";
  ASSERT_EQ(Append(table, {Batch(0, 10)}, options).ValueOrDie(), 0);
  EXPECT_EQ(Append(table, {Batch(0, 10)}, options).ValueOrDie(), -1);
  EXPECT_EQ(CountRows(table.get()), 10);
  EXPECT_EQ(ParquetFiles(dir), 1);
}

// A node that starts after a checkpoint reads the request ids from it, but not their
// commits' counts: a retry must still be answered with the rows the request committed
// (it was answered with 0), from the commit file; with the file gone, with 0.
TEST(LakeAppend, ARetryAfterACheckpointAnswersWithTheOriginalCounts) {
  TempDir dir;
  auto table = OpenTable(dir);
  AppendOptions options;
  options.request_id = "req-1";
  ASSERT_EQ(Append(table, {Batch(0, 10), Batch(10, 7)}, options).ValueOrDie(), 0);
  ASSERT_EQ(Append(table, {Batch(17, 5)}).ValueOrDie(), 1);
  ASSERT_EQ(Append(table, {Batch(22, 5)}).ValueOrDie(), 2);
  ASSERT_TRUE(table->delta_log()->WriteCheckpoint(*table->Latest().ValueOrDie()).ok());
  ASSERT_EQ(Append(table, {Batch(27, 5)}).ValueOrDie(), 3);

  // Another tool's commit before the checkpoint names the same txn without counts: it is
  // passed over, not taken for an answer of 0 (the search goes on to commit 0).
  {
    std::ofstream forged(dir.path() + "/_delta_log/00000000000000000001.json",
                         std::ios::trunc);
    forged << R"({"txn":{"appId":"arrowport:req-1","version":0,"lastUpdated":1}})" << "\n";
  }
  auto restarted = OpenTable(dir);  // reads the checkpoint, then commit 3
  {
    LakeAppend retry(restarted, options);
    ASSERT_EQ(retry.Start(*Batch(0, 1)->schema()).ValueOrDie(), 0);
    EXPECT_EQ(retry.PriorCounts(), std::make_pair(int64_t{17}, int64_t{2}));
  }
  // Counts recorded after the checkpoint come from the snapshot itself.
  AppendOptions later;
  later.request_id = "req-2";
  ASSERT_EQ(Append(restarted, {Batch(32, 4)}, later).ValueOrDie(), 4);
  {
    LakeAppend retry(restarted, later);
    ASSERT_EQ(retry.Start(*Batch(0, 1)->schema()).ValueOrDie(), 0);
    EXPECT_EQ(retry.PriorCounts(), std::make_pair(int64_t{4}, int64_t{1}));
  }
  // The sealed commit file expired: whether the checkpoint's txn is Arrowport's commit
  // of the request cannot be told (it was answered as a duplicate of 0 rows, which
  // another writer's txn in a checkpoint could fake): refused, nothing written.
  std::filesystem::remove(dir.path() + "/_delta_log/00000000000000000000.json");
  auto later_node = OpenTable(dir);
  LakeAppend retry(later_node, options);
  auto refused = retry.Start(*Batch(0, 1)->schema());
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().IsAlreadyExists()) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("request id 'req-1' is recorded as committed "
                                            "in the Delta checkpoint 2"),
            std::string::npos)
      << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("commit 1 holds an unsealed one"),
            std::string::npos)
      << refused.status().ToString();
  EXPECT_EQ(CountRows(later_node.get()), 36);
}

std::string CommitText(const TempDir& dir, int64_t version) {
  std::ifstream in(dir.path() + "/" + DeltaLog::CommitKey(version));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteCommit(const TempDir& dir, int64_t version, const std::string& text) {
  std::ofstream out(dir.path() + "/" + DeltaLog::CommitKey(version), std::ios::trunc);
  out << text;
}

// Issue 64: a txn another writer committed (delta-rs, Spark) named a request id, and
// Arrowport answered that request "duplicate" without storing its rows. Only a commit
// sealed with the nodes' key answers a retry: the request is written.
TEST(LakeAppend, ATxnAnotherWriterCommittedDoesNotMakeARequestADuplicate) {
  TempDir dir;
  auto table = OpenTable(dir);
  AppendOptions first;
  first.request_id = "req-1";
  ASSERT_EQ(Append(table, {Batch(0, 10)}, first).ValueOrDie(), 0);
  const std::string sealed = CommitText(dir, 0);
  ASSERT_NE(sealed.find("\"arrowportSeal\":\""), std::string::npos) << sealed;
  // Another writer's txn alone, and Arrowport's commit copied with its seal but the
  // request id changed.
  WriteCommit(dir, 1, R"({"txn":{"appId":"arrowport:req-2","version":0,"lastUpdated":1}})"
                      "\n");
  std::string copied = sealed;
  copied.replace(copied.find("arrowport:req-1"), 15, "arrowport:req-3");
  const size_t meta = copied.find("{\"metaData\"");
  copied.erase(meta, copied.find('\n', meta) + 1 - meta);  // one metaData per table
  const size_t protocol = copied.find("{\"protocol\"");
  copied.erase(protocol, copied.find('\n', protocol) + 1 - protocol);
  WriteCommit(dir, 2, copied);
  auto snapshot = table->Latest().ValueOrDie();
  EXPECT_EQ(snapshot->app_versions.count("arrowport:req-2"), 1u);
  EXPECT_EQ(snapshot->sealed_txns.count("arrowport:req-2"), 0u);
  EXPECT_EQ(snapshot->sealed_txns.count("arrowport:req-3"), 0u);
  for (const char* id : {"req-2", "req-3"}) {
    AppendOptions options;
    options.request_id = id;
    EXPECT_GE(Append(table, {Batch(100, 5)}, options).ValueOrDie(), 3) << id;
    // Its own commit is sealed: the retry is a duplicate.
    EXPECT_EQ(Append(table, {Batch(100, 5)}, options).ValueOrDie(), -1) << id;
  }
  // The real duplicate still is one (a copy of its marker elsewhere changes nothing).
  EXPECT_EQ(Append(table, {Batch(0, 10)}, first).ValueOrDie(), -1);
  // Commit 0's rows once (commit 2 adds the same file again: still one file), 5 + 5.
  EXPECT_EQ(CountRows(table.get()), 20);
  // A node with another key verifies none of these commits: it writes.
  auto other_key = std::make_shared<LakeTable>(
      table->shared_store(), table->config(), nullptr, nullptr,
      std::make_unique<DeltaLog>(table->shared_store(), SealKey::Random()));
  EXPECT_GE(Append(other_key, {Batch(0, 10)}, first).ValueOrDie(), 0);
}

// Issue 64 (the attack on its fix): the seal bound the table's metaData.id, which any
// writer of a table can set. A writer of table B gave B table A's id and copied A's
// sealed commit of req-1 into B's log (its files with it, its rows deleted after): a
// retry of req-1 at B was answered duplicate, nothing stored. The seal binds the table's
// URL as the server names it too: the copy does not verify in B.
TEST(LakeAppend, ASealedCommitCopiedIntoAnotherTableIsNoDuplicateThere) {
  TempDir a_dir, b_dir;
  auto a = OpenTable(a_dir);
  auto b = OpenTable(b_dir);
  AppendOptions options;
  options.request_id = "req-1";
  ASSERT_EQ(Append(a, {Batch(0, 10, 1)}, options).ValueOrDie(), 0);
  ASSERT_EQ(Append(b, {Batch(100, 1, 1)}).ValueOrDie(), 0);
  const auto a_snapshot = a->Latest().ValueOrDie();
  std::string b_meta = CommitText(b_dir, 0);
  const std::string b_id = b->Latest().ValueOrDie()->metadata.id;
  b_meta = b_meta.substr(b_meta.find("{\"metaData\""));
  b_meta = b_meta.substr(0, b_meta.find('\n') + 1);
  b_meta.replace(b_meta.find(b_id), b_id.size(), a_snapshot->metadata.id);
  WriteCommit(b_dir, 1, b_meta);  // B takes A's id
  std::string copied = CommitText(a_dir, 0);
  for (const char* action : {"{\"metaData\"", "{\"protocol\""}) {
    const size_t at = copied.find(action);
    copied.erase(at, copied.find('\n', at) + 1 - at);
  }
  for (const auto& [path, add] : a_snapshot->files) {
    std::filesystem::create_directories(
        std::filesystem::path(b_dir.path() + "/" + KeyOfPath(path)).parent_path());
    std::filesystem::copy_file(a_dir.path() + "/" + KeyOfPath(path),
                               b_dir.path() + "/" + KeyOfPath(path));
  }
  WriteCommit(b_dir, 2, copied);  // A's sealed commit of req-1, in B
  auto restarted = OpenTable(b_dir);
  auto snapshot = restarted->Latest().ValueOrDie();
  EXPECT_EQ(snapshot->metadata.id, a_snapshot->metadata.id);
  EXPECT_EQ(snapshot->sealed_txns.count("arrowport:req-1"), 0u);
  EXPECT_GE(Append(restarted, {Batch(200, 5, 1)}, options).ValueOrDie(), 3);
  EXPECT_EQ(Append(restarted, {Batch(200, 5, 1)}, options).ValueOrDie(), -1);
  // In A, its own commit still answers the retry.
  EXPECT_EQ(Append(OpenTable(a_dir), {Batch(0, 10, 1)}, options).ValueOrDie(), -1);
}

TEST(LakeAppend, SchemaPoliciesDecideNewColumns) {
  TempDir dir;
  auto table = OpenTable(dir);
  ASSERT_TRUE(Append(table, {Batch(0, 5)}).ok());
  auto wider = Batch(5, 5);
  arrow::Int32Builder extra;
  ASSERT_TRUE(extra.AppendValues(std::vector<int32_t>{1, 2, 3, 4, 5}).ok());
  wider = wider->AddColumn(3, arrow::field("extra", arrow::int32()), extra.Finish().ValueOrDie())
              .ValueOrDie();
  auto strict = Append(table, {wider});
  ASSERT_FALSE(strict.ok());
  EXPECT_TRUE(HasErrorKind(strict.status(), ErrorKind::kSchemaMismatch));
  EXPECT_NE(strict.status().message().find("'extra'"), std::string::npos);

  AppendOptions add;
  add.policy = config::SchemaPolicy::kAddColumns;
  ASSERT_EQ(Append(table, {wider}, add).ValueOrDie(), 1);
  auto snapshot = table->Latest().ValueOrDie();
  ASSERT_EQ(snapshot->schema->num_fields(), 4);
  EXPECT_TRUE(snapshot->schema->field(3)->nullable());

  // An older stream (without the column) still fits; a narrower type widens.
  ASSERT_TRUE(Append(table, {Batch(10, 5)}).ok());
  EXPECT_EQ(CountRows(table.get()), 15);
}

TEST(LakeAppend, TypeConflictsAreSchemaMismatches) {
  TempDir dir;
  auto table = OpenTable(dir);
  ASSERT_TRUE(Append(table, {Batch(0, 5)}).ok());
  auto schema = arrow::schema({arrow::field("id", arrow::utf8())});
  arrow::StringBuilder ids;
  ASSERT_TRUE(ids.Append("x").ok());
  auto bad = arrow::RecordBatch::Make(schema, 1, {ids.Finish().ValueOrDie()});
  auto st = Append(table, {bad});
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(HasErrorKind(st.status(), ErrorKind::kSchemaMismatch)) << st.status().ToString();
}

TEST(LakeAppend, APartitionColumnMissingFromTheStreamIsRefused) {
  TempDir dir;
  config::LakeConfig lake;
  lake.partition_by = {"country"};
  auto table = OpenTable(dir, lake);
  auto st = Append(table, {Batch(0, 5)});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("partition column 'country' is missing"),
            std::string::npos);
  EXPECT_EQ(ParquetFiles(dir), 0);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/_delta_log"));
}

TEST(LakeAppend, ReplaceRemovesEveryFileAndCreateRefusesAnExistingTable) {
  TempDir dir;
  auto table = OpenTable(dir);
  ASSERT_TRUE(Append(table, {Batch(0, 5)}).ok());
  AppendOptions create;
  create.create_only = true;
  EXPECT_TRUE(Append(table, {Batch(0, 5)}, create).status().IsAlreadyExists());
  AppendOptions replace;
  replace.replace = true;
  ASSERT_TRUE(Append(table, {Batch(100, 3)}, replace).ok());
  EXPECT_EQ(CountRows(table.get()), 3);
  EXPECT_EQ(table->Latest().ValueOrDie()->tombstones.size(), 1u);
}

// Several writers (two tables on one directory, as two nodes would be) commit at once:
// every commit lands at its own version and no row is lost or doubled.
TEST(LakeAppend, ConcurrentWritersLoseNoCommit) {
  TempDir dir;
  auto node_a = OpenTable(dir);
  auto node_b = OpenTable(dir);
  ASSERT_TRUE(Append(node_a, {Batch(0, 1)}).ok());
  constexpr int kThreads = 4, kRequests = 8;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto table = t % 2 == 0 ? node_a : node_b;
      for (int r = 0; r < kRequests; ++r) {
        const int64_t start = 1000 * (t + 1) + r * 10;
        if (!Append(table, {Batch(start, 10)}).ok()) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  auto snapshot = testing::OpenTable(dir)->Latest().ValueOrDie();
  EXPECT_EQ(snapshot->version, kThreads * kRequests);
  EXPECT_EQ(snapshot->num_records(), 1 + kThreads * kRequests * 10);
  EXPECT_EQ(CountRows(node_a.get()), 1 + kThreads * kRequests * 10);
  EXPECT_GT(node_a->lost_races() + node_b->lost_races(), 0);
}

TEST(LakeAppend, LosingTheRaceTooOftenIsARetryableConflict) {
  TempDir dir;
  config::LakeConfig lake;
  lake.max_commit_attempts = 3;
  auto table = OpenTable(dir, lake);
  ASSERT_TRUE(Append(table, {Batch(0, 1)}).ok());
  auto other = OpenTable(dir);
  // Another writer takes the next version every time this one has planned its commit.
  int attempts = 0;
  auto committed = table->Commit([&](const Snapshot& base, const WonCommits& won)
                                     -> arrow::Result<std::optional<CommitActions>> {
    ++attempts;
    EXPECT_EQ(static_cast<int>(won.size()), attempts - 1);
    EXPECT_TRUE(Append(other, {Batch(100 + attempts, 1)}).ok());
    return CommitActions{};
  });
  ASSERT_EQ(committed.outcome, CommitOutcome::kNotLanded);
  EXPECT_TRUE(HasErrorKind(committed.status, ErrorKind::kRetryableConflict))
      << committed.status.ToString();
  EXPECT_NE(committed.status.message().find("3 times"), std::string::npos);
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(table->lost_races(), 3);
  EXPECT_EQ(table->Latest().ValueOrDie()->version, 3);  // the other writer's three commits
}

TEST(LakeMaintenance, CompactionKeepsEveryRowAndVacuumDeletesOrphans) {
  TempDir dir;
  config::LakeConfig lake;
  lake.partition_by = {"day"};
  lake.retention_s = 0;
  auto table = OpenTable(dir, lake);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Append(table, {Batch(i * 30, 30)}).ok());
  ASSERT_EQ(table->Latest().ValueOrDie()->files.size(), 12u);
  // An orphan: a file a writer never committed.
  std::filesystem::create_directories(dir.path() + "/day=2024-01-01");
  std::ofstream(dir.path() + "/day=2024-01-01/part-orphan.parquet") << "x";
  auto compacted = Compact(table.get()).ValueOrDie();
  EXPECT_EQ(compacted.files_compacted, 12);
  EXPECT_EQ(compacted.files_written, 3);
  auto snapshot = table->Latest().ValueOrDie();
  EXPECT_EQ(snapshot->files.size(), 3u);
  EXPECT_EQ(snapshot->num_records(), 120);
  EXPECT_EQ(CountRows(table.get()), 120);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(Vacuum(table.get()).ValueOrDie(), 13);  // 12 compacted away + the orphan
  EXPECT_EQ(ParquetFiles(dir), 3);
  EXPECT_EQ(CountRows(table.get()), 120);
}

}  // namespace lake_append_test
}  // namespace arrowport::lake
