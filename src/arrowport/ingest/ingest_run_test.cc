// One ingest request's calls into the router and the metrics, counted: routed once,
// its entry begun once and ended once, its meter finished once (IngestRun).
#include "arrowport/ingest/ingest_run.h"

#include <gtest/gtest.h>

#include <atomic>

#include "arrow/api.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::ingest {
namespace ingest_run_test {

// The real router, each call a request makes into it counted on its way through.
class CountingRouter : public StreamRouter {
 public:
  using StreamRouter::StreamRouter;
  config::StreamConfig Route(const std::string& stream) const override {
    ++routes;
    return StreamRouter::Route(stream);
  }
  std::string RecordStart(const std::string& stream, config::CommitMode commit) override {
    ++starts;
    return StreamRouter::RecordStart(stream, commit);
  }
  void RecordCommitted(const std::string& stream, int64_t rows, int64_t batches,
                       int64_t bytes) override {
    ++committed;
    StreamRouter::RecordCommitted(stream, rows, batches, bytes);
  }
  void RecordSuccess(const std::string& stream, int64_t rows, int64_t batches,
                     int64_t bytes) override {
    ++successes;
    StreamRouter::RecordSuccess(stream, rows, batches, bytes);
  }
  void RecordError(const std::string& stream, bool schema_mismatch, int64_t rows,
                   int64_t batches, int64_t bytes) override {
    ++errors;
    StreamRouter::RecordError(stream, schema_mismatch, rows, batches, bytes);
  }
  void RecordEnd(const std::string& stream) override {
    ++ends;
    StreamRouter::RecordEnd(stream);
  }
  int calls() const { return routes + starts + committed + successes + errors + ends; }

  mutable std::atomic<int> routes{0};
  std::atomic<int> starts{0}, committed{0}, successes{0}, errors{0}, ends{0};
};

std::shared_ptr<arrow::RecordBatchReader> Batches(int batches, int64_t rows) {
  auto schema = arrow::schema({arrow::field("id", arrow::int64())});
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  for (int b = 0; b < batches; ++b) {
    arrow::Int64Builder ids;
    for (int64_t i = 0; i < rows; ++i) (void)ids.Append(b * rows + i);
    out.push_back(arrow::RecordBatch::Make(schema, rows, {ids.Finish().ValueOrDie()}));
  }
  return arrow::RecordBatchReader::Make(out, schema).ValueOrDie();
}

class IngestRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::DatabaseOptions options;
    options.path = ":memory:";
    db_ = storage::Database::Open(options).ValueOrDie();
    config::Config config;
    config.streams["sensors"].target_table = "readings";
    router_ = std::make_unique<CountingRouter>(config);
    metrics_.SetConfiguredStreams({"sensors"});
    pipeline_ = std::make_unique<IngestPipeline>(db_.get(), router_.get(),
                                                 int64_t{256} << 20, &metrics_);
  }

  IngestRequest Request(const std::string& stream = "sensors") {
    IngestRequest request;
    request.stream = stream;
    request.protocol = "http";
    request.wire_bytes = [] { return int64_t{1234}; };
    return request;
  }
  StreamCounters Counters(const std::string& stream) {
    return router_->Snapshot().at(stream).second;
  }
  // Whether the metrics' exposition holds `line` exactly (its value included).
  bool Exposed(const std::string& line) {
    return metrics_.registry().Exposition().find(line + "\n") != std::string::npos;
  }

  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<CountingRouter> router_;
  metrics::ServerMetrics metrics_;
  std::unique_ptr<IngestPipeline> pipeline_;
};

TEST_F(IngestRunTest, OneRequestRoutesOnceAndRecordsItsStartAndEndOnce) {
  auto run = pipeline_->Begin(Request());
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(router_->routes, 1);
  EXPECT_EQ(router_->calls(), 1);  // begun at the door: routed, nothing recorded yet
  auto result = pipeline_->Ingest(std::move(*run), Batches(3, 100));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->table, "readings");
  EXPECT_EQ(router_->routes, 1);
  EXPECT_EQ(router_->starts, 1);
  EXPECT_EQ(router_->successes, 1);
  EXPECT_EQ(router_->calls(), 3);
  const StreamCounters counters = Counters("sensors");
  EXPECT_EQ(counters.requests, 1);
  EXPECT_EQ(counters.active_requests, 0);
  EXPECT_EQ(counters.rows, 300);
  // The meter: received per batch, committed once, its wire bytes and its end once.
  EXPECT_TRUE(Exposed(R"(arrowport_rows_received_total{stream="sensors",protocol="http"} 300)"));
  EXPECT_TRUE(Exposed(R"(arrowport_rows_ingested_total{stream="sensors",protocol="http"} 300)"));
  EXPECT_TRUE(Exposed(R"(arrowport_batches_ingested_total{stream="sensors",protocol="http"} 3)"));
  EXPECT_TRUE(Exposed(R"(arrowport_wire_bytes_received_total{protocol="http"} 1234)"));
  EXPECT_TRUE(Exposed(
      R"(arrowport_ingest_requests_total{stream="sensors",protocol="http",outcome="ok"} 1)"));
  EXPECT_TRUE(Exposed(R"(arrowport_ingest_latency_seconds_count{protocol="http"} 1)"));
}

