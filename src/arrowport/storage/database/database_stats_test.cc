#include "arrowport/storage/database/database_stats.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::storage {
namespace database_stats_test {


// 100,000 rows of a BIGINT, a DOUBLE and a VARCHAR of 10 bytes: 1.6 MB of fixed-width
// values and 1 MB of strings, uncompressed.
constexpr const char* kCreate =
    "CREATE TABLE t AS SELECT range::BIGINT AS id, range * 0.5 AS reading, "
    "printf('%010d', range) AS label FROM range(100000)";
constexpr int64_t kValueBytes = 100000 * (8 + 8 + 10);


// Rows not yet checkpointed have no blocks in the file: the status page showed `0 B` for
// tables of 100k and 1.3M rows written since the last checkpoint.
TEST(DatabaseStats, TableBytesCountRowsNotCheckpointedYet) {
  const std::string path = ::testing::TempDir() + "/arrowport_table_bytes_" +
                           std::to_string(::getpid()) + ".duckdb";
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".wal");
  {
    DatabaseOptions options;
    options.path = path;
    options.checkpoint_wal_bytes = int64_t{1} << 40;  // only the test checkpoints
    auto db = Database::Open(options).ValueOrDie();
    auto conn = db->Connect().ValueOrDie();
    ASSERT_TRUE(conn->Execute(kCreate).ok());
    const int64_t in_wal = ReadTableBytes(db.get(), "t").ValueOrDie();
    EXPECT_GE(in_wal, kValueBytes);
    EXPECT_LT(in_wal, 2 * kValueBytes);
    ASSERT_TRUE(db->Checkpoint().ok());
    // Checkpointed: whole blocks of the file, compressed (less than the values, more
    // than nothing).
    const int64_t in_file = ReadTableBytes(db.get(), "t").ValueOrDie();
    EXPECT_GT(in_file, 0);
    EXPECT_LE(in_file, 2 * kValueBytes);
    // More rows after the checkpoint: the file's blocks and the new rows' values.
    ASSERT_TRUE(conn->Execute("INSERT INTO t SELECT * FROM t").ok());
    EXPECT_GE(ReadTableBytes(db.get(), "t").ValueOrDie(), in_file + kValueBytes);
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".wal");
}

TEST(DatabaseStats, TableBytesOfAnInMemoryDatabase) {
  DatabaseOptions options;
  options.path = ":memory:";
  auto db = Database::Open(options).ValueOrDie();
  auto conn = db->Connect().ValueOrDie();
  ASSERT_TRUE(conn->Execute(kCreate).ok());
  const int64_t bytes = ReadTableBytes(db.get(), "t").ValueOrDie();
  EXPECT_GE(bytes, kValueBytes);
  EXPECT_LT(bytes, 2 * kValueBytes);
  EXPECT_FALSE(ReadTableBytes(db.get(), "absent").ok());
}

TEST(DatabaseStats, SegmentBytesByType) {
  EXPECT_EQ(SegmentBytes("VALIDITY", 100, 0), 13);
  EXPECT_EQ(SegmentBytes("BIGINT", 100, 0), 800);
  EXPECT_EQ(SegmentBytes("TIMESTAMP WITH TIME ZONE", 100, 0), 800);
  EXPECT_EQ(SegmentBytes("INTEGER", 100, 0), 400);
  EXPECT_EQ(SegmentBytes("BOOLEAN", 100, 0), 100);
  EXPECT_EQ(SegmentBytes("DECIMAL(9,2)", 100, 0), 400);
  EXPECT_EQ(SegmentBytes("DECIMAL(38,2)", 100, 0), 1600);
  EXPECT_EQ(SegmentBytes("VARCHAR", 100, 1000), 1400);
  EXPECT_EQ(SegmentBytes("BIGINT[]", 100, 0), 800);
  EXPECT_EQ(SegmentBytes("UUID", 100, 0), 1600);
}

}  // namespace database_stats_test
}  // namespace arrowport::storage
