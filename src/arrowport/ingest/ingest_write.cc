// IngestPipeline's last step (ingest_pipeline.h: Write): a request's target checked, a
// connection leased, and the writer for its commit mode (or the lake's) run.
#include "arrowport/common/status_detail.h"
#include "arrowport/common/thread_cancellation.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/lake_writer.h"
#include "arrowport/ingest/per_batch_writer.h"
#include "arrowport/ingest/per_request_writer.h"
#include "arrowport/ingest/transaction_writer.h"
#include "arrowport/ingest/write_context.h"
#include "arrowport/lake/lake_catalog.h"
#include "arrowport/storage/catalog/request_log.h"
#include "arrowport/storage/database/shared_connection.h"
#include "arrowport/storage/core/type_mapping.h"

namespace arrowport::ingest {
namespace {

// A temporary table lives only on a connection that outlives the request (a client's
// session). (Its names and id were checked when the run began: IngestPipeline::Begin.)
arrow::Status CheckTarget(const storage::TableName& target,
                          const storage::ConnectionLease* connection) {
  if (target.temporary && (connection == nullptr || target.schema != "main")) {
    return arrow::Status::Invalid(
        connection == nullptr ? "a temporary table needs a connection that outlives the request"
                              : "a temporary table has no schema but main");
  }
  return arrow::Status::OK();
}

}  // namespace

storage::TableName IngestPipeline::TargetOf(const IngestRequest& request, const config::StreamConfig& route) {
  return storage::TableName(request.schema.empty() ? "main" : request.schema,
                            request.table.empty() ? route.target_table : request.table,
                            request.temporary);
}

arrow::Status IngestPipeline::WriteLakeStream(IngestRun& run,
                                              arrow::RecordBatchReader* source,
                                              const BatchCommitted& on_commit,
                                              const CallContext& call,
                                              storage::ConnectionLease* connection) {
  const IngestRequest& request = run.request();
  const config::StreamConfig& route = run.route();
  IngestResult* result = &run.result_;
  if (connection != nullptr && connection->connection().in_transaction()) {
    return arrow::Status::Invalid("stream '", request.stream, "' writes a lake table, "
                                  "which cannot join a transaction");
  }
  if (lakes_ == nullptr) {
    return arrow::Status::Invalid("stream '", request.stream, "' has sink: lake, which "
                                  "this server does not serve");
  }
  // The same column checks as for a table (names, count, types DuckDB can read back):
  // every lake table is also read through DuckDB.
  ARROW_RETURN_NOT_OK(storage::CheckIngestSchema(*source->schema(), /*creating=*/true));
  result->table = route.lake.url;
  ARROW_ASSIGN_OR_RAISE(auto table, lakes_->Table(route.lake));
  auto st = WriteToLake(table, request, route, run.commit(), source, on_commit, call,
                        run.meter_.get(), result);
  // Whatever committed (per_batch: some batches) is readable at once; a table this write
  // found refused is refused to every reader before the write answers (a view over it,
  // a prepared statement or a transaction included, which name no lake table).
  if (lake_committed_ &&
      (st.ok() || result->batches > 0 || HasErrorKind(st, ErrorKind::kTableRefused))) {
    // Under the call's cancellation too: the view's lock and the store reads of its
    // DDL hold no call whose client is gone (the upkeep thread makes it then).
    ThreadCancellationScope obey_call(call.cancellation);
    lake_committed_(request.stream);
  }
  return st;
}

arrow::Status IngestPipeline::Write(IngestRun& run,
                                    const std::shared_ptr<arrow::RecordBatchReader>& source,
                                    const BatchCommitted& on_commit, const CallContext& call,
                                    storage::ConnectionLease* connection) {
  const IngestRequest& request = run.request();
  const config::StreamConfig& route = run.route();
  const storage::TableName target = TargetOf(request, route);
  ARROW_RETURN_NOT_OK(CheckTarget(target, connection));
  // A lake stream's rows go to its Delta table, unless the request names another table.
  if (route.sink == config::Sink::kLake &&
      (request.table.empty() || request.table == route.target_table) && !target.temporary) {
    return WriteLakeStream(run, source.get(), on_commit, call, connection);
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
  if (!request.request_id.empty()) ARROW_RETURN_NOT_OK(request_log_->Ensure(lease));
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
  ctx.result = &run.result_;
  ctx.call = &call;
  ctx.meter = run.meter_.get();
  // Inside the caller's transaction the request is that transaction's to commit.
  if (conn->in_transaction()) {
    run.result_.in_transaction = true;
    return TransactionWriter(&ctx, database_).Write();
  }
  if (run.commit() == config::CommitMode::kPerRequest) return PerRequestWriter(&ctx).Write();
  return PerBatchWriter(&ctx, on_commit).Write();
}

}  // namespace arrowport::ingest
