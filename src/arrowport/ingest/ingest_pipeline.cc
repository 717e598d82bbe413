#include "arrowport/ingest/ingest_pipeline.h"

#include <mutex>

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
#include "arrowport/ingest/replay_reader.h"
#include "arrowport/ingest/transaction_writer.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/ingest/validating_reader.h"
#include "arrowport/ingest/write_context.h"
#include "arrowport/metrics/metering_reader.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/query/session_connection.h"
#include "arrowport/storage/catalog/request_log.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/core/table_name.h"
#include "arrowport/storage/database/shared_connection.h"
#include "arrowport/storage/core/type_mapping.h"

namespace arrowport::ingest {

namespace {

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

// A request's batches on their way to its writer, and the readers that keep the errors
// DuckDB would report wrapped in its scan error.
struct IngestInput {
  std::shared_ptr<ValidatingReader> validating;
  std::shared_ptr<ErrorKeepingReader> disk_checked;
  std::vector<std::shared_ptr<ErrorKeepingReader>> transforms;
  std::shared_ptr<WriteBudget> budget;  // null unless under the query deadline
  std::shared_ptr<arrow::RecordBatchReader> source;  // what the writer (or transform) reads

  // A refused batch reaches us wrapped in DuckDB's scan error: report the refusal itself
  // (its code and kind: 413 / INVALID_ARGUMENT, schema mismatch, ...), or the transform's
  // own error.
  arrow::Status Unwrap(arrow::Status st) const {
    for (const auto& transform : transforms) {
      if (!st.ok() && !transform->error().ok()) st = transform->error();
    }
    if (!st.ok() && !validating->error().ok()) st = validating->error();
    if (!st.ok() && !disk_checked->error().ok()) st = disk_checked->error();
    return st;
  }
};

// Receive and decode (the caller's reader) and full validation run ahead of DuckDB on
// a thread of their own, a few batches deep (not for per_batch commits): both cores
// work, memory stays bounded.
// `budget`: rows that are not simply the client's own (a transform's, a peer's) run
// under the query deadline from the first batch, and a transform's under the write cap.
IngestInput ReadAhead(std::shared_ptr<arrow::RecordBatchReader> source,
                      const config::StreamConfig& route, bool transformed,
                      config::CommitMode commit, const CallContext& call,
                      const std::shared_ptr<metrics::IngestMeter>& meter,
                      storage::Database* database, int64_t max_batch_bytes,
                      std::shared_ptr<WriteBudget> budget) {
  IngestInput input;
  input.validating = MakeValidatingReader(std::move(source), max_batch_bytes);
  // Kept apart: DuckDB reports a refusal wrapped in its scan error (Unwrap). A lake
  // stream writes its object store, not the database's disk.
  std::shared_ptr<arrow::RecordBatchReader> checked = input.validating;
  if (route.sink != config::Sink::kLake) {
    checked = std::make_shared<DiskCheckingReader>(std::move(checked), database);
  }
  input.disk_checked = std::make_shared<ErrorKeepingReader>(std::move(checked));
  source = input.disk_checked;
  if (meter != nullptr || call.progress != nullptr) {
    // Counted as they are validated, on the read-ahead thread: the stream's live rate,
    // the call's progress.
    source = std::make_shared<metrics::MeteringReader>(
        std::move(source), [meter, progress = call.progress](int64_t rows, int64_t bytes) {
          if (meter) meter->Received(rows, bytes);
          if (progress) progress->Add(rows, bytes);
        });
  }
  if (budget != nullptr) source = budget->CountSent(std::move(source), /*deadline=*/true);
  input.budget = std::move(budget);
  // per_batch answers each batch once it commits, and a client may wait for that answer
  // before it sends the next: a thread reading ahead would then sit in the network read
  // when a commit fails, and the call could not end (with the commit's error) until the
  // client gave up. Its batches are read as the commits ask for them.
  if (commit != config::CommitMode::kPerBatch) {
    source = MakePrefetchingReader(std::move(source), IngestPipeline::kPrefetchDepth);
  }
  if (transformed && commit == config::CommitMode::kPerRequest) {
    // A transform committed as a whole scans the client's small batches joined (DuckDB's
    // cost is per batch); per_batch hands each on as it comes.
    source = std::make_shared<BatchCoalescer>(std::move(source));
  }
  input.source = std::move(source);
  return input;
}

}  // namespace

IngestPipeline::IngestPipeline(storage::Database* database, StreamRouter* router,
                               int64_t max_batch_bytes, metrics::ServerMetrics* metrics)
    : database_(database),
      router_(router),
      max_batch_bytes_(max_batch_bytes),
      metrics_(metrics),
      request_log_(std::make_unique<storage::RequestLog>()) {}

IngestPipeline::~IngestPipeline() = default;

void IngestPipeline::EnableLakes(lake::LakeCatalog* lakes,
                                 std::function<void(const std::string&)> committed) {
  lakes_ = lakes;
  lake_committed_ = std::move(committed);
}

arrow::Result<int64_t> IngestPipeline::RekeyRequestLog(
    const std::function<void(int64_t)>& on_progress) {
  ARROW_ASSIGN_OR_RAISE(auto connection, database_->Connect());
  auto lease = storage::ConnectionLease::Own(std::move(connection));
  return request_log_->RekeyAtStart(&lease, on_progress);
}

arrow::Result<IngestRun> IngestPipeline::Begin(IngestRequest request) const {
  // The names a request writes to are identifiers the server will quote, and its id is
  // one the idempotency log keys by: checked here, for every protocol, once.
  ARROW_RETURN_NOT_OK(ValidateName("stream", request.stream));
  config::StreamConfig route = router_->Route(request.stream);
  const storage::TableName target = TargetOf(request, route);
  ARROW_RETURN_NOT_OK(ValidateName("table", target.table));
  ARROW_RETURN_NOT_OK(ValidateName("schema", target.schema));
  if (!request.request_id.empty()) ARROW_RETURN_NOT_OK(ValidateRequestId(request.request_id));
  return IngestRun(std::move(request), std::move(route), target.ToString(), router_,
                   metrics_);
}

arrow::Result<IngestResult> IngestPipeline::Ingest(
    const IngestRequest& request, std::shared_ptr<arrow::RecordBatchReader> source,
    const BatchCommitted& on_commit, const CallContext& call,
    query::SessionLease* session) {
  ARROW_ASSIGN_OR_RAISE(auto run, Begin(request));
  return Ingest(std::move(run), std::move(source), on_commit, call, session);
}

arrow::Result<IngestResult> IngestPipeline::Ingest(
    IngestRun run, std::shared_ptr<arrow::RecordBatchReader> source,
    const BatchCommitted& on_commit, const CallContext& call,
    query::SessionLease* session) {
  if (session != nullptr && !*session) {
    return arrow::Status::Invalid("internal: an ingest on an empty session lease");
  }
  storage::ConnectionLease* connection =
      session != nullptr ? &session->storage_lease(query::StorageAccess{}) : nullptr;
  // From here the run is listed and metered; it ends in Finish (or, on an early return,
  // in its destructor).
  run.Start(connection);
  const IngestRequest& request = run.request();
  const config::StreamConfig& route = run.route();
  const auto commit = run.commit();
  const BatchCommitted count_commit = run.CountingCommits(on_commit);
  const bool transformed = !request.transform.empty() || !route.transform.empty();
  std::shared_ptr<WriteBudget> budget;
  if (transformed || request.under_query_deadline) budget = NewWriteBudget(call);
  IngestInput input = ReadAhead(std::move(source), route, transformed, commit, call,
                                run.meter_, database_, max_batch_bytes_, std::move(budget));
  auto st = [&]() -> arrow::Status {
    // Checked before a transform starts reading the client's stream.
    ARROW_RETURN_NOT_OK(CheckTransformUse(request, route, commit, call));
    // The client's transform, then the stream's: each a query over the batches before.
    // Committed as a whole, a transform's rows wait for its input's end (EndsWithItsInput:
    // an upload that stalls, is cut short or whose client leaves commits nothing, even when
    // the transform needed only its first rows); per_batch commits them as they come, the
    // input checked to its end after them when the client awaits one answer (answered_at_end);
    // a copy_from reads its peer's table no further than the transform needs.
    const bool to_its_end = (commit == config::CommitMode::kPerRequest ||
                             request.answered_at_end) && !request.server_reads_source;
    for (const auto* sql : {&request.transform, &route.transform}) {
      if (sql->empty()) continue;
      const bool configured = sql == &route.transform;
      // per_batch commits batches as they come: the transform hands each over as DuckDB
      // makes it, instead of filling large batches first.
      ARROW_ASSIGN_OR_RAISE(
          std::shared_ptr<arrow::RecordBatchReader> transformed,
          Transform(*sql, input.source, call, configured ? &request : nullptr,
                    /*interactive=*/commit == config::CommitMode::kPerBatch));
      // Each transform drains its own input, once its own query has ended.
      if (to_its_end) {
        transformed = std::make_shared<EndsWithItsInput>(std::move(transformed), input.source);
      }
      input.transforms.push_back(std::make_shared<ErrorKeepingReader>(std::move(transformed)));
      input.source = input.transforms.back();
    }
    if (transformed) {
      input.transforms.push_back(
          std::make_shared<ErrorKeepingReader>(input.budget->CapProduced(input.source)));
      input.source = input.transforms.back();
    }
    return Write(run, input.source, count_commit, call, connection);
  }();
  if (input.budget != nullptr) input.budget->Finish();
  st = input.Unwrap(std::move(st));
  // A lake commit cut short by the cancellation may have landed: the client still learns
  // that its outcome is unknown (retry with the same request id), and why.
  if (call.cancellation) st = call.cancellation->Explain(st);
  return run.Finish(std::move(st));
}

arrow::Result<std::string> IngestPipeline::SetClientTarget(IngestRequest* request,
                                                           const std::string& catalog,
                                                           const std::string& schema,
                                                           const std::string& table,
                                                           bool temporary) {
  ARROW_ASSIGN_OR_RAISE(const auto target,
                        storage::TableName::FromClient(schema, table, temporary));
  if (!catalog.empty() && catalog != database_->catalog()) {
    return arrow::Status::NotImplemented("ingest targets catalog '", database_->catalog(),
                                         "'; got catalog '", catalog, "'");
  }
  request->table = target.table;
  request->schema = target.schema;
  request->temporary = target.temporary;
  return target.ToString();
}

arrow::Result<bool> IngestPipeline::TargetExists(const IngestRequest& request,
                                                 query::SessionLease* connection) {
  const storage::TableName target(request.schema, request.table, request.temporary);
  if (connection != nullptr && !*connection) {
    return arrow::Status::Invalid("internal: a catalog read on an empty session lease");
  }
  if (connection != nullptr) {
    ARROW_ASSIGN_OR_RAISE(auto columns,
                          connection->storage_lease(query::StorageAccess{})->DescribeRelation(target));
    return columns.has_value();
  }
  ARROW_ASSIGN_OR_RAISE(auto own, database_->Connect());
  ARROW_ASSIGN_OR_RAISE(auto columns, own->DescribeRelation(target));
  return columns.has_value();
}

}  // namespace arrowport::ingest
