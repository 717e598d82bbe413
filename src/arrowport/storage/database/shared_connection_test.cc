#include "arrowport/storage/database/shared_connection.h"

#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "arrow/api.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/prepared_statement.h"

namespace arrowport::storage {
namespace shared_connection_test {

using Clock = SharedConnection::Clock;

class SharedConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    options.path = ":memory:";
    db_ = Database::Open(options).ValueOrDie();
    auto setup = db_->Connect().ValueOrDie();
    ASSERT_TRUE(setup->Execute("CREATE TABLE t AS SELECT range AS x FROM range(100000)").ok());
    shared_ = SharedConnection::Make(db_->Connect().ValueOrDie());
  }
  int64_t Count(Connection* conn, const std::string& table = "t") {
    auto result = conn->QueryTable("SELECT count(*) FROM " + table).ValueOrDie();
    return std::stoll(result->column(0)->GetScalar(0).ValueOrDie()->ToString());
  }
  // In a transaction on `lease`: one row inserted, then a result over t opened, its
  // first batch read (DuckDB refuses a ROLLBACK while it is open).
  static std::shared_ptr<arrow::RecordBatchReader> InsertThenOpenAResult(
      ConnectionLease& lease, std::shared_ptr<PreparedStatement>* statement) {
    EXPECT_TRUE(lease.Begin().ok());
    EXPECT_TRUE(lease->Execute("INSERT INTO t VALUES (-1)").ok());
    *statement = PreparedStatement::Make(lease, "SELECT * FROM t").ValueOrDie();
    QueryOptions options;
    options.batch_rows = 1000;
    options.prefetch = false;
    auto open = PreparedStatement::Query(*statement, lease, options).ValueOrDie();
    std::shared_ptr<arrow::RecordBatch> batch;
    EXPECT_TRUE(open->ReadNext(&batch).ok());
    return open;
  }
  std::unique_ptr<Database> db_;
  std::shared_ptr<SharedConnection> shared_;
};

TEST_F(SharedConnectionTest, OneLeaseAtATimeAndTheNextWaitsThenHearsWhatHoldsIt) {
  auto first = shared_->Acquire("a result being read of 'SELECT * FROM t'", Clock::now());
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(shared_->in_use());
  EXPECT_EQ(shared_->IdleSince(), std::nullopt);
  EXPECT_FALSE(shared_->TryAcquire("second").has_value());
  const auto start = Clock::now();
  auto refused = shared_->Acquire("committing", Clock::now() + std::chrono::milliseconds(300));
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(300));
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(HasErrorKind(refused.status(), ErrorKind::kInUse)) << refused.status();
  EXPECT_NE(refused.status().message().find("SELECT * FROM t"), std::string::npos);
  // A waiter gets the connection as soon as the holder lets go.
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    first->Release();
  });
  auto second = shared_->Acquire("committing", Clock::now() + std::chrono::seconds(10));
  release.join();
  ASSERT_TRUE(second.ok()) << second.status();
  second->Release();
  EXPECT_FALSE(shared_->in_use());
  EXPECT_NE(shared_->IdleSince(), std::nullopt);
}

TEST_F(SharedConnectionTest, ACancelledCallStopsWaiting) {
  auto held = shared_->TryAcquire("holder");
  auto cancellation = CallCancellation::Make();
  std::thread cancel([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancellation->Cancel(arrow::Status::Cancelled("client gone"));
  });
  auto refused = shared_->Acquire("waiter", Clock::now() + std::chrono::seconds(30), cancellation);
  cancel.join();
  EXPECT_TRUE(refused.status().IsCancelled()) << refused.status();
}