TEST_F(IngestRunTest, PerBatchCountsEachCommitAndEndsOnce) {
  IngestRequest request = Request();
  request.commit = config::CommitMode::kPerBatch;
  ASSERT_TRUE(pipeline_->Ingest(request, Batches(4, 10)).ok());
  EXPECT_EQ(router_->routes, 1);
  EXPECT_EQ(router_->starts, 1);
  EXPECT_EQ(router_->committed, 4);
  EXPECT_EQ(router_->successes, 1);
  EXPECT_EQ(router_->calls(), 7);
  EXPECT_EQ(Counters("sensors").rows, 40);
  EXPECT_EQ(Counters("sensors").batches, 4);
  EXPECT_TRUE(Exposed(R"(arrowport_rows_ingested_total{stream="sensors",protocol="http"} 40)"));
  EXPECT_TRUE(Exposed(
      R"(arrowport_ingest_requests_total{stream="sensors",protocol="http",outcome="ok"} 1)"));
}

TEST_F(IngestRunTest, AFailedRequestEndsAsOneError) {
  // The second request's column does not fit the table the first one made.
  ASSERT_TRUE(pipeline_->Ingest(Request(), Batches(1, 5)).ok());
  const int before = router_->calls();
  auto schema = arrow::schema({arrow::field("id", arrow::utf8())});
  arrow::StringBuilder ids;
  (void)ids.Append("x");
  auto batch = arrow::RecordBatch::Make(schema, 1, {ids.Finish().ValueOrDie()});
  auto failed = pipeline_->Ingest(
      Request(), arrow::RecordBatchReader::Make({batch}, schema).ValueOrDie());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(router_->calls() - before, 3);  // routed, started, ended as an error
  EXPECT_EQ(router_->errors, 1);
  EXPECT_EQ(Counters("sensors").active_requests, 0);
  EXPECT_TRUE(Exposed(
      R"(arrowport_ingest_requests_total{stream="sensors",protocol="http",outcome="error"} 1)"));
}

TEST_F(IngestRunTest, ARetryOfACommittedIdEndsWithoutCounting) {
  IngestRequest request = Request();
  request.request_id = "retry-1";
  ASSERT_TRUE(pipeline_->Ingest(request, Batches(1, 5)).ok());
  auto again = pipeline_->Ingest(request, Batches(1, 5));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(router_->starts, 2);
  EXPECT_EQ(router_->successes, 1);
  EXPECT_EQ(router_->ends, 1);
  EXPECT_EQ(Counters("sensors").rows, 5);
  EXPECT_EQ(Counters("sensors").active_requests, 0);
}

TEST_F(IngestRunTest, ARunTheDoorRefusesIsNeitherListedNorMetered) {
  {
    auto run = pipeline_->Begin(Request("refused_later"));
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->result().table, "refused_later");
    // Dropped here, as a door does when its authorization or limits refuse the request.
  }
  EXPECT_EQ(router_->calls(), 1);
  EXPECT_EQ(router_->Snapshot().count("refused_later"), 0u);
  EXPECT_EQ(metrics_.registry().Exposition().find("refused_later"), std::string::npos);
}

TEST_F(IngestRunTest, BeginChecksNamesAndIdsOnce) {
  IngestRequest request = Request("bad name");
  EXPECT_TRUE(pipeline_->Begin(request).status().IsInvalid());
  request = Request();
  request.table = "t\"; --";
  EXPECT_TRUE(pipeline_->Begin(request).status().IsInvalid());
  request = Request();
  request.schema = "no such; schema";
  EXPECT_TRUE(pipeline_->Begin(request).status().IsInvalid());
  request = Request();
  request.request_id = "has space";
  EXPECT_TRUE(pipeline_->Begin(request).status().IsInvalid());
  EXPECT_EQ(router_->starts + router_->errors, 0);  // refused before anything is recorded
}

}  // namespace ingest_run_test
}  // namespace arrowport::ingest
