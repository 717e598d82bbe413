#include "arrowport/ingest/ingest_pipeline.h"

#include <chrono>
#include <mutex>
#include <tuple>

#include "arrow/record_batch.h"
#include "arrow/type.h"
#include "arrowport/common/identifier.h"
#include "arrowport/common/prefetching_reader.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/lake/lake_catalog.h"
#include "arrowport/ingest/batch_coalescer.h"
#include "arrowport/ingest/lake_writer.h"
#include "arrowport/ingest/per_batch_writer.h"
#include "arrowport/ingest/per_request_writer.h"
#include "arrowport/ingest/transaction_writer.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/ingest/validating_reader.h"
#include "arrowport/ingest/write_context.h"
#include "arrowport/metrics/metering_reader.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/storage/database.h"
#include "arrowport/storage/shared_connection.h"
#include "arrowport/storage/type_mapping.h"

namespace arrowport::ingest {

namespace {

// Batches validated ahead of DuckDB per request: bounds memory per request while keeping
// the network busy when DuckDB briefly stalls (row-group flushes).
constexpr size_t kPrefetchDepth = 4;
// The protocol label of DoExchange's input and output in the metrics.
constexpr const char* kExchangeProtocol = "exchange";

// Keeps the first error a transform reported: the INSERT reading it reports it wrapped
// in DuckDB's scan error.
class ErrorKeepingReader : public arrow::RecordBatchReader {
 public:
  explicit ErrorKeepingReader(std::shared_ptr<arrow::RecordBatchReader> inner)
      : inner_(std::move(inner)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    auto st = inner_->ReadNext(out);
    if (!st.ok()) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (error_.ok()) error_ = st;
    }
    return st;
  }
  arrow::Status Close() override { return inner_->Close(); }
  arrow::Status error() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

 private:
  std::shared_ptr<arrow::RecordBatchReader> inner_;
  mutable std::mutex mutex_;
  arrow::Status error_;
};

// Stops an upload when the disk fills up while it runs, not only at its start: each batch
// received is checked (DiskWatch reads the disk at most every 20 ms) before DuckDB sees it.
class DiskCheckingReader : public arrow::RecordBatchReader {
 public:
  DiskCheckingReader(std::shared_ptr<arrow::RecordBatchReader> inner,
                     storage::Database* database)
      : inner_(std::move(inner)), database_(database) {}
  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    ARROW_RETURN_NOT_OK(inner_->ReadNext(out));
    if (*out != nullptr) {
      auto room = database_->CheckWrite();
      if (!room.ok()) {
        out->reset();
        return room;
      }
    }
    return arrow::Status::OK();
  }
  arrow::Status Close() override { return inner_->Close(); }

 private:
  std::shared_ptr<arrow::RecordBatchReader> inner_;
  storage::Database* database_;
};

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

arrow::Status CheckTransformUse(const IngestRequest& request, const config::StreamConfig& route,
                                config::CommitMode commit, const CallContext& call) {
  const bool transformed = !request.transform.empty() || !route.transform.empty();
  if (!transformed) return arrow::Status::OK();
  // A transform's batches are DuckDB's, not the client's: their numbers would not name
  // the same rows when the request is retried.
  if (commit == config::CommitMode::kPerBatch && !request.request_id.empty()) {
    return arrow::Status::Invalid("a request id cannot be used with per_batch commits and a "
                                  "transform (the committed batches are the transform's)");
  }
  // The operator's transform runs with the operator's rights: its rows go where the
  // operator routed them, not to a table a client names.
  const Principal* principal = call.principal.get();
  if (!route.transform.empty() && !request.table.empty() &&
      request.table != route.target_table && principal != nullptr && !principal->IsAdmin()) {
    return PermissionDenied("stream '", request.stream, "' has a configured transform: its "
                            "rows go to its target_table '", route.target_table,
                            "', not to a table the request names");
  }
  return arrow::Status::OK();
}

storage::TableName TargetOf(const IngestRequest& request, const config::StreamConfig& route) {
  return storage::TableName(request.schema.empty() ? "main" : request.schema,
                            request.table.empty() ? route.target_table : request.table,
                            request.temporary);
}

}  // namespace

