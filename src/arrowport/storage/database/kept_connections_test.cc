#include "arrowport/storage/database/kept_connections.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "arrow/api.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/principal.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::storage {
namespace kept_connections_test {

class KeptConnectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    options.path = ":memory:";
    db_ = Database::Open(options).ValueOrDie();
    auto conn = db_->Connect().ValueOrDie();
    ASSERT_TRUE(conn->Execute("CREATE TABLE t AS SELECT range AS x FROM range(100000)").ok());
    admin_.user = "admin";
    admin_.role = Role::kAdmin;
  }

  // A client's read, judged by the SQL sandbox as every protocol's is.
  std::shared_ptr<arrow::RecordBatchReader> Read(
      const std::string& sql, std::shared_ptr<CallCancellation> cancellation = nullptr) {
    QueryOptions options;
    options.cancellation = std::move(cancellation);
    options.principal = std::make_shared<Principal>(admin_);
    options.batch_rows = 1000;
    auto reader = Connection::Query(db_->ConnectForRead().ValueOrDie(), sql, options);
    EXPECT_TRUE(reader.ok()) << sql << ": " << reader.status().ToString();
    return reader.ok() ? *reader : nullptr;
  }
  int64_t Rows(const std::string& sql) {
    auto reader = Read(sql);
    return reader ? reader->ToTable().ValueOrDie()->num_rows() : -1;
  }

  std::unique_ptr<Database> db_;
  Principal admin_;
};

TEST_F(KeptConnectionsTest, AWholeTableReadLeavesItsConnectionToTheNextRead) {
  EXPECT_EQ(db_->kept_read_connections(), 0u);
  EXPECT_EQ(Rows("SELECT * FROM t LIMIT 10"), 10);
  EXPECT_EQ(db_->kept_read_connections(), 1u);
  auto reader = Read("SELECT * FROM t");
  EXPECT_EQ(db_->kept_read_connections(), 0u);  // lent to this read
  EXPECT_EQ(reader->ToTable().ValueOrDie()->num_rows(), 100000);
  reader.reset();
  EXPECT_EQ(db_->kept_read_connections(), 1u);
}

TEST_F(KeptConnectionsTest, AnyOtherStatementClosesItsConnection) {
  // Whatever a statement may have set or called (setseed, a temporary object, a
  // transaction) must not reach the next caller: only a whole table's read is kept.
  for (const std::string sql :
       {"SELECT count(*) FROM t", "SELECT x FROM t", "SELECT * FROM t WHERE x < 5",
        "SELECT *, random() AS r FROM t LIMIT 3", "SELECT * FROM (SELECT * FROM t) s"}) {
    EXPECT_GE(Rows(sql), 1) << sql;
    EXPECT_EQ(db_->kept_read_connections(), 0u) << sql;
  }
  // Statements that change a connection's state, run or refused by the sandbox: either
  // way their connection is closed.
  for (const std::string sql :
       {"SELECT setseed(0.5)", "SET threads = 1", "CREATE TEMP TABLE tt AS SELECT 1 AS a",
        "BEGIN TRANSACTION", "PRAGMA enable_profiling"}) {
    QueryOptions options;
    options.principal = std::make_shared<Principal>(admin_);
    {
      auto reader = Connection::Query(db_->ConnectForRead().ValueOrDie(), sql, options);
      if (reader.ok()) (void)(*reader)->ToTable();
    }
    EXPECT_EQ(db_->kept_read_connections(), 0u) << sql;
  }
  // The server's own SQL (no principal) is not judged, and not kept either.
  auto own = Connection::Query(db_->ConnectForRead().ValueOrDie(), "SELECT * FROM t",
                               QueryOptions{});
  ASSERT_TRUE(own.ok());
  EXPECT_EQ((*own)->ToTable().ValueOrDie()->num_rows(), 100000);
  own->reset();
  EXPECT_EQ(db_->kept_read_connections(), 0u);
  // A read refused before it is planned closes its connection.
  EXPECT_FALSE(Connection::Query(db_->ConnectForRead().ValueOrDie(), "SELECT * FROM missing",
                                 QueryOptions{})
                   .ok());
  EXPECT_EQ(db_->kept_read_connections(), 0u);
}

