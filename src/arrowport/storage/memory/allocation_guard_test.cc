#include "arrowport/storage/memory/allocation_guard.h"

#include <duckdb.h>
#include <duckdb/common/allocator.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::storage {
namespace allocation_guard_test {

// The unit tests link the guard's operator new (arrowport_memory_guard) as the server
// does: the probe sees it, except in a sanitizer build, which keeps the sanitizer's own.
// A build that stops linking the object library fails here.
TEST(AllocationGuardTest, TheOperatorNewOverrideIsLinkedIn) {
  const int64_t before = AllocationGuard::live_bytes();
  const bool active = AllocationGuard::NewOverrideActive();
#ifdef ARROWPORT_NO_NEW_GUARD
  EXPECT_FALSE(active);
#else
  EXPECT_TRUE(active);
#endif
  EXPECT_EQ(AllocationGuard::live_bytes(), before);  // the probe leaves nothing counted
}

TEST(AllocationGuardTest, RunawayValuesAreRefusedEvenWhileACheckpointRuns) {
  DatabaseOptions options;
  options.path = ":memory:";
  options.memory_limit = "64MiB";
  options.max_query_memory = int64_t{64} << 20;
  auto db = Database::Open(options).ValueOrDie();
  auto conn = db->Connect().ValueOrDie();
  const std::string runaway = "SELECT length(repeat('a', n)) FROM (SELECT 300000000 AS n)";
  const int64_t before = Database::allocated_bytes();
  EXPECT_FALSE(conn->QueryTable(runaway).ok());
  {
    // What lets a checkpoint through does not let a 300 MB value through.
    AllocationGuard::Suspension checkpointing;
    auto refused = conn->QueryTable(runaway);
    EXPECT_FALSE(refused.ok());
    EXPECT_TRUE(HasErrorKind(refused.status(), ErrorKind::kResourceExhausted))
        << refused.status();
  }
  // A refused request never counted, not even for a moment; a value that fits runs.
  EXPECT_LT(Database::allocated_bytes() - before, int64_t{16} << 20);
  auto fits = conn->QueryTable("SELECT length(repeat('a', n)) FROM (SELECT 3000000 AS n)");
  ASSERT_TRUE(fits.ok()) << fits.status();
}

TEST(AllocationGuardTest, ACommittingThreadIsNeverRefused) {
  DatabaseOptions options;
  options.path = ":memory:";
  options.memory_limit = "64MiB";
  options.max_query_memory = int64_t{64} << 20;
  auto db = Database::Open(options).ValueOrDie();  // budget: 128 MiB
  auto& allocator = duckdb::Allocator::DefaultAllocator();
  auto held1 = allocator.Allocate(int64_t{60} << 20);
  auto held2 = allocator.Allocate(int64_t{60} << 20);
  EXPECT_THROW(allocator.Allocate(int64_t{40} << 20), std::exception);
  {
    AllocationGuard::CommitScope committing;
    auto merged = allocator.Allocate(int64_t{40} << 20);  // counted, not refused
    EXPECT_GE(Database::allocated_bytes(), int64_t{160} << 20);
  }
  EXPECT_THROW(allocator.Allocate(int64_t{40} << 20), std::exception);
  // One value larger than limits.max_query_memory is refused whatever else is held.
  held1.Reset();
  held2.Reset();
  EXPECT_THROW(allocator.Allocate(int64_t{65} << 20), std::exception);
}

// Leaves `path` with a write-ahead log of `rows` values of `bytes` each that no
// checkpoint folded in, as a database DuckDB invalidated does (its checkpoint failed).
void LeaveWalOfLargeValues(const std::string& path, int rows, int64_t bytes) {
  duckdb_database db = nullptr;
  duckdb_connection conn = nullptr;
  ASSERT_EQ(duckdb_open(path.c_str(), &db), DuckDBSuccess);
  ASSERT_EQ(duckdb_connect(db, &conn), DuckDBSuccess);
  for (const std::string sql :
       {std::string("SET checkpoint_threshold = '100GB'"),
        std::string("PRAGMA disable_checkpoint_on_shutdown"),
        std::string("CREATE TABLE t (s VARCHAR)"),
        "INSERT INTO t SELECT repeat('x', " + std::to_string(bytes) + ") FROM range(" +
            std::to_string(rows) + ")"}) {
    duckdb_result result;
    ASSERT_EQ(duckdb_query(conn, sql.c_str(), &result), DuckDBSuccess)
        << sql << ": " << duckdb_result_error(&result);
    duckdb_destroy_result(&result);
  }
  duckdb_disconnect(&conn);
  duckdb_close(&db);
  ASSERT_GT(std::filesystem::file_size(path + ".wal"), static_cast<uintmax_t>(rows * bytes));
}

// Opening a database replays its write-ahead log, which must never meet a refusal: the
// server's first opening runs before the budget is set, but a reopen after DuckDB
// invalidated the database runs under it, and a log of large values the first opening
// replayed could not be replayed again (out of memory, the reopen retried for ever: an
// attack run). Here the budget another database set (24 MiB, values of 8 MiB at most)
// is in force as a reopen finds its own.
TEST(AllocationGuardTest, OpeningReplaysItsWalWhateverTheBudgetInForce) {
  const std::string path = ::testing::TempDir() + "/arrowport_guard_replay_" +
                           std::to_string(::getpid()) + ".duckdb";
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".wal");
  const int64_t budget_before = AllocationGuard::budget_bytes();  // process-wide: restored
  AllocationGuard::Install(0);  // no budget while the log is written
  ASSERT_NO_FATAL_FAILURE(LeaveWalOfLargeValues(path, 4, int64_t{10} << 20));  // 40 MiB
  DatabaseOptions small;
  small.path = ":memory:";
  small.memory_limit = "16MiB";
  small.max_query_memory = int64_t{8} << 20;
  ASSERT_TRUE(Database::Open(small).ok());
  ASSERT_EQ(AllocationGuard::budget_bytes(), int64_t{24} << 20);
  DatabaseOptions options;
  options.path = path;
  options.memory_limit = "1GiB";
  auto reopened = Database::Open(options);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto conn = (*reopened)->Connect().ValueOrDie();
  auto rows = conn->QueryTable("SELECT count(*), sum(length(s)) FROM t").ValueOrDie();
  EXPECT_EQ(rows->column(0)->GetScalar(0).ValueOrDie()->ToString(), "4");
  EXPECT_EQ(rows->column(1)->GetScalar(0).ValueOrDie()->ToString(),
            std::to_string(int64_t{4} * (int64_t{10} << 20)));
  conn.reset();
  reopened->reset();
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".wal");
  AllocationGuard::Install(budget_before);
}

}  // namespace allocation_guard_test
}  // namespace arrowport::storage
