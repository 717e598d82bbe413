#include "arrowport/storage/catalog/request_log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/common/identifier.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/shared_connection.h"

namespace arrowport::storage {
namespace request_log_test {

class RequestLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    options.path = ":memory:";
    db_ = Database::Open(options).ValueOrDie();
    lease_.emplace(ConnectionLease::Own(db_->Connect().ValueOrDie()));
    conn_ = &lease_->connection();
    ASSERT_TRUE(log_.Ensure(&*lease_).ok());
  }

  void Commit(const RequestKey& key, int64_t rows) {
    auto record = RequestLog::Record(key, "stream", rows, 1);
    ASSERT_TRUE(record.ok()) << record.status().ToString();
    auto appended = conn_->AppendAtomically({*record});
    ASSERT_TRUE(appended.ok()) << appended.ToString();
  }

  std::optional<int64_t> LoggedRows(const RequestKey& key) {
    auto found = RequestLog::Lookup(conn_, key);
    EXPECT_TRUE(found.ok()) << found.status().ToString();
    if (!found.ok() || !*found) return std::nullopt;
    return (*found)->rows;
  }

  std::unique_ptr<Database> db_;
  std::optional<ConnectionLease> lease_;
  Connection* conn_ = nullptr;
  RequestLog log_;
};

// A request id names a request to one table: the same id sent to another table was
// answered as a duplicate there and wrote nothing (found by a hostile run).
TEST_F(RequestLogTest, AnIdIsScopedToTheTableItWrites) {
  Commit(RequestKey("req-1", TableName("a")), 10);
  EXPECT_EQ(LoggedRows(RequestKey("req-1", TableName("a"))), 10);
  EXPECT_EQ(LoggedRows(RequestKey("req-1", TableName("A"))), 10);  // DuckDB: one table
  EXPECT_EQ(LoggedRows(RequestKey("req-1", TableName("b"))), std::nullopt);
  EXPECT_EQ(LoggedRows(RequestKey("req-1", TableName("s", "a"))), std::nullopt);
  Commit(RequestKey("req-1", TableName("b")), 20);  // not refused by a's entry
  EXPECT_EQ(LoggedRows(RequestKey("req-1", TableName("b"))), 20);
  EXPECT_EQ(LoggedRows(RequestKey("req-1", TableName("a"))), 10);
  // A per_batch request's batches are entries of their own, per table too.
  Commit(RequestKey("req-1", TableName("a"), 0), 3);
  EXPECT_EQ(LoggedRows(RequestKey("req-1", TableName("a"), 0)), 3);
  EXPECT_EQ(LoggedRows(RequestKey("req-1", TableName("a"), 1)), std::nullopt);
  EXPECT_EQ(LoggedRows(RequestKey("req-1", TableName("b"), 0)), std::nullopt);
}

// Entries logged before ids were scoped (key = the id, table in table_name) are re-keyed
// to their tables when a server first uses the log: a retry across an upgrade is then a
// duplicate on every path, the small ones too, which only meet the key's index (a
// hostile run found those written twice while old keys were merely looked up as well).
TEST_F(RequestLogTest, EntriesLoggedBeforeIdsWereScopedAreRekeyedToTheirTables) {
  const std::string log = QuoteIdentifier(conn_->catalog()) + ".arrowport.requests";
  ASSERT_TRUE(conn_
                  ->Execute("INSERT INTO " + log +
                            " (request_id, stream, table_name, rows, batches) VALUES "
                            "('old', 'a', 'A', 7, 1), ('old batch 2', 'a', 's.t', 4, 1), "
                            "('lost', 'x', NULL, 1, 1), ('both', 'a', 'a', 1, 1)")
                  .ok());
  Commit(RequestKey("new", TableName("a")), 3);
  // Written again by the first scoped server's small path, which did not see the old one.
  Commit(RequestKey("both", TableName("a")), 2);
  RequestLog upgraded;  // as a server started on the file
  ASSERT_TRUE(upgraded.Ensure(&*lease_).ok());
  EXPECT_EQ(LoggedRows(RequestKey("old", TableName("a"))), 7);
  EXPECT_EQ(LoggedRows(RequestKey("old", TableName("b"))), std::nullopt);
  EXPECT_EQ(LoggedRows(RequestKey("old", TableName("s", "t"), 2)), 4);
  EXPECT_EQ(LoggedRows(RequestKey("old", TableName("a"), 2)), std::nullopt);
  EXPECT_EQ(LoggedRows(RequestKey("new", TableName("a"))), 3);
  // The small paths' refusal: the log's key itself.
  auto again = conn_->AppendAtomically({RequestLog::Record(RequestKey("old", TableName("a")),
                                                           "a", 7, 1).ValueOrDie()});
  EXPECT_FALSE(again.ok());
  Commit(RequestKey("old", TableName("b")), 9);
  EXPECT_EQ(LoggedRows(RequestKey("old", TableName("b"))), 9);
  auto left = conn_->QueryTable("SELECT count(*) FROM " + log +
                                " WHERE request_id NOT LIKE '% to %'");
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left.ValueOrDie()->column(0)->GetScalar(0).ValueOrDie()->ToString(), "0");
  EXPECT_EQ(LoggedRows(RequestKey("both", TableName("a"))), 2);  // kept as it was
  RequestLog again_started;  // nothing left to re-key
  EXPECT_TRUE(again_started.Ensure(&*lease_).ok());
  EXPECT_EQ(LoggedRows(RequestKey("old", TableName("a"))), 7);
}