// Issue 64: a client's rollback was refused while a result of its transaction was being
// read. AcquireStopping stops the holding call: its cancellation first (a result that is
// read ends with the reason), then, for a holder that does not let go (blocked writing to
// a client that reads nothing more), its last resort (gRPC's TryCancel in the server).
TEST_F(SharedConnectionTest, AcquireStoppingStopsTheCallHoldingTheConnection) {
  auto holder_call = CallCancellation::Make();
  std::optional<ConnectionLease> held =
      shared_->Acquire("a result being read", Clock::now(), holder_call).ValueOrDie();
  // The holder lets go as soon as it is cancelled.
  auto interrupt = CallCancellation::OnCancel(holder_call, [&] { held.reset(); });
  auto stopped = shared_->AcquireStopping("rolling back", Clock::now() + std::chrono::seconds(5),
                                          nullptr, arrow::Status::Cancelled("rolled back"));
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_EQ(holder_call->reason().message(), "rolled back");
  stopped->Release();

  // One that lets go only when its transport is cut: after kStopGrace.
  auto stuck_call = CallCancellation::Make();
  std::optional<ConnectionLease> stuck =
      shared_->Acquire("a result nobody reads", Clock::now(), stuck_call).ValueOrDie();
  auto cut = CallCancellation::OnStuck(stuck_call, [&] { stuck.reset(); });
  const auto started = Clock::now();
  auto after_cut = shared_->AcquireStopping(
      "rolling back", Clock::now() + std::chrono::seconds(10), nullptr,
      arrow::Status::Cancelled("rolled back"));
  ASSERT_TRUE(after_cut.ok()) << after_cut.status();
  EXPECT_GE(Clock::now() - started, SharedConnection::kStopGrace);
  EXPECT_TRUE(stuck_call->cancelled());
}

// The outside review of issue 64: a commit stopped a statement still running in its
// transaction (a query before its first rows), and DuckDB aborts a transaction whose
// statement is interrupted: the commit then rolled everything back. A commit stops only
// a result being read (Stopping::kResultReader), which stops between chunks.
TEST_F(SharedConnectionTest, ACommitStopsOnlyAResultBeingRead) {
  using Stopping = SharedConnection::Stopping;
  auto statement_call = CallCancellation::Make();
  auto held = shared_->Acquire("a statement", Clock::now(), statement_call).ValueOrDie();
  auto waited = shared_->AcquireStopping("committing", Clock::now() + std::chrono::milliseconds(300),
                                         nullptr, arrow::Status::Cancelled("committed"),
                                         Stopping::kResultReader);
  EXPECT_TRUE(HasErrorKind(waited.status(), ErrorKind::kInUse)) << waited.status();
  EXPECT_FALSE(statement_call->cancelled());
  // The statement's rows arrive: its lease is now a result reader's, which may be stopped.
  std::thread becomes_a_reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    auto empty = arrow::RecordBatchReader::Make({}, arrow::schema({})).ValueOrDie();
    auto reader = MakeLeasedReader(empty, std::move(held));
    while (!statement_call->cancelled()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    (void)reader->Close();  // a stopped reader lets go of its lease
  });
  auto stopped = shared_->AcquireStopping("committing", Clock::now() + std::chrono::seconds(10),
                                          nullptr, arrow::Status::Cancelled("committed"),
                                          Stopping::kResultReader);
  becomes_a_reader.join();
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_TRUE(statement_call->cancelled());
}

// The defect the hardening issue found: DuckDB refuses ROLLBACK while a result is still
// open on the connection, and the refusal was reported as a rollback done. Rollback()
// now says so, and the transaction is still seen as open.
TEST_F(SharedConnectionTest, ARefusedCommitOrRollbackIsReportedNotTakenForDone) {
  auto lease = shared_->TryAcquire("test");
  std::shared_ptr<PreparedStatement> statement;
  auto open = InsertThenOpenAResult(*lease, &statement);
  auto commit = lease->Commit();  // DuckDB's own refusal, whichever way the server commits
  EXPECT_FALSE(commit.ok());
  EXPECT_NE(commit.message().find("open result"), std::string::npos) << commit;
  auto refused = lease->Rollback();
  EXPECT_FALSE(refused.ok());
  EXPECT_TRUE(lease->in_transaction());
  open.reset();  // the result is gone: now it rolls back
  ASSERT_TRUE(lease->Rollback().ok());
  EXPECT_FALSE(lease->in_transaction());
  auto reader = db_->Connect().ValueOrDie();
  EXPECT_EQ(Count(reader.get()), 100000);
}

// Found by an outside review: ingest writers and prepared-statement readers ignored a
// refused ROLLBACK on a shared connection, leaving a transaction nobody owned that a later
// call joined; now the connection is closed (rolled back) as the lease ends.
TEST_F(SharedConnectionTest, ARefusedRollbackDiscardsTheConnectionWhenTheLeaseEnds) {
  auto lease = shared_->TryAcquire("test");
  std::shared_ptr<PreparedStatement> statement;
  auto open = InsertThenOpenAResult(*lease, &statement);
  EXPECT_FALSE(lease->RollbackOrDiscard().ok());
  open.reset();  // cleanup still runs on the connection under the lease
  statement.reset();
  EXPECT_TRUE((*lease)->Execute("SELECT 1").ok());
  lease->Release();
  auto after = shared_->Acquire("later", Clock::now());
  EXPECT_TRUE(after.status().IsIOError()) << after.status();
  auto reader = db_->Connect().ValueOrDie();
  EXPECT_EQ(Count(reader.get()), 100000);
}

