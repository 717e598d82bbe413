#include "arrowport/metrics/server_metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "arrow/util/byte_size.h"

#include "arrow/api.h"
#include "arrowport/metrics/metering_reader.h"

namespace arrowport::metrics {
namespace server_metrics_test {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

void Ingest(ServerMetrics& metrics, const std::string& stream, bool ok, int64_t rows = 10) {
  auto meter = metrics.BeginIngest(stream, "flight");
  meter->Received(rows, rows * 8);
  if (ok) meter->Committed(rows, 1);
  meter->Finish({ok, false, false, 0.01});
}

TEST(ServerMetricsTest, CountsIngestByStreamAndProtocol) {
  ServerMetrics metrics;
  metrics.SetConfiguredStreams({"sensors"});
  auto meter = metrics.BeginIngest("sensors", "flight-copy");
  meter->Received(100, 800);
  meter->Received(50, 400);
  meter->Committed(150, 2);
  meter->AddWireBytes(300);
  meter->Finish({true, false, false, 0.02});
  auto failed = metrics.BeginIngest("sensors", "http");
  failed->Received(5, 40);
  failed->Finish({false, true, false, 0.001});
  const std::string text = metrics.registry().Exposition();
  EXPECT_TRUE(Has(text, "arrowport_rows_received_total{stream=\"sensors\",protocol=\"flight_copy\"} 150"))
      << text;
  EXPECT_TRUE(Has(text, "arrowport_rows_ingested_total{stream=\"sensors\",protocol=\"flight_copy\"} 150"));
  EXPECT_TRUE(Has(text, "arrowport_batches_ingested_total{stream=\"sensors\",protocol=\"flight_copy\"} 2"));
  EXPECT_TRUE(Has(text, "arrowport_ingest_requests_total{stream=\"sensors\",protocol=\"http\",outcome=\"error\"} 1"));
  EXPECT_TRUE(Has(text, "arrowport_schema_mismatches_total{stream=\"sensors\"} 1"));
  EXPECT_TRUE(Has(text, "arrowport_bytes_received_total{protocol=\"flight_copy\"} 1200"));
  EXPECT_TRUE(Has(text, "arrowport_wire_bytes_received_total{protocol=\"flight_copy\"} 300"));
  // 1200 Arrow bytes arrived as 300 on the wire.
  EXPECT_TRUE(Has(text, "arrowport_compression_ratio{stream=\"sensors\"} 4"));
  EXPECT_TRUE(Has(text, "arrowport_ingest_latency_seconds_count{protocol=\"flight_copy\"} 1"));
}

TEST(ServerMetricsTest, StreamLabelsAreBoundedAndGoToStreamsThatSucceed) {
  MetricsOptions options;
  options.max_stream_labels = 2;
  ServerMetrics metrics(options);
  metrics.SetConfiguredStreams({"configured"});
  Ingest(metrics, "typo", /*ok=*/false);  // never succeeded: no label of its own
  Ingest(metrics, "first", true);
  Ingest(metrics, "second", true);
  Ingest(metrics, "third", true);  // over the cap
  Ingest(metrics, "configured", true);
  Ingest(metrics, "first", true);
  const std::string text = metrics.registry().Exposition();
  EXPECT_TRUE(Has(text, "arrowport_rows_ingested_total{stream=\"first\",protocol=\"flight\"} 20"))
      << text;
  EXPECT_TRUE(Has(text, "arrowport_rows_ingested_total{stream=\"second\",protocol=\"flight\"} 10"));
  EXPECT_TRUE(Has(text, "arrowport_rows_ingested_total{stream=\"configured\",protocol=\"flight\"} 10"));
  EXPECT_TRUE(Has(text, "arrowport_rows_ingested_total{stream=\"other\",protocol=\"flight\"} 10"));
  EXPECT_EQ(text.find("third"), std::string::npos);
  EXPECT_EQ(text.find("typo"), std::string::npos);
  // The failed request of a stream without a label is counted under "other".
  EXPECT_TRUE(Has(text, "arrowport_ingest_requests_total{stream=\"other\",protocol=\"flight\",outcome=\"error\"} 1"));
}

TEST(ServerMetricsTest, AStreamsFirstRequestCountsOnceItEnds) {
  ServerMetrics metrics;
  auto meter = metrics.BeginIngest("fresh", "http");
  meter->Received(7, 56);
  meter->Committed(7, 1);
  EXPECT_EQ(metrics.registry().Exposition().find("fresh"), std::string::npos);
  meter->Finish({true, false, false, 0.01});
  const std::string text = metrics.registry().Exposition();
  EXPECT_TRUE(Has(text, "arrowport_rows_received_total{stream=\"fresh\",protocol=\"http\"} 7"));
  // Its rows are in the stream's rate.
  int64_t rows = 0;
  for (const auto& [label, series] : metrics.StreamRates(10)) {
    if (label == "fresh") {
      for (int64_t n : series) rows += n;
    }
  }
  EXPECT_EQ(rows, 7);
}

TEST(ServerMetricsTest, CallsAreActiveUntilTheirMeterEnds) {
  ServerMetrics metrics;
  {
    CallMeter call = metrics.BeginCall("flight", "do_get", "ana");
    call.SetTarget("sensors");
    call.SetProtocol("flight_sql");
    auto active = metrics.ActiveCalls();
    ASSERT_EQ(active.size(), 1u);
    EXPECT_EQ(active[0].protocol, "flight_sql");
    EXPECT_EQ(active[0].target, "sensors");
    EXPECT_EQ(active[0].user, "ana");
    CallMeter moved = std::move(call);  // a stream keeps the call going
    EXPECT_EQ(metrics.ActiveCalls().size(), 1u);
    moved.SetOutcome("NOT_FOUND", "table 'x' does not exist");
  }
  EXPECT_TRUE(metrics.ActiveCalls().empty());
  const std::string text = metrics.registry().Exposition();
  EXPECT_TRUE(Has(text, "arrowport_requests_total{protocol=\"flight_sql\",method=\"do_get\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "arrowport_errors_total{protocol=\"flight_sql\",code=\"NOT_FOUND\"} 1"));
  EXPECT_TRUE(Has(text, "arrowport_request_duration_seconds_count{protocol=\"flight_sql\"} 1"));
  auto errors = metrics.RecentErrors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "table 'x' does not exist");
  EXPECT_EQ(errors[0].user, "ana");
}

// The value of `series` (its name and labels) in `text`, 0 when it is not written.
double ValueOf(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  return at == std::string::npos ? 0 : std::stod(text.substr(at + series.size() + 2));
}

TEST(ServerMetricsTest, AScrapeSeesEveryEndedCallAsRunningOrCounted) {
  // The e2e cancellation test saw 7 of 8 cancelled calls counted and none running: a call
  // stopped being running before it was counted, and the counters were written first.
  constexpr int kCalls = 2000;
  ServerMetrics metrics;
  std::vector<CallMeter> calls;
  calls.reserve(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(metrics.BeginCall("flight", "do_get", "ana"));
    calls.back().SetOutcome("CANCELLED", "the client left");
  }
  std::atomic<bool> started{false};
  std::atomic<bool> done{false};
  std::thread ender([&] {
    while (!started.load()) std::this_thread::yield();  // scrapes overlap the ends
    for (auto& call : calls) call = CallMeter();  // recorded as it ends
    done = true;
  });
  int scrapes = 0;
  double worst = kCalls;
  while (!done.load()) {
    started = true;
    const std::string text = metrics.registry().Exposition();
    const double seen =
        ValueOf(text, "arrowport_active_requests{protocol=\"flight\"}") +
        ValueOf(text, "arrowport_errors_total{protocol=\"flight\",code=\"CANCELLED\"}");
    worst = std::min(worst, seen);
    ++scrapes;
  }
  ender.join();
  EXPECT_GE(worst, kCalls) << "a scrape of " << scrapes << " missed a call";
}

TEST(ServerMetricsTest, RecentErrorsKeepTheLatestFiftyAndTenOfACode) {
  ServerMetrics metrics;
  for (int i = 0; i < 60; ++i) {
    CallMeter call = metrics.BeginCall("http", "GET /x", "-");
    call.SetOutcome(std::to_string(400 + i % 6), "miss " + std::to_string(i));
  }
  auto errors = metrics.RecentErrors();
  ASSERT_EQ(errors.size(), 50u);
  EXPECT_EQ(errors.front().message, "miss 59");  // newest first
  // A flood of one code keeps ten of them and the other codes' errors.
  for (int i = 0; i < 100; ++i) {
    CallMeter call = metrics.BeginCall("http", "GET /x", "-");
    call.SetOutcome("401", "flood " + std::to_string(i));
  }
  errors = metrics.RecentErrors();
  EXPECT_EQ(std::count_if(errors.begin(), errors.end(),
                          [](const RecentError& e) { return e.code == "401"; }),
            10);
  EXPECT_EQ(errors.front().message, "flood 99");
  EXPECT_EQ(errors.size(), 50u);
}

// An HTTP 400 showed on the status page with an empty message.
TEST(ServerMetricsTest, EveryRecentErrorHasAMessage) {
  ServerMetrics metrics;
  {
    CallMeter call = metrics.BeginCall("http", "POST /ingest/{}", "-");
    call.SetOutcome("400", "request body is not an Arrow IPC stream");
    call.SetCode("400", "Bad Request");  // the final status keeps the message set before
  }
  {
    CallMeter call = metrics.BeginCall("http", "GET /x", "-");
    call.SetCode("400", "Bad Request");  // no message before: the status's own
  }
  {
    CallMeter call = metrics.BeginCall("flight", "do_put", "-");
    call.SetOutcome("INVALID_ARGUMENT", "");  // a status without a message
  }
  const auto errors = metrics.RecentErrors();
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].message, "failed with INVALID_ARGUMENT (no message)");
  EXPECT_EQ(errors[1].message, "Bad Request");
  EXPECT_EQ(errors[2].message, "request body is not an Arrow IPC stream");
}