// At server start, a large log is re-keyed in several transactions before any call; a
// database without a log is left without one.
TEST_F(RequestLogTest, AtStartALargeLogIsRekeyedAndNoLogIsMade) {
  const std::string log = QuoteIdentifier(conn_->catalog()) + ".arrowport.requests";
  ASSERT_TRUE(conn_
                  ->Execute("INSERT INTO " + log +
                            " (request_id, stream, table_name, rows, batches) SELECT 'k' || "
                            "i, 's', 't', i, 1 FROM range(120000) r(i)")
                  .ok());
  RequestLog at_start;
  auto rekeyed = at_start.RekeyAtStart(&*lease_);
  ASSERT_TRUE(rekeyed.ok()) << rekeyed.status().ToString();
  EXPECT_EQ(*rekeyed, 120000);
  EXPECT_EQ(LoggedRows(RequestKey("k119999", TableName("t"))), 119999);
  EXPECT_EQ(at_start.RekeyAtStart(&*lease_).ValueOrDie(), 0);

  DatabaseOptions options;
  options.path = ":memory:";
  auto fresh = Database::Open(options).ValueOrDie();
  auto lease = ConnectionLease::Own(fresh->Connect().ValueOrDie());
  RequestLog none;
  EXPECT_EQ(none.RekeyAtStart(&lease).ValueOrDie(), 0);
  auto schemas = lease.connection().QueryTable(
      "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'arrowport'");
  ASSERT_TRUE(schemas.ok());
  EXPECT_EQ(schemas.ValueOrDie()->column(0)->GetScalar(0).ValueOrDie()->ToString(), "0");
}

// A log with a column of its own (added by hand): the re-keying names its columns, so
// it still runs (by position, every request with an id failed after the upgrade).
TEST_F(RequestLogTest, ALogWithAColumnOfItsOwnIsRekeyed) {
  const std::string log = QuoteIdentifier(conn_->catalog()) + ".arrowport.requests";
  ASSERT_TRUE(conn_->Execute("ALTER TABLE " + log + " ADD COLUMN note VARCHAR").ok());
  ASSERT_TRUE(conn_
                  ->Execute("INSERT INTO " + log +
                            " (request_id, stream, table_name, rows, batches, note) VALUES "
                            "('old', 'a', 'a', 7, 1, 'by hand')")
                  .ok());
  RequestLog at_start;
  auto rekeyed = at_start.RekeyAtStart(&*lease_);
  ASSERT_TRUE(rekeyed.ok()) << rekeyed.status().ToString();
  EXPECT_EQ(*rekeyed, 1);
  EXPECT_EQ(LoggedRows(RequestKey("old", TableName("a"))), 7);
}

// A log changed by hand: an entry whose count is NULL or text is named in a clear error
// (it was "internal error: stoll"); the server's, not the request's.
TEST_F(RequestLogTest, AnEntryWithoutCountsIsNamedInTheError) {
  const std::string log = QuoteIdentifier(conn_->catalog()) + ".arrowport.requests";
  Commit(RequestKey("gone", TableName("a")), 5);
  ASSERT_TRUE(conn_->Execute("UPDATE " + log + " SET rows = NULL").ok());
  auto found = RequestLog::Lookup(conn_, RequestKey("gone", TableName("a")));
  ASSERT_FALSE(found.ok());
  EXPECT_TRUE(found.status().IsIOError()) << found.status();
  EXPECT_NE(found.status().message().find("'gone to a') without a row or batch count"),
            std::string::npos)
      << found.status();
  // A retry whose log row that entry refuses is told so at once: it waited 2 s for a
  // racing copy and was answered "retryable conflict", on every retry (hostile run).
  const auto started = std::chrono::steady_clock::now();
  auto answered = RequestLog::CommittedByARacingCopy(
      conn_, RequestKey("gone", TableName("a")),
      arrow::Status::Invalid("Constraint Error: Duplicate key \"request_id: gone to a\""));
  ASSERT_FALSE(answered.ok());
  EXPECT_TRUE(answered.status().IsIOError()) << answered.status();
  EXPECT_EQ(GetErrorKind(answered.status()), nullptr) << answered.status();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
}

