#include "arrowport/flight/sql/session_registry.h"

#include <gtest/gtest.h>

#include <thread>

#include "arrow/api.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/flight/sql/session_store.h"
#include "arrowport/storage/database.h"

namespace arrowport::flight::sql {
namespace {

using std::chrono::seconds;

class SessionRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::DatabaseOptions options;
    options.path = ":memory:";
    db_ = storage::Database::Open(options).ValueOrDie();
    ASSERT_TRUE(db_->Connect().ValueOrDie()->Execute("CREATE TABLE t (x INT)").ok());
  }
  std::shared_ptr<TransactionEntry> OpenTransaction(const std::string& session) {
    auto entry = std::make_shared<TransactionEntry>();
    entry->session = session;
    entry->connection = db_->Connect().ValueOrDie();
    EXPECT_TRUE(entry->connection->Begin().ok());
    EXPECT_TRUE(entry->connection->Execute("INSERT INTO t VALUES (1)").ok());
    return entry;
  }
  int64_t Rows() {
    auto table = db_->Connect().ValueOrDie()->QueryTable("SELECT count(*) FROM t").ValueOrDie();
    return std::stoll(table->column(0)->GetScalar(0).ValueOrDie()->ToString());
  }
  std::unique_ptr<storage::Database> db_;
};

TEST_F(SessionRegistryTest, EntriesBelongToTheirSession) {
  SessionRegistry registry(nullptr, seconds(60));
  const auto id = registry.AddTransaction(OpenTransaction("a"));
  EXPECT_TRUE(registry.FindTransaction(id, "a").ok());
  EXPECT_TRUE(registry.FindTransaction(id, "").ok());  // no cookie: the id is the key
  EXPECT_TRUE(registry.FindTransaction(id, "b").status().IsKeyError());
  EXPECT_TRUE(registry.FindTransaction("nope", "a").status().IsKeyError());
}

TEST_F(SessionRegistryTest, ClosingASessionRollsBackItsTransaction) {
  SessionRegistry registry(nullptr, seconds(60));
  const auto id = registry.AddTransaction(OpenTransaction("a"));
  registry.AddTransaction(OpenTransaction("b"));
  registry.CloseSession("a");
  EXPECT_TRUE(registry.FindTransaction(id, "a").status().IsKeyError());
  EXPECT_EQ(registry.open_transactions(), 1u);
  registry.Close();
  EXPECT_EQ(registry.open_transactions(), 0u);
  EXPECT_EQ(Rows(), 0);
}

TEST_F(SessionRegistryTest, IdleTransactionsRollBack) {
  SessionRegistry registry(SessionStore::Make(), seconds(1));
  registry.AddTransaction(OpenTransaction(""));
  for (int i = 0; i < 50 && registry.open_transactions() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(registry.open_transactions(), 0u);
  EXPECT_EQ(Rows(), 0);
}

TEST_F(SessionRegistryTest, IdleSessionsAreClosedEvenWithoutEntries) {
  auto cookies = SessionStore::Make();
  SessionRegistry registry(cookies, seconds(1));
  auto [id, session] = cookies->CreateNewSession();
  ASSERT_NE(session, nullptr);
  registry.Touch(id);
  EXPECT_EQ(cookies->size(), 1u);
  for (int i = 0; i < 50 && cookies->size() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(cookies->size(), 0u);
}

TEST_F(SessionRegistryTest, CancelRunningByTicket) {
  SessionRegistry registry(nullptr, seconds(60));
  auto cancellation = CallCancellation::Make();
  {
    auto token = registry.TrackRunning("ticket", cancellation);
    EXPECT_EQ(registry.CancelRunning("other", arrow::Status::Cancelled("x")), 0);
    EXPECT_EQ(registry.CancelRunning("ticket", arrow::Status::Cancelled("x")), 1);
    EXPECT_TRUE(cancellation->cancelled());
  }
  EXPECT_EQ(registry.CancelRunning("ticket", arrow::Status::Cancelled("x")), 0);
}

}  // namespace
}  // namespace arrowport::flight::sql