bool IsSchemaMismatch(const arrow::Status& status) {
  return HasErrorKind(status, ErrorKind::kSchemaMismatch);
}

IngestPipeline::IngestPipeline(storage::Database* database, StreamRouter* router,
                               int64_t max_batch_bytes, metrics::ServerMetrics* metrics)
    : database_(database),
      router_(router),
      max_batch_bytes_(max_batch_bytes),
      metrics_(metrics) {}

void IngestPipeline::EnableLakes(lake::LakeCatalog* lakes,
                                 std::function<void(const std::string&)> committed) {
  lakes_ = lakes;
  lake_committed_ = std::move(committed);
}

arrow::Result<int64_t> IngestPipeline::RekeyRequestLog(
    const std::function<void(int64_t)>& on_progress) {
  ARROW_ASSIGN_OR_RAISE(auto connection, database_->Connect());
  auto lease = storage::ConnectionLease::Own(std::move(connection));
  return request_log_.RekeyAtStart(&lease, on_progress);
}

arrow::Result<IngestResult> IngestPipeline::Ingest(
    const IngestRequest& request, std::shared_ptr<arrow::RecordBatchReader> source,
    const BatchCommitted& on_commit, const CallContext& call,
    storage::ConnectionLease* connection) {
  const auto start = std::chrono::steady_clock::now();
  const config::StreamConfig route = router_->Route(request.stream);
  IngestResult result;
  result.stream = request.stream;
  const storage::TableName target = TargetOf(request, route);
  result.table = target.ToString();
  const auto commit = request.commit.value_or(route.commit);
  // The stream is listed, with this request running, from now on; what each batch
  // commits (per_batch) counts as it commits: a long request's rows and last write are
  // live, not counted when it ends.
  router_->RecordStart(request.stream, commit);
  struct {
    int64_t rows = 0, batches = 0, bytes = 0;
  } counted;  // of the result's written rows, those the router has
  const auto uncounted = [&] {
    const int64_t rows = result.written_rows() - counted.rows;
    const int64_t batches = result.written_batches() - counted.batches;
    const int64_t bytes = result.written_bytes() - counted.bytes;
    counted = {result.written_rows(), result.written_batches(), result.written_bytes()};
    return std::make_tuple(rows, batches, bytes);
  };
  const BatchCommitted count_commit = [&](int64_t index, int64_t rows) -> arrow::Status {
    const auto [new_rows, new_batches, new_bytes] = uncounted();
    router_->RecordCommitted(request.stream, new_rows, new_batches, new_bytes);
    return on_commit ? on_commit(index, rows) : arrow::Status::OK();
  };
  // Receive and decode (the caller's reader) and full validation run ahead of DuckDB on
  // a thread of their own, a few batches deep: both cores work, memory stays bounded.
  auto validating = MakeValidatingReader(std::move(source), max_batch_bytes_);
  std::shared_ptr<metrics::IngestMeter> meter;
  if (metrics_ != nullptr) meter = metrics_->BeginIngest(request.stream, request.protocol);
  // Kept apart: DuckDB reports a refusal wrapped in its scan error (see below). A lake
  // stream writes its object store, not the database's disk.
  std::shared_ptr<arrow::RecordBatchReader> checked = validating;
  if (route.sink != config::Sink::kLake) {
    checked = std::make_shared<DiskCheckingReader>(std::move(checked), database_);
  }
  auto disk_checked = std::make_shared<ErrorKeepingReader>(std::move(checked));
  source = disk_checked;
  if (meter != nullptr || call.progress != nullptr) {
    // Counted as they are validated, on the read-ahead thread: the stream's live rate,
    // the call's progress.
    source = std::make_shared<metrics::MeteringReader>(
        std::move(source), [meter, progress = call.progress](int64_t rows, int64_t bytes) {
          if (meter) meter->Received(rows, bytes);
          if (progress) progress->Add(rows, bytes);
        });
  }
  // Rows that are not simply the client's own (a transform's, a peer's) run under the
  // query deadline from the first batch, and a transform's under the write cap.
  const bool transformed = !request.transform.empty() || !route.transform.empty();
  std::shared_ptr<WriteBudget> budget;
  if (transformed || request.under_query_deadline) {
    budget = NewWriteBudget(call);
    source = budget->CountSent(std::move(source), /*deadline=*/true);
  }
  source = MakePrefetchingReader(std::move(source), kPrefetchDepth);
  if (transformed && commit == config::CommitMode::kPerRequest) {
    // A transform committed as a whole scans the client's small batches joined (DuckDB's
    // cost is per batch); per_batch hands each on as it comes.
    source = std::make_shared<BatchCoalescer>(std::move(source));
  }
  std::vector<std::shared_ptr<ErrorKeepingReader>> transforms;
  auto st = [&]() -> arrow::Status {
    // Checked before a transform starts reading the client's stream.
    ARROW_RETURN_NOT_OK(CheckTransformUse(request, route, commit, call));
    // The client's transform, then the stream's: each a query over the batches before.
    for (const auto* sql : {&request.transform, &route.transform}) {
      if (sql->empty()) continue;
      const bool configured = sql == &route.transform;
      // per_batch commits batches as they come: the transform hands each over as DuckDB
      // makes it, instead of filling large batches first.
      ARROW_ASSIGN_OR_RAISE(
          auto transformed,
          Transform(*sql, source, call, configured ? &request : nullptr,
                    /*interactive=*/commit == config::CommitMode::kPerBatch));
      transforms.push_back(std::make_shared<ErrorKeepingReader>(std::move(transformed)));
      source = transforms.back();
    }
    if (transformed) {
      transforms.push_back(std::make_shared<ErrorKeepingReader>(budget->CapProduced(source)));
      source = transforms.back();
    }
    return Write(request, route, commit, source, count_commit, call, connection,
                 meter.get(), &result);
  }();
  if (budget != nullptr) budget->Finish();
  // A refused batch reaches us wrapped in DuckDB's scan error: report the refusal itself
  // (its code and kind: 413 / INVALID_ARGUMENT, schema mismatch, ...), or the transform's
  // own error.
  for (const auto& transform : transforms) {
    if (!st.ok() && !transform->error().ok()) st = transform->error();
  }
  if (!st.ok() && !validating->error().ok()) st = validating->error();
  if (!st.ok() && !disk_checked->error().ok()) st = disk_checked->error();
  // A lake commit cut short by the cancellation may have landed: the client still learns
  // that its outcome is unknown (retry with the same request id), and why.
  if (call.cancellation) st = call.cancellation->Explain(st);
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool per_batch = commit == config::CommitMode::kPerBatch && !result.in_transaction;
  if (meter != nullptr) {
    // per_batch writes counted each batch as it committed; a request in the caller's
    // transaction counts when (and if) that transaction commits; per_request, now.
    if (st.ok() && !result.duplicate && !per_batch) {
      const int64_t rows = result.rows, batches = result.batches;
      if (result.in_transaction) {
        connection->connection().OnCommit([meter, rows, batches] {
          meter->Committed(rows, batches);
        });
      } else {
        meter->Committed(rows, batches);
      }
    }
    if (request.wire_bytes) meter->AddWireBytes(request.wire_bytes());
    meter->Finish({st.ok(), IsSchemaMismatch(st), result.duplicate, result.seconds,
                   result.batches > 0 && per_batch});
  }
  if (!st.ok()) {
    // per_batch: the batches committed before the failure stay written.
    if (per_batch) {
      const auto [rows, batches, bytes] = uncounted();
      router_->RecordError(request.stream, IsSchemaMismatch(st), rows, batches, bytes);
    } else {
      router_->RecordError(request.stream, IsSchemaMismatch(st));
    }
    // An action (copy_from) has no per-batch acknowledgements: its error alone says
    // what stays.
    const std::string kept =
        per_batch && result.batches > 0
            ? "; " + std::to_string(result.rows) + " rows in " +
                  std::to_string(result.batches) +
                  " batches were committed before it and stay (per_batch)"
            : std::string();
    return st.WithMessage("stream '", request.stream, "' -> table ", result.table, ": ",
                          st.message(), kept);
  }
  if (result.duplicate) {
    router_->RecordEnd(request.stream);
  } else {
    const auto [rows, batches, bytes] = uncounted();
    router_->RecordSuccess(request.stream, rows, batches, bytes);
  }
  return result;
}

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