// A log of a shape no server made (an INTEGER id, by hand): the re-keying fails, and
// requests with an id are refused as the server's failure, not as a bad request
// (DuckDB's conversion error read as INVALID_ARGUMENT).
TEST_F(RequestLogTest, ALogNoServerMadeIsTheServersFailure) {
  const std::string log = QuoteIdentifier(conn_->catalog()) + ".arrowport.requests";
  ASSERT_TRUE(conn_->Execute("DROP TABLE " + log).ok());
  ASSERT_TRUE(conn_
                  ->Execute("CREATE TABLE " + log +
                            " (request_id INTEGER PRIMARY KEY, stream VARCHAR, table_name "
                            "VARCHAR, rows BIGINT, batches BIGINT, committed_at TIMESTAMP)")
                  .ok());
  ASSERT_TRUE(conn_->Execute("INSERT INTO " + log + " VALUES (1, 'a', 'a', 1, 1, NULL)").ok());
  RequestLog fresh;
  auto st = fresh.Ensure(&*lease_);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.IsIOError()) << st;
  EXPECT_NE(st.message().find("request log (arrowport.requests) cannot be used"),
            std::string::npos)
      << st;
  // A log without a count column: the lookup's binder error is the server's too.
  ASSERT_TRUE(conn_->Execute("DROP TABLE " + log).ok());
  ASSERT_TRUE(conn_->Execute("CREATE TABLE " + log + " (request_id VARCHAR PRIMARY KEY)").ok());
  auto found = RequestLog::Lookup(conn_, RequestKey("r", TableName("a")));
  ASSERT_FALSE(found.ok());
  EXPECT_TRUE(found.status().IsIOError()) << found.status();
}

// Two copies of one request written at once. DuckDB 2.0 lets both write their log row
// and refuses the second to commit: that copy is answered with the first one's counts.
TEST_F(RequestLogTest, ACopyRefusedAtCommitIsAnsweredWithTheCountsTheOtherCommitted) {
  const RequestKey key("race", TableName("A"));
  EXPECT_EQ(key.scoped, "race to a");
  auto other = RequestLog::CommittedByARacingCopy(conn_, key,
                                                  arrow::Status::IOError("disk full"));
  EXPECT_EQ(other.status().message(), "disk full");  // not the log's refusal: as it is

  auto late = ConnectionLease::Own(db_->Connect().ValueOrDie());
  ASSERT_TRUE(late.Begin().ok());
  ASSERT_TRUE(late.connection()
                  .AppendAtomically({RequestLog::Record(key, "s", 5, 1).ValueOrDie()})
                  .ok());
  Commit(key, 9);  // the first copy to commit
  auto refused = late.Commit();
  ASSERT_FALSE(refused.ok());
  auto answered = RequestLog::CommittedByARacingCopy(&late.connection(), key, refused);
  ASSERT_TRUE(answered.ok()) << refused.ToString() << " -> " << answered.status().ToString();
  EXPECT_EQ(answered->rows, 9);
}

// A copy whose log row was refused ("Duplicate key", DuckDB's word for a key another
// transaction holds) while the other copy has not committed yet waits for its outcome.
TEST_F(RequestLogTest, ACopyRefusedBeforeTheOtherCommitsWaitsForIt) {
  const RequestKey key("wait", TableName("a"));
  auto first = ConnectionLease::Own(db_->Connect().ValueOrDie());
  ASSERT_TRUE(first.Begin().ok());
  ASSERT_TRUE(first.connection()
                  .AppendAtomically({RequestLog::Record(key, "s", 5, 1).ValueOrDie()})
                  .ok());
  std::thread commit([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_TRUE(first.Commit().ok());
  });
  auto refused = arrow::Status::Invalid("Constraint Error: Duplicate key \"request_id: " +
                                        key.scoped + "\" violates primary key constraint.");
  auto answered = RequestLog::CommittedByARacingCopy(conn_, key, refused);
  commit.join();
  ASSERT_TRUE(answered.ok()) << answered.status().ToString();
  EXPECT_EQ(answered->rows, 5);
}

}  // namespace request_log_test
}  // namespace arrowport::storage
