// What the database's options change (its checkpoints, DuckDB's planner), and the
// checkpoints they schedule.
#include "arrowport/storage/database/database.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "arrow/api.h"
#include "arrowport/common/status_detail.h"

namespace arrowport::storage {
namespace database_options_test {


int64_t WalSize(const std::string& path) {
  std::error_code error;
  auto size = std::filesystem::file_size(path + ".wal", error);
  return error ? 0 : static_cast<int64_t>(size);
}


// DuckDB takes a checkpoint that fails part-way as fatal (the database is invalidated),
// and one taken at commit runs on a client's call, where the allocation guard may refuse
// its allocations. Commits no longer checkpoint; the database's own thread does, with the
// guard suspended, once the WAL passes its threshold.
TEST(DatabaseCheckpointTest, CommitsDoNotCheckpointTheCheckpointerDoes) {
  const std::string path = ::testing::TempDir() + "/arrowport_checkpointer_" +
                           std::to_string(::getpid()) + ".duckdb";
  for (int64_t threshold : {int64_t{1} << 40, int64_t{1} << 20}) {
    std::filesystem::remove(path);
    std::filesystem::remove(path + ".wal");
    DatabaseOptions options;
    options.path = path;
    options.checkpoint_wal_bytes = threshold;
    auto db = Database::Open(options).ValueOrDie();
    auto conn = db->Connect().ValueOrDie();
    // Appends below a row group's size go through the WAL (larger ones are written to
    // the database file as they are made): 24 MB, past DuckDB's own 16 MB threshold.
    ASSERT_TRUE(conn->Execute("CREATE TABLE t (x BIGINT)").ok());
    for (int i = 0; i < 60; ++i) {
      ASSERT_TRUE(conn->Execute("INSERT INTO t SELECT range FROM range(50000)").ok());
    }
    if (threshold > (int64_t{1} << 30)) {
      // Committed, in the WAL, and no commit checkpointed it.
      EXPECT_GT(WalSize(path), int64_t{16} << 20);
      ASSERT_TRUE(db->Checkpoint().ok());
      EXPECT_EQ(WalSize(path), 0);
    } else {
      // The checkpointer takes the WAL whenever it passes 1 MiB: of the 24 MB written,
      // what stays is below that (a slow build may checkpoint mid-way and leave a tail
      // under the threshold). Its attempts during the inserts may fail (a transaction in
      // the way) and back off up to 30 s: a slow (sanitized) build can wait one out.
      for (int i = 0; i < 400 && WalSize(path) >= threshold; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      EXPECT_LT(WalSize(path), threshold) << "the checkpointer did not checkpoint";
    }
    auto count = conn->QueryTable("SELECT count(*) FROM t").ValueOrDie();
    EXPECT_EQ(count->column(0)->GetScalar(0).ValueOrDie()->ToString(), "3000000");
    // SQL cannot checkpoint (only the server, where no allocation is refused).
    Principal admin;
    admin.user = "ada";
    admin.role = Role::kAdmin;
    auto refused = conn->ExecuteUpdate("CHECKPOINT", admin);
    EXPECT_TRUE(HasErrorKind(refused.status(), ErrorKind::kPermissionDenied)) << refused.status();
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".wal");
}

// The checkpoint action and the checkpointer thread may ask at the same moment: DuckDB
// refuses a CHECKPOINT while another one's transaction is open ("other write transactions
// active"), so an admin's checkpoint failed whenever the checkpointer was busy.
TEST(DatabaseCheckpointTest, CheckpointsAskedAtOnceTakeTurns) {
  const std::string path = ::testing::TempDir() + "/arrowport_checkpoints_at_once_" +
                           std::to_string(::getpid()) + ".duckdb";
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".wal");
  {
    DatabaseOptions options;
    options.path = path;
    options.checkpoint_wal_bytes = int64_t{1} << 40;  // only the threads below checkpoint
    auto db = Database::Open(options).ValueOrDie();
    auto conn = db->Connect().ValueOrDie();
    ASSERT_TRUE(conn->Execute("CREATE TABLE t (x BIGINT)").ok());
    std::atomic<int> failures{0};
    std::string first_failure;
    std::mutex failure_mutex;
    auto checkpoint_often = [&] {
      for (int i = 0; i < 30; ++i) {
        auto st = db->Checkpoint();
        if (!st.ok() && failures.fetch_add(1) == 0) {
          std::lock_guard<std::mutex> lock(failure_mutex);
          first_failure = st.ToString();
        }
      }
    };
    for (int round = 0; round < 3; ++round) {
      ASSERT_TRUE(conn->Execute("INSERT INTO t SELECT range FROM range(200000)").ok());
      std::thread a(checkpoint_often), b(checkpoint_often);
      a.join();
      b.join();
    }
    EXPECT_EQ(failures.load(), 0) << first_failure;
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".wal");
}

std::string Plan(Connection& conn, const std::string& sql) {
  auto table = conn.QueryTable("EXPLAIN " + sql).ValueOrDie();
  std::string plan;
  for (int64_t i = 0; i < table->num_rows(); ++i) {
    plan += table->column(1)->GetScalar(i).ValueOrDie()->ToString();
  }
  return plan;
}

std::string Setting(Connection& conn, const std::string& name) {
  auto table =
      conn.QueryTable("SELECT current_setting('" + name + "')::VARCHAR").ValueOrDie();
  return table->column(0)->GetScalar(0).ValueOrDie()->ToString();
}

// DuckDB 2.0 plans `SELECT * FROM t LIMIT 1000` as a semi join of the limited row ids
// against a scan of the table, sorted back by row id (its late materialization of large
// limits), which costs a small query more than it saves. The server turns that optimizer
// off unless asked; deep OFFSETs are what it is for.
TEST(DatabasePlanTest, LargeLimitsReadTheFirstRowsUnlessLateMaterializationIsOn) {
  for (bool late_materialization : {false, true}) {
    DatabaseOptions options;
    options.path = ":memory:";
    options.late_materialization = late_materialization;
    auto db = Database::Open(options).ValueOrDie();
    auto conn = db->Connect().ValueOrDie();
    EXPECT_EQ(Setting(*conn, "disabled_optimizers").find("late_materialization") ==
                  std::string::npos,
              late_materialization);
    ASSERT_TRUE(conn->Execute("CREATE TABLE t AS SELECT range AS id, range * 1.5 AS v, "
                              "'row ' || range AS s FROM range(300000)")
                    .ok());
    const std::string plan = Plan(*conn, "SELECT * FROM t LIMIT 1000");
    EXPECT_EQ(plan.find("SEMI") != std::string::npos, late_materialization) << plan;
    // The rows are the same either way: the first 1,000, in order.
    auto rows = conn->QueryTable("SELECT * FROM t LIMIT 1000").ValueOrDie()->CombineChunks();
    ASSERT_TRUE(rows.ok());
    auto ids = (*rows)->GetColumnByName("id");
    ASSERT_EQ(ids->length(), 1000);
    EXPECT_EQ(ids->GetScalar(0).ValueOrDie()->ToString(), "0");
    EXPECT_EQ(ids->GetScalar(999).ValueOrDie()->ToString(), "999");
  }
}

// A SET disabled_optimizers in duckdb.init_sql replaces DuckDB's whole list: it silently
// turned late materialization back on (found by a hostile run). Both now stay disabled.
TEST(DatabasePlanTest, InitSqlDisablingOtherOptimizersKeepsLateMaterializationOff) {
  for (const char* sql : {"SET disabled_optimizers = 'join_order'",
                          "SET disabled_optimizers = ''", "RESET disabled_optimizers"}) {
    DatabaseOptions options;
    options.path = ":memory:";
    options.init_sql = {sql};
    auto db = Database::Open(options).ValueOrDie();
    auto conn = db->Connect().ValueOrDie();
    const std::string disabled = Setting(*conn, "disabled_optimizers");
    EXPECT_NE(disabled.find("late_materialization"), std::string::npos) << sql << ": " << disabled;
    if (std::string(sql).find("join_order") != std::string::npos) {
      EXPECT_NE(disabled.find("join_order"), std::string::npos) << disabled;
    }
  }
}

// A connection dropped inside a transaction (its client gone) rolls it back, aborted or
// not, with DuckDB's C++ API (which tells whether one is open) and without it.
TEST(DatabaseConnectionTest, ADroppedConnectionRollsBackItsTransaction) {
  for (const char* version : {"", "another DuckDB"}) {
    for (bool aborted : {false, true}) {
      DatabaseOptions options;
      options.path = ":memory:";
      options.expected_duckdb_version = version;
      auto db = Database::Open(options).ValueOrDie();
      auto reader = db->Connect().ValueOrDie();
      ASSERT_TRUE(reader->Execute("CREATE TABLE t (x BIGINT PRIMARY KEY)").ok());
      {
        auto writer = db->Connect().ValueOrDie();
        ASSERT_TRUE(writer->Execute("BEGIN TRANSACTION").ok());
        ASSERT_TRUE(writer->Execute("INSERT INTO t VALUES (1), (2)").ok());
        if (aborted) EXPECT_FALSE(writer->Execute("INSERT INTO t VALUES (1)").ok());
      }  // dropped without a commit or rollback
      auto count = reader->QueryTable("SELECT count(*) FROM t").ValueOrDie();
      EXPECT_EQ(count->column(0)->GetScalar(0).ValueOrDie()->ToString(), "0")
          << "version '" << version << "', aborted " << aborted;
      // Nothing of it holds the rows either: the same keys insert.
      EXPECT_TRUE(reader->Execute("INSERT INTO t VALUES (1), (2)").ok());
    }
  }
}

}  // namespace database_options_test
}  // namespace arrowport::storage