TEST(ServerMetricsTest, MeteringReaderReportsBatchesAndItsEndOnce) {
  auto schema = arrow::schema({arrow::field("x", arrow::int64())});
  arrow::Int64Builder builder;
  ASSERT_TRUE(builder.AppendValues({1, 2, 3}).ok());
  auto batch = arrow::RecordBatch::Make(schema, 3, {builder.Finish().ValueOrDie()});
  int64_t rows = 0;
  int ends = 0;
  bool ended_ok = false;
  {
    auto source = arrow::RecordBatchReader::Make({batch, batch}, schema).ValueOrDie();
    MeteringReader reader(
        source, [&](int64_t n, int64_t) { rows += n; },
        [&](bool ok, double) {
          ++ends;
          ended_ok = ok;
        });
    std::shared_ptr<arrow::RecordBatch> out;
    ASSERT_TRUE(reader.ReadNext(&out).ok());
    EXPECT_EQ(ends, 0);
  }
  // Dropped before its end: one unfinished end.
  EXPECT_EQ(rows, 3);
  EXPECT_EQ(ends, 1);
  EXPECT_FALSE(ended_ok);
  {
    auto source = arrow::RecordBatchReader::Make({batch}, schema).ValueOrDie();
    MeteringReader reader(source, {}, [&](bool ok, double) {
      ++ends;
      ended_ok = ok;
    });
    std::shared_ptr<arrow::RecordBatch> out;
    do {
      ASSERT_TRUE(reader.ReadNext(&out).ok());
    } while (out);
    ASSERT_TRUE(reader.Close().ok());
  }
  EXPECT_EQ(ends, 2);
  EXPECT_TRUE(ended_ok);
}