TEST_F(KeptConnectionsTest, AReadOfGeneratedColumnsClosesItsConnection) {
  // A generated column runs its expression as the table is read: setseed() there reseeds
  // the reading connection, which must not hand the seed to the next caller (hostile run:
  // every later random() and gen_random_uuid() repeated, and UUID keys collided).
  auto conn = db_->Connect().ValueOrDie();
  ASSERT_TRUE(conn->Execute("CREATE TABLE g (a INTEGER, s DOUBLE AS (setseed(0.42)))").ok());
  ASSERT_TRUE(conn->Execute("INSERT INTO g (a) VALUES (1)").ok());
  EXPECT_EQ(Rows("SELECT * FROM g"), 1);
  EXPECT_EQ(db_->kept_read_connections(), 0u);
  EXPECT_EQ(Rows("SELECT * FROM g LIMIT 1"), 1);
  EXPECT_EQ(db_->kept_read_connections(), 0u);
}

TEST_F(KeptConnectionsTest, AKeptConnectionReadsWhatWasCommittedSince) {
  // A read left after its first batch: its snapshot is rolled back as it is kept, so the
  // next read on the same connection sees rows committed meanwhile.
  auto reader = Read("SELECT * FROM t");
  std::shared_ptr<arrow::RecordBatch> first;
  ASSERT_TRUE(reader->ReadNext(&first).ok());
  ASSERT_NE(first, nullptr);
  reader.reset();
  ASSERT_EQ(db_->kept_read_connections(), 1u);
  auto writer = db_->Connect().ValueOrDie();
  ASSERT_TRUE(writer->Execute("INSERT INTO t SELECT range FROM range(5)").ok());
  EXPECT_EQ(Rows("SELECT * FROM t"), 100005);
  // And a table dropped and made again (another table of the same name) is read as new.
  ASSERT_TRUE(writer->Execute("DROP TABLE t").ok());
  ASSERT_TRUE(writer->Execute("CREATE TABLE t AS SELECT 'a' AS s").ok());
  auto again = Read("SELECT * FROM t")->ToTable().ValueOrDie();
  EXPECT_EQ(again->num_rows(), 1);
  EXPECT_EQ(again->schema()->field(0)->name(), "s");
}

TEST_F(KeptConnectionsTest, AReadInterruptedMidStreamLeavesNothingToTheNext) {
  // Its caller left: DuckDB was interrupted while its workers converted. Kept or not,
  // the next read must not inherit the interruption.
  for (int i = 0; i < 3; ++i) {
    auto cancellation = CallCancellation::Make();
    auto reader = Read("SELECT * FROM t", cancellation);
    std::shared_ptr<arrow::RecordBatch> first;
    ASSERT_TRUE(reader->ReadNext(&first).ok());
    cancellation->Cancel(arrow::Status::Cancelled("the client went away"));
    std::shared_ptr<arrow::RecordBatch> next;
    while (reader->ReadNext(&next).ok() && next != nullptr) {
    }
    reader.reset();
    EXPECT_EQ(db_->kept_read_connections(), 1u);  // kept: the next read gets it
    EXPECT_EQ(Rows("SELECT * FROM t"), 100000);
    EXPECT_EQ(Rows("SELECT * FROM t LIMIT 7"), 7);
  }
}

TEST_F(KeptConnectionsTest, AtMostKMaxKeptStayHoweverManyReadsRanAtOnce) {
  std::vector<std::shared_ptr<arrow::RecordBatchReader>> readers;
  for (size_t i = 0; i < KeptConnections::kMaxKept + 3; ++i) {
    readers.push_back(Read("SELECT * FROM t"));
  }
  readers.clear();
  EXPECT_EQ(db_->kept_read_connections(), KeptConnections::kMaxKept);
  // Each is lent again, one at a time.
  EXPECT_EQ(Rows("SELECT * FROM t LIMIT 1"), 1);
  EXPECT_EQ(db_->kept_read_connections(), KeptConnections::kMaxKept);
}

}  // namespace kept_connections_test
}  // namespace arrowport::storage
