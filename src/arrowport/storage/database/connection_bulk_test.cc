// Connection::ExecuteBulkUpdate (a bulk insert, run by ExecutePendingQuietly):
// the same rows and the same errors as ExecuteUpdate, whose loop is DuckDB's own.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "arrow/api.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::storage {
namespace connection_bulk_test {

std::shared_ptr<arrow::Schema> Schema() {
  return arrow::schema({arrow::field("v", arrow::int64())});
}

// `batches` batches of 65,536 rows (v = 0, 1, ...; v = -1 at row `null_at` is a null),
// each after `pause`: a client whose batches trickle in.
class Source : public arrow::RecordBatchReader {
 public:
  Source(int batches, std::chrono::milliseconds pause, int64_t null_at = -1)
      : batches_(batches), pause_(pause), null_at_(null_at) {}
  std::shared_ptr<arrow::Schema> schema() const override { return Schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    if (handed_ == batches_) return arrow::Status::OK();
    std::this_thread::sleep_for(pause_);
    arrow::Int64Builder values;
    for (int64_t i = 0; i < kRows; ++i) {
      const int64_t v = handed_ * kRows + i;
      ARROW_RETURN_NOT_OK(v == null_at_ ? values.AppendNull() : values.Append(v));
    }
    ARROW_ASSIGN_OR_RAISE(auto column, values.Finish());
    *out = arrow::RecordBatch::Make(Schema(), kRows, {column});
    ++handed_;
    return arrow::Status::OK();
  }
  static constexpr int64_t kRows = 65536;

 private:
  const int batches_;
  const std::chrono::milliseconds pause_;
  const int64_t null_at_;
  int handed_ = 0;
};

class ConnectionBulk : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    options.path = ":memory:";
    options.threads = 2;
    db_ = Database::Open(options).ValueOrDie();
    conn_ = db_->Connect().ValueOrDie();
    ASSERT_TRUE(conn_->Execute("CREATE TABLE t (v BIGINT NOT NULL)").ok());
  }
  // INSERT INTO t from `source`, by ExecuteBulkUpdate (the parameter) or ExecuteUpdate.
  arrow::Result<int64_t> Insert(std::shared_ptr<arrow::RecordBatchReader> source,
                                const std::string& column = "v") {
    std::vector<ColumnInfo> columns;
    ARROW_ASSIGN_OR_RAISE(auto relation,
                          conn_->RegisterArrowStream(std::move(source), &columns));
    const std::string sql = "INSERT INTO t SELECT " + column + " FROM " + relation;
    auto rows = GetParam() ? conn_->ExecuteBulkUpdate(sql) : conn_->ExecuteUpdate(sql);
    conn_->DropArrowStream(relation);
    return rows;
  }
  int64_t Count() {
    auto table = conn_->QueryTable("SELECT count(*) FROM t").ValueOrDie();
    auto counts = std::static_pointer_cast<arrow::Int64Array>(table->column(0)->chunk(0));
    return counts->Value(0);
  }

  std::unique_ptr<Database> db_;
  std::unique_ptr<Connection> conn_;
};

TEST_P(ConnectionBulk, InsertsEveryRow) {
  auto rows = Insert(std::make_shared<Source>(16, std::chrono::milliseconds(0)));
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(*rows, 16 * Source::kRows);
  EXPECT_EQ(Count(), 16 * Source::kRows);
  // A client that trickles in, the statement waiting for it.
  rows = Insert(std::make_shared<Source>(4, std::chrono::milliseconds(30)));
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(Count(), 20 * Source::kRows);
}

TEST_P(ConnectionBulk, FailsAsDuckDBSays) {
  // A constraint broken halfway: nothing inserted, DuckDB's error.
  auto rows = Insert(std::make_shared<Source>(8, std::chrono::milliseconds(0), 300'000));
  ASSERT_FALSE(rows.ok());
  EXPECT_TRUE(rows.status().IsInvalid()) << rows.status().ToString();
  EXPECT_NE(rows.status().message().find("NOT NULL"), std::string::npos)
      << rows.status().ToString();
  EXPECT_EQ(Count(), 0);
  // An error before it runs (binding).
  rows = Insert(std::make_shared<Source>(1, std::chrono::milliseconds(0)), "missing");
  ASSERT_FALSE(rows.ok());
  EXPECT_TRUE(rows.status().IsInvalid()) << rows.status().ToString();
  EXPECT_NE(rows.status().message().find("missing"), std::string::npos);
}

TEST_P(ConnectionBulk, AnInterruptEndsIt) {
  auto cancellation = std::make_shared<CallCancellation>();
  auto interrupt = conn_->InterruptOn(cancellation);
  std::thread cancel([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancellation->Cancel(arrow::Status::Cancelled("test"));
  });
  const auto start = std::chrono::steady_clock::now();
  auto rows = Insert(std::make_shared<Source>(100, std::chrono::milliseconds(20)));
  cancel.join();
  EXPECT_FALSE(rows.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(Count(), 0);
}

INSTANTIATE_TEST_SUITE_P(BulkAndDuckDBsLoop, ConnectionBulk,
                         ::testing::Values(true, false), [](const auto& info) {
                           return info.param ? "bulk" : "duckdb_loop";
                         });

}  // namespace connection_bulk_test
}  // namespace arrowport::storage
