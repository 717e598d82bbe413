// IngestPipeline's transforms (ingest_pipeline.h: Exchange, Transform): SQL over a
// stream of batches, the rows DuckDB makes streamed back (DoExchange) or written.
#include "arrowport/common/prefetching_reader.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/validating_reader.h"
#include "arrowport/metrics/metering_reader.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::ingest {

namespace {

// The protocol label of DoExchange's input and output in the metrics.
constexpr const char* kExchangeProtocol = "exchange";

// An exchange's result: a batch the validation refused is reported as such, not as the
// scan error DuckDB wraps it in.
class ExchangeReader : public arrow::RecordBatchReader {
 public:
  ExchangeReader(std::shared_ptr<arrow::RecordBatchReader> result,
                 std::shared_ptr<ValidatingReader> validating)
      : result_(std::move(result)), validating_(std::move(validating)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return result_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    auto st = result_->ReadNext(out);
    if (!st.ok() && !validating_->error().ok()) return validating_->error();
    return st;
  }
  arrow::Status Close() override { return result_->Close(); }

 private:
  std::shared_ptr<arrow::RecordBatchReader> result_;
  std::shared_ptr<ValidatingReader> validating_;
};

}  // namespace

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> IngestPipeline::Exchange(
    const std::string& sql, std::shared_ptr<arrow::RecordBatchReader> source,
    const CallContext& call, std::shared_ptr<WriteBudget> budget) {
  if (budget == nullptr) budget = NewWriteBudget(call);
  auto validating = MakeValidatingReader(std::move(source), max_batch_bytes_);
  // The call itself runs under the query deadline (from its start): not armed again.
  std::shared_ptr<arrow::RecordBatchReader> input =
      budget->CountSent(validating, /*deadline=*/false);
  if (metrics_ != nullptr) {
    input = std::make_shared<metrics::MeteringReader>(
        std::move(input), [&received = metrics_->ReceivedBytes(kExchangeProtocol)](
                              int64_t, int64_t bytes) { received.Add(bytes); });
  }
  auto result = Transform(sql, MakePrefetchingReader(std::move(input), kPrefetchDepth), call,
                          nullptr, /*interactive=*/true);
  if (!result.ok()) {
    if (!validating->error().ok()) return validating->error();
    return result.status();
  }
  return metrics::MeterResult(
      budget->CapProduced(
          std::make_shared<ExchangeReader>(std::move(*result), std::move(validating))),
      metrics_, kExchangeProtocol, call.progress);
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> IngestPipeline::Transform(
    const std::string& sql, std::shared_ptr<arrow::RecordBatchReader> input,
    const CallContext& call, const IngestRequest* configured_for, bool interactive) {
  ARROW_ASSIGN_OR_RAISE(auto conn, database_->Connect());
  storage::QueryOptions options;
  options.input = std::move(input);
  options.interactive = interactive;
  options.cancellation = call.cancellation;
  options.principal = call.principal;
  if (configured_for != nullptr || !options.principal) {
    // The operator's transform (or the server's own call): judged as an admin's SQL.
    auto server = std::make_shared<Principal>();
    server->user = configured_for ? "streams." + configured_for->stream + ".transform"
                                  : std::string("server");
    server->role = Role::kAdmin;
    options.principal = std::move(server);
  }
  auto reader = storage::Connection::Query(std::move(conn), sql, options);
  if (!reader.ok()) {
    return reader.status().WithMessage(
        configured_for ? "transform of streams." + configured_for->stream + ": "
                       : std::string("transform: "),
        reader.status().message());
  }
  return reader;
}

}  // namespace arrowport::ingest
