#include "arrowport/ingest/ingest_run.h"

#include <utility>

#include "arrowport/common/status_detail.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/storage/core/duckdb_error.h"
#include "arrowport/storage/database/shared_connection.h"

namespace arrowport::ingest {

namespace {

// A malformed arrow.parquet.variant value (storage::IsMalformedVariant) answered a
// client's bad column with 500 "internal": at ingest the values are the client's.
arrow::Status AsClientInput(const arrow::Status& st) {
  if (!storage::IsMalformedVariant(st)) return st;
  return arrow::Status(arrow::StatusCode::Invalid,
                       "an arrow.parquet.variant column holds a value that is not a "
                       "well-formed Parquet variant (DuckDB: " + st.message() + ")",
                       st.detail());
}

}  // namespace

bool IsSchemaMismatch(const arrow::Status& status) {
  return HasErrorKind(status, ErrorKind::kSchemaMismatch);
}

IngestRun::IngestRun(IngestRequest request, config::StreamConfig route, std::string table,
                     StreamRouter* router, metrics::ServerMetrics* metrics)
    : request_(std::move(request)),
      route_(std::move(route)),
      commit_(request_.commit.value_or(route_.commit)),
      router_(router),
      metrics_(metrics) {
  result_.stream = request_.stream;
  result_.table = std::move(table);
}

IngestRun::IngestRun(IngestRun&& other) noexcept
    : request_(std::move(other.request_)),
      route_(std::move(other.route_)),
      commit_(other.commit_),
      router_(std::exchange(other.router_, nullptr)),
      metrics_(other.metrics_),
      meter_(std::move(other.meter_)),
      connection_(other.connection_),
      result_(std::move(other.result_)),
      start_(other.start_),
      started_(std::exchange(other.started_, false)),
      finished_(other.finished_),
      counted_rows_(other.counted_rows_),
      counted_batches_(other.counted_batches_),
      counted_bytes_(other.counted_bytes_) {}

IngestRun::~IngestRun() {
  // Only an early return between Start and Finish gets here: the entry begun is ended.
  if (router_ != nullptr && started_ && !finished_) {
    (void)Finish(arrow::Status::Cancelled("the ingest ended before its outcome was known"));
  }
}

void IngestRun::Start(storage::ConnectionLease* connection) {
  start_ = std::chrono::steady_clock::now();
  connection_ = connection;
  started_ = true;
  // The meter is labelled with the name the router lists the stream under.
  const std::string listed = router_->RecordStart(request_.stream, commit_);
  if (metrics_ != nullptr) meter_ = metrics_->BeginIngest(listed, request_.protocol);
}

void IngestRun::TakeUncounted(int64_t* rows, int64_t* batches, int64_t* bytes) {
  *rows = result_.written_rows() - counted_rows_;
  *batches = result_.written_batches() - counted_batches_;
  *bytes = result_.written_bytes() - counted_bytes_;
  counted_rows_ = result_.written_rows();
  counted_batches_ = result_.written_batches();
  counted_bytes_ = result_.written_bytes();
}

BatchCommitted IngestRun::CountingCommits(BatchCommitted on_commit) {
  return [this, on_commit = std::move(on_commit)](int64_t index,
                                                   int64_t rows) -> arrow::Status {
    int64_t new_rows = 0, new_batches = 0, new_bytes = 0;
    TakeUncounted(&new_rows, &new_batches, &new_bytes);
    router_->RecordCommitted(request_.stream, new_rows, new_batches, new_bytes);
    return on_commit ? on_commit(index, rows) : arrow::Status::OK();
  };
}

arrow::Result<IngestResult> IngestRun::Finish(arrow::Status status) {
  finished_ = true;
  result_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  // per_batch counted each commit as it came; a request in the caller's transaction
  // counts when (and if) that transaction commits.
  const bool per_batch = commit_ == config::CommitMode::kPerBatch && !result_.in_transaction;
  FinishMeter(status, per_batch);
  ARROW_RETURN_NOT_OK(RecordOutcome(status, per_batch));
  return result_;
}

// per_batch writes counted each batch as it committed; a request in the caller's
// transaction counts when (and if) that transaction commits; per_request, now.
void IngestRun::FinishMeter(const arrow::Status& st, bool per_batch) {
  if (meter_ == nullptr) return;
  if (st.ok() && !result_.duplicate && !per_batch) {
    const int64_t rows = result_.rows, batches = result_.batches;
    if (result_.in_transaction) {
      connection_->connection().OnCommit([meter = meter_, rows, batches] {
        meter->Committed(rows, batches);
      });
    } else {
      meter_->Committed(rows, batches);
    }
  }
  meter_->Finish({st.ok(), IsSchemaMismatch(st), result_.duplicate, result_.seconds,
                  result_.batches > 0 && per_batch,
                  request_.wire_bytes ? request_.wire_bytes() : 0});
}

// The request's end in the router's counters; a failure's message names the stream, the
// table and, for per_batch, what stays committed.
arrow::Status IngestRun::RecordOutcome(const arrow::Status& st, bool per_batch) {
  int64_t rows = 0, batches = 0, bytes = 0;
  if (!st.ok()) {
    // per_batch: the batches committed before the failure stay written.
    if (per_batch) TakeUncounted(&rows, &batches, &bytes);
    router_->RecordError(request_.stream, IsSchemaMismatch(st), rows, batches, bytes);
    // An action (copy_from) has no per-batch acknowledgements: its error alone says
    // what stays.
    const std::string kept =
        per_batch && result_.batches > 0
            ? "; " + std::to_string(result_.rows) + " rows in " +
                  std::to_string(result_.batches) +
                  " batches were committed before it and stay (per_batch)"
            : std::string();
    const arrow::Status reported = AsClientInput(st);
    return reported.WithMessage("stream '", request_.stream, "' -> table ", result_.table,
                                ": ", reported.message(), kept);
  }
  if (result_.duplicate) {
    router_->RecordEnd(request_.stream);
  } else if (result_.in_transaction && !per_batch) {
    // The caller's transaction decides: its rows count when (and if) it commits, as the
    // metrics' do (a rolled-back bulk ingest was listed in /streams: issue 64's attack).
    TakeUncounted(&rows, &batches, &bytes);
    router_->RecordSuccess(request_.stream, 0, 0, 0);
    connection_->connection().OnCommit(
        [router = router_, stream = request_.stream, rows, batches, bytes] {
          router->RecordCommitted(stream, rows, batches, bytes);
        });
  } else {
    TakeUncounted(&rows, &batches, &bytes);
    router_->RecordSuccess(request_.stream, rows, batches, bytes);
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::ingest
