// A session's transactions as their owner, the session registry, begins and ends them
// (issue 67: the abandoned-transaction fix of issue 64 lives there).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "arrow/api.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/sql/session_registry.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/session_connection.h"
#include "arrowport/test_support/session_test_database.h"

namespace arrowport::flight::sql {
namespace session_transactions_test {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

Caller In(const std::string& session, const std::string& user = "alice") {
  return Caller{session, user, true, ""};
}

SessionWait For(milliseconds wait) { return SessionWait{Clock::now() + wait, nullptr}; }

class SessionTransactionsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(db_.Execute("CREATE TABLE t (x INT)").ok()); }
  SessionRegistry::OpenConnection Opener() {
    return [this]() -> arrow::Result<std::shared_ptr<query::SessionConnection>> {
      return db_.Open();
    };
  }
  // Begins a transaction of `caller` that inserts one row.
  std::string BeginWriting(SessionRegistry& registry, const Caller& caller) {
    auto id = registry.BeginTransaction(caller, Opener(), For(seconds(2))).ValueOrDie();
    auto txn = registry.FindTransaction(id, caller).ValueOrDie();
    auto lease = txn->connection->TryAcquire("test");
    EXPECT_TRUE(db_.ExecuteOn(*lease, "INSERT INTO t VALUES (1)").ok());
    return id;
  }
  int64_t Rows() { return db_.Count("SELECT count(*) FROM t"); }
  query::testing::SessionTestDatabase db_;
};

TEST_F(SessionTransactionsTest, BegunCommittedAndRolledBackByTheirOwnerOnly) {
  SessionRegistry registry(nullptr, seconds(60));
  const auto kept = BeginWriting(registry, In("a"));
  const auto dropped = BeginWriting(registry, In("a"));
  EXPECT_TRUE(registry.EndTransaction(In("a", "mallory"), kept, false, For(seconds(2)), nullptr)
                  .IsKeyError());
  EXPECT_TRUE(registry.EndTransaction(In("b"), kept, false, For(seconds(2)), nullptr)
                  .IsKeyError());
  ASSERT_TRUE(registry.EndTransaction(In("a"), kept, false, For(seconds(2)), nullptr).ok());
  ASSERT_TRUE(registry.EndTransaction(In("a"), dropped, true, For(seconds(2)), nullptr).ok());
  EXPECT_EQ(Rows(), 1);
  EXPECT_EQ(registry.open_transactions(), 0u);
  EXPECT_TRUE(registry.EndTransaction(In("a"), kept, false, For(seconds(2)), nullptr)
                  .IsKeyError());
}

TEST_F(SessionTransactionsTest, ACommitWhoseCallIsGoneRollsBack) {
  SessionRegistry registry(nullptr, seconds(60));
  const auto id = BeginWriting(registry, In("a"));
  auto st = registry.EndTransaction(In("a"), id, false, For(seconds(2)), [] { return true; });
  EXPECT_TRUE(st.IsCancelled()) << st;
  EXPECT_EQ(Rows(), 0);
  EXPECT_EQ(registry.open_transactions(), 0u);
}

// Issue 64: a rollback while a result of the transaction is being read stops that result
// (the call reading it is cancelled) and rolls back, rather than being refused as busy.
TEST_F(SessionTransactionsTest, ARollbackStopsAResultBeingRead) {
  SessionRegistry registry(nullptr, seconds(60));
  const auto id = BeginWriting(registry, In("a"));
  auto txn = registry.FindTransaction(id, In("a")).ValueOrDie();
  auto reader = CallCancellation::Make();
  auto reading = txn->connection->Acquire("a result being read", Clock::now() + seconds(1),
                                          reader);
  ASSERT_TRUE(reading.ok());
  std::thread stops([&] {
    for (int i = 0; i < 200 && !reader->cancelled(); ++i) {
      std::this_thread::sleep_for(milliseconds(25));
    }
    reading->Release();  // the stream ends on its cancellation
  });
  auto st = registry.EndTransaction(In("a"), id, true, For(seconds(10)), nullptr);
  stops.join();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_TRUE(reader->cancelled());
  EXPECT_EQ(Rows(), 0);
  EXPECT_EQ(registry.open_transactions(), 0u);
}