arrow::Status IngestPipeline::Write(const IngestRequest& request,
                                    const config::StreamConfig& route,
                                    config::CommitMode commit,
                                    const std::shared_ptr<arrow::RecordBatchReader>& source,
                                    const BatchCommitted& on_commit, const CallContext& call,
                                    storage::ConnectionLease* connection,
                                    metrics::IngestMeter* meter, IngestResult* result) {
  const storage::TableName target = TargetOf(request, route);
  ARROW_RETURN_NOT_OK(ValidateName("stream", request.stream));
  ARROW_RETURN_NOT_OK(ValidateName("table", target.table));
  ARROW_RETURN_NOT_OK(ValidateName("schema", target.schema));
  if (target.temporary && (connection == nullptr || target.schema != "main")) {
    return arrow::Status::Invalid(
        connection == nullptr ? "a temporary table needs a connection that outlives the request"
                              : "a temporary table has no schema but main");
  }
  // A lake stream's rows go to its Delta table, unless the request names another table.
  if (route.sink == config::Sink::kLake &&
      (request.table.empty() || request.table == route.target_table) && !target.temporary) {
    if (connection != nullptr && connection->connection().in_transaction()) {
      return arrow::Status::Invalid("stream '", request.stream, "' writes a lake table, "
                                    "which cannot join a transaction");
    }
    if (lakes_ == nullptr) {
      return arrow::Status::Invalid("stream '", request.stream, "' has sink: lake, which "
                                    "this server does not serve");
    }
    if (!request.request_id.empty()) ARROW_RETURN_NOT_OK(ValidateRequestId(request.request_id));
    // The same column checks as for a table (names, count, types DuckDB can read back):
    // every lake table is also read through DuckDB.
    ARROW_RETURN_NOT_OK(storage::CheckIngestSchema(*source->schema(), /*creating=*/true));
    result->table = route.lake.url;
    ARROW_ASSIGN_OR_RAISE(auto table, lakes_->Table(route.lake));
    auto st = WriteToLake(table, request, route, commit, source.get(), on_commit, call, meter,
                          result);
    // Whatever committed (per_batch: some batches) is readable at once.
    if (lake_committed_ && (st.ok() || result->batches > 0)) lake_committed_(request.stream);
    return st;
  }
  ARROW_RETURN_NOT_OK(storage::CheckIngestSchema(*source->schema(), /*creating=*/false));
  storage::ConnectionLease own;
  storage::ConnectionLease* lease = connection;
  if (lease == nullptr) {
    ARROW_ASSIGN_OR_RAISE(auto fresh, database_->Connect());
    own = storage::ConnectionLease::Own(std::move(fresh));
    lease = &own;
  }
  storage::Connection* conn = &lease->connection();
  auto interrupt = conn->InterruptOn(call.cancellation);
  // Inside a transaction the request commits with it (per_batch does not apply), and
  // the idempotency log would be written inside the client's transaction.
  if (conn->in_transaction() && !request.request_id.empty()) {
    return arrow::Status::Invalid("a request id cannot be used inside a transaction");
  }
  if (!request.request_id.empty()) {
    ARROW_RETURN_NOT_OK(ValidateRequestId(request.request_id));
    ARROW_RETURN_NOT_OK(request_log_.Ensure(lease));
  }
  // Declared after the connection: a table it holds is released before the connection
  // closes.
  WriteContext ctx;
  ctx.lease = lease;
  ctx.conn = conn;
  ctx.target = target;
  ctx.request = &request;
  ctx.policy = route.schema_policy;
  ctx.source = source;
  ctx.mapping_key = source->schema()->ToString();
  ctx.cache = &cache_;
  ctx.result = result;
  ctx.call = &call;
  ctx.meter = meter;
  // Inside the caller's transaction the request is that transaction's to commit.
  if (conn->in_transaction()) {
    result->in_transaction = true;
    return TransactionWriter(&ctx, database_).Write();
  }
  if (commit == config::CommitMode::kPerRequest) return PerRequestWriter(&ctx).Write();
  return PerBatchWriter(&ctx, on_commit).Write();
}

}  // namespace arrowport::ingest
