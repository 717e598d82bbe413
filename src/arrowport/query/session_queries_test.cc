// The query pipeline's verbs on a session (issue 67): what a protocol used to remember
// at each call (the lake refresh, the sandbox, the metering) happens inside them.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "arrow/api.h"
#include "arrowport/common/call_context.h"
#include "arrowport/metrics/registry.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/query/prepared_query.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/session_connection.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::query {
namespace session_queries_test {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

std::shared_ptr<arrow::RecordBatch> Ints(std::vector<int32_t> values) {
  arrow::Int32Builder builder;
  EXPECT_TRUE(builder.AppendValues(values).ok());
  auto array = builder.Finish().ValueOrDie();
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("x", arrow::int32())}),
                                  array->length(), {array});
}

TEST(SessionQueries, AClientsWritesAreRefreshedJudgedAndMetered) {
  storage::DatabaseOptions options;
  options.path = ":memory:";
  auto db = storage::Database::Open(options).ValueOrDie();
  metrics::ServerMetrics metrics;
  QueryPipeline pipeline(db.get(), 100, &metrics);
  std::vector<std::string> refreshed;
  LakeReads reads;
  reads.refresh = [&refreshed](const std::string& sql) {
    refreshed.push_back(sql);
    return arrow::Status::OK();
  };
  pipeline.EnableLakeReads(reads);
  auto connection = pipeline.OpenSession().ValueOrDie();
  auto lease =
      connection->Acquire("test", std::chrono::steady_clock::now() + std::chrono::seconds(2))
          .ValueOrDie();
  CallContext call;
  call.protocol = "flight_sql";

  ASSERT_TRUE(pipeline.ExecuteUpdate(lease, "CREATE TABLE t (x INT)", call).ok());
  EXPECT_FALSE(QueryPipeline::InTransaction(lease));  // committed in one of its own
  // The sandbox judges a client's SQL: no transaction control of its own.
  EXPECT_FALSE(pipeline.ExecuteUpdate(lease, "BEGIN TRANSACTION", call).ok());

  auto insert = pipeline.Prepare(lease, "INSERT INTO t VALUES ($1)", call).ValueOrDie();
  std::shared_ptr<arrow::RecordBatch> rows = Ints({1, 2, 3});
  PreparedWrite write;
  write.statement = insert;
  write.next_rows = [&rows] { return std::exchange(rows, nullptr); };
  EXPECT_EQ(pipeline.ExecuteUpdate(lease, write, call).ValueOrDie(), 3);

  EXPECT_EQ(refreshed, (std::vector<std::string>{"CREATE TABLE t (x INT)", "BEGIN TRANSACTION",
                                                 "INSERT INTO t VALUES ($1)",
                                                 "INSERT INTO t VALUES ($1)"}));
  const std::string text = metrics.registry().Exposition();
  EXPECT_TRUE(Has(text, "arrowport_queries_total{protocol=\"flight_sql\",outcome=\"ok\"} 2"))
      << text;
  EXPECT_TRUE(Has(text, "arrowport_queries_total{protocol=\"flight_sql\",outcome=\"error\"} 1"))
      << text;
}

}  // namespace session_queries_test
}  // namespace arrowport::query