// ADBC forgets the transaction whatever EndTransaction answers: a rollback refused while
// the connection stayed busy is done by the next call that leases it.
TEST_F(SessionTransactionsTest, ARefusedRollbackIsDoneByTheNextCall) {
  SessionRegistry registry(nullptr, seconds(60));
  const auto id = BeginWriting(registry, In("a"));
  auto txn = registry.FindTransaction(id, In("a")).ValueOrDie();
  {
    auto busy = txn->connection->TryAcquire("a statement that does not stop");
    auto refused = registry.EndTransaction(In("a"), id, true, For(milliseconds(300)), nullptr);
    EXPECT_TRUE(HasErrorKind(refused, ErrorKind::kInUse)) << refused;
    EXPECT_NE(refused.message().find("will be rolled back as soon as its connection is free"),
              std::string::npos)
        << refused;
  }
  auto lease = txn->connection->TryAcquire("the next call");
  auto settled = registry.CheckLeased(*lease, id, txn);
  EXPECT_TRUE(settled.IsKeyError()) << settled;
  EXPECT_FALSE(query::QueryPipeline::InTransaction(*lease));
  lease.reset();
  EXPECT_EQ(Rows(), 0);
  EXPECT_EQ(registry.open_transactions(), 0u);
}

// A refused commit leaves the transaction open: a call naming no transaction on the
// session's pinned connection is refused rather than run inside it.
TEST_F(SessionTransactionsTest, AfterARefusedCommitTheSessionRefusesUnnamedCalls) {
  SessionRegistry registry(nullptr, seconds(60));
  auto pinned = registry.Pin(In("a"), Opener()).ValueOrDie();
  const auto id = registry.BeginTransaction(In("a"), Opener(), For(seconds(2))).ValueOrDie();
  ASSERT_EQ(registry.FindTransaction(id, In("a")).ValueOrDie(), pinned);
  {
    auto busy = pinned->connection->TryAcquire("a statement that does not stop");
    EXPECT_FALSE(
        registry.EndTransaction(In("a"), id, false, For(milliseconds(300)), nullptr).ok());
  }
  auto lease = pinned->connection->TryAcquire("a call naming no transaction");
  EXPECT_TRUE(HasErrorKind(registry.CheckLeased(*lease, "", pinned), ErrorKind::kInUse));
  EXPECT_TRUE(registry.CheckLeased(*lease, id, pinned).ok());  // named: it may go on
  lease.reset();
  ASSERT_TRUE(registry.EndTransaction(In("a"), id, false, For(seconds(2)), nullptr).ok());
  EXPECT_EQ(registry.Pinned(In("a")), pinned);  // the session keeps its connection
}

// Every way a session ends goes through its owner: shutdown rolls back what sessions, and
// cookie-less calls outside any session, held.
TEST_F(SessionTransactionsTest, ShutdownEndsWhatEverySessionHeld) {
  SessionRegistry registry(nullptr, seconds(60));
  BeginWriting(registry, In("a"));
  BeginWriting(registry, Caller{"", "bob", false, "ipv4:127.0.0.1:1001"});
  ASSERT_TRUE(registry.Pin(In("b"), Opener()).ok());
  EXPECT_EQ(registry.open_transactions(), 2u);
  registry.Close();
  EXPECT_EQ(registry.open_transactions(), 0u);
  EXPECT_EQ(registry.Pinned(In("b")), nullptr);
  EXPECT_EQ(Rows(), 0);
}

}  // namespace session_transactions_test
}  // namespace arrowport::flight::sql