TEST_F(SharedConnectionTest, AResultKeepsItsLeaseUntilItsLastBatch) {
  auto lease = shared_->Acquire("a result being read", Clock::now()).ValueOrDie();
  ASSERT_TRUE(lease.Begin().ok());
  ASSERT_TRUE(lease->Execute("INSERT INTO t SELECT -range FROM range(1, 1001)").ok());
  auto statement = PreparedStatement::Make(lease, "SELECT * FROM t").ValueOrDie();
  QueryOptions options;
  options.batch_rows = 10000;
  auto result = PreparedStatement::Query(statement, lease, options).ValueOrDie();
  auto reader = MakeLeasedReader(std::move(result), std::move(lease));
  int64_t rows = 0;
  std::shared_ptr<arrow::RecordBatch> batch;
  while (true) {
    ASSERT_TRUE(reader->ReadNext(&batch).ok());
    if (batch == nullptr) break;
    EXPECT_TRUE(shared_->in_use());  // nothing else runs on it while it is read
    rows += batch->num_rows();
  }
  EXPECT_EQ(rows, 101000);
  // Right after the last batch, before the reader is destroyed, the connection is free
  // and its transaction can end.
  EXPECT_FALSE(shared_->in_use());
  auto next = shared_->TryAcquire("commit");
  ASSERT_TRUE(next.has_value());
  EXPECT_TRUE(next->in_transaction());
  ASSERT_TRUE(next->Rollback().ok());
}

TEST_F(SharedConnectionTest, DiscardClosesTheConnectionAndRollsBack) {
  auto lease = shared_->TryAcquire("test");
  ASSERT_TRUE(lease->Begin().ok());
  ASSERT_TRUE((*lease)->Execute("INSERT INTO t VALUES (-1)").ok());
  shared_->Discard(std::move(*lease));
  EXPECT_FALSE(shared_->in_use());
  auto after = shared_->Acquire("later", Clock::now());
  EXPECT_TRUE(after.status().IsIOError()) << after.status();
  auto reader = db_->Connect().ValueOrDie();
  EXPECT_EQ(Count(reader.get()), 100000);
}

// The server's BEGIN and COMMIT go through DuckDB's C++ API (duckdb_internals.h): a
// commit that fails ends the transaction as SQL COMMIT does, and the connection goes on.
TEST_F(SharedConnectionTest, ACommitThatConflictsEndsTheTransactionAndKeepsTheOtherRow) {
  auto setup = db_->Connect().ValueOrDie();
  ASSERT_TRUE(setup->Execute("CREATE TABLE k (id BIGINT PRIMARY KEY)").ok());
  auto other = SharedConnection::Make(db_->Connect().ValueOrDie());
  auto first = shared_->TryAcquire("first");
  auto second = other->TryAcquire("second");
  ASSERT_TRUE(first->Begin().ok());
  ASSERT_TRUE(second->Begin().ok());
  ASSERT_TRUE((*first)->Execute("INSERT INTO k VALUES (1)").ok());
  ASSERT_TRUE((*second)->Execute("INSERT INTO k VALUES (1)").ok());
  ASSERT_TRUE(first->Commit().ok());
  auto conflict = second->Commit();
  EXPECT_FALSE(conflict.ok());
  EXPECT_NE(conflict.message().find("duplicate key"), std::string::npos) << conflict;
  EXPECT_FALSE(second->in_transaction());
  EXPECT_EQ(Count(setup.get(), "k"), 1);
  // The connection goes on: a new transaction begins and commits.
  ASSERT_TRUE(second->Begin().ok());
  ASSERT_TRUE((*second)->Execute("INSERT INTO k VALUES (2)").ok());
  ASSERT_TRUE(second->Commit().ok());
  EXPECT_EQ(Count(setup.get(), "k"), 2);
  ASSERT_TRUE(first->Begin().ok());
  auto twice = first->Begin();
  EXPECT_NE(twice.message().find("within a transaction"), std::string::npos) << twice;
}

}  // namespace shared_connection_test
}  // namespace arrowport::storage