// A source that measured its batches (the query results' reader) hands the figure on;
// one that knows none (-1) leaves the metering reader to measure the batch itself.
TEST(ServerMetricsTest, MeteringReaderTakesTheBytesItsSourceMeasured) {
  struct Sized : arrow::RecordBatchReader, SizedBatches {
    Sized(std::shared_ptr<arrow::RecordBatchReader> inner, int64_t bytes)
        : inner(std::move(inner)), bytes(bytes) {}
    std::shared_ptr<arrow::Schema> schema() const override { return inner->schema(); }
    arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
      return inner->ReadNext(out);
    }
    int64_t last_batch_bytes() const override { return bytes; }
    std::shared_ptr<arrow::RecordBatchReader> inner;
    int64_t bytes;
  };
  auto schema = arrow::schema({arrow::field("x", arrow::int64())});
  arrow::Int64Builder builder;
  ASSERT_TRUE(builder.AppendValues({1, 2, 3}).ok());
  auto batch = arrow::RecordBatch::Make(schema, 3, {builder.Finish().ValueOrDie()});
  for (const int64_t told : {int64_t{12345}, int64_t{-1}}) {
    int64_t bytes = 0;
    MeteringReader reader(
        std::make_shared<Sized>(arrow::RecordBatchReader::Make({batch}, schema).ValueOrDie(),
                                told),
        [&](int64_t, int64_t n) { bytes += n; });
    std::shared_ptr<arrow::RecordBatch> out;
    ASSERT_TRUE(reader.ReadNext(&out).ok());
    EXPECT_EQ(bytes, told >= 0 ? told : arrow::util::ReferencedBufferSize(*batch).ValueOrDie());
  }
}

TEST(RateHistoryTest, KeepsTheLastSecondsOnly) {
  RateHistory history;
  history.Add(5, 1000);
  history.Add(3, 1000);
  history.Add(7, 1002);
  EXPECT_EQ(history.Last(4, 1002), (std::vector<int64_t>{0, 8, 0, 7}));
  // A second out of the window, then the slot reused by a newer second.
  history.Add(9, 1000 + RateHistory::kSeconds);
  EXPECT_EQ(history.Last(1, 1000 + RateHistory::kSeconds), (std::vector<int64_t>{9}));
  EXPECT_EQ(history.Last(RateHistory::kSeconds, 1000 + RateHistory::kSeconds).front(), 0);
  history.Add(4, 1000);  // older than the window now: dropped
  EXPECT_EQ(history.Last(1, 1000 + RateHistory::kSeconds), (std::vector<int64_t>{9}));
}

}  // namespace server_metrics_test
}  // namespace arrowport::metrics
