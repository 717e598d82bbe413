#include "arrowport/ingest/lake_writer.h"

#include <tuple>

#include "arrow/record_batch.h"
#include "arrow/util/byte_size.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/common/thread_cancellation.h"
#include "arrowport/ingest/replay_reader.h"
#include "arrowport/ingest/write_context.h"
#include "arrowport/lake/lake_append.h"
#include "arrowport/metrics/server_metrics.h"

namespace arrowport::ingest {

namespace {

// The store failing (unreachable, refusing, erroring) is the server's trouble, not the
// request's: 503 / UNAVAILABLE, retry later.
arrow::Status StoreError(arrow::Status st) {
  if (st.ok() || !st.IsIOError() || GetErrorKind(st) != nullptr) return st;
  return WithErrorKind(st, ErrorKind::kStoreUnavailable);
}

// per_batch: `batch` (the request's `index`th) written and committed on its own. False
// when a racing copy of the request committed it first (or, without a request id, an
// empty batch left nothing to commit): not ours.
arrow::Result<bool> CommitOneBatch(lake::LakeAppend* append,
                                   const arrow::RecordBatch& batch, int64_t index,
                                   const IngestRequest& request, const CallContext& call,
                                   IngestResult* result) {
  auto st = append->Write(batch);
  if (st.ok()) st = CheckCallStillValid(call);
  int64_t version = -1;
  if (st.ok()) {
    auto committed = append->Commit(request.request_id.empty() ? -1 : index);
    st = committed.status();
    if (committed.ok()) version = *committed;
    if (version >= 0) NoteBatchCommitted(call);  // < 0: an earlier attempt's
  }
  if (!st.ok()) {
    return StoreError(st.WithMessage("batch ", index, " (after ", index, " committed): ",
                                     st.message()));
  }
  if (append->created_table()) result->created = true;
  return version >= 0 || request.request_id.empty();
}

}  // namespace

arrow::Status WriteToLake(const std::shared_ptr<lake::LakeTable>& table,
                          const IngestRequest& request, const config::StreamConfig& route,
                          config::CommitMode commit, arrow::RecordBatchReader* source,
                          const BatchCommitted& on_commit, const CallContext& call,
                          metrics::IngestMeter* meter, IngestResult* result) {
  // Every store request of the write (and of the threads it hands parts to) ends when the
  // call is cancelled: its client gone, its deadline passed, the server stopping.
  ThreadCancellationScope obey_call(call.cancellation);
  lake::AppendOptions options;
  options.policy = route.schema_policy;
  options.create_only = request.mode == WriteMode::kCreate;
  options.replace = request.mode == WriteMode::kReplace;
  options.request_id = request.request_id;
  lake::LakeAppend append(table, options);
  auto started = append.Start(*source->schema());
  if (!started.ok()) return StoreError(started.status());
  const int64_t prior = *started;
  const bool per_batch = commit == config::CommitMode::kPerBatch;
  if (!per_batch && prior >= 0) {
    // A retry of a committed request: read and discarded; answered with the original
    // counts.
    result->duplicate = true;
    std::tie(result->rows, result->batches) = append.PriorCounts();
    return Drain(source);
  }
  bool wrote_any = false;  // per_batch: a batch of ours committed (not an earlier attempt's)
  for (;;) {
    std::shared_ptr<arrow::RecordBatch> batch;
    auto read = source->ReadNext(&batch);
    if (!read.ok()) {
      if (!per_batch) return read;
      return read.WithMessage("after ", result->batches, " committed batch(es): ",
                              read.message());
    }
    if (!batch) break;
    const int64_t index = result->batches;
    // per_batch: false when a copy of the request committed it (an earlier attempt up to
    // `prior`, or a racing one).
    bool written = !per_batch || index > prior;
    if (!per_batch) {
      ARROW_RETURN_NOT_OK(StoreError(append.Write(*batch)));
    } else if (index > prior) {
      // A batch an earlier attempt of this request committed is not written again.
      ARROW_ASSIGN_OR_RAISE(
          written, CommitOneBatch(&append, *batch, index, request, call, result));
      wrote_any = wrote_any || written;
      if (written && meter != nullptr) meter->Committed(batch->num_rows(), 1);
    }
    result->AddBatch(batch->num_rows(), arrow::util::TotalBufferSize(*batch), !written);
    if (per_batch && on_commit) ARROW_RETURN_NOT_OK(on_commit(index, batch->num_rows()));
  }
  if (per_batch) {
    // A stream without batches still creates the table (as a DuckDB sink does).
    if (result->batches == 0) ARROW_RETURN_NOT_OK(StoreError(append.Commit(-1).status()));
    if (result->batches > 0 && !wrote_any && !request.request_id.empty()) {
      // Every batch an earlier attempt's: answered as a per_request retry is.
      result->duplicate = true;
      result->bytes = 0;
    }
    return arrow::Status::OK();
  }
  ARROW_RETURN_NOT_OK(CheckCallStillValid(call));
  auto committed = append.Commit(request.request_id.empty() ? -1 : 0);
  if (!committed.ok()) return StoreError(committed.status());
  const int64_t version = *committed;
  if (version >= 0) NoteCommitted(call);  // < 0: an earlier attempt's, not ours
  if (version < 0 && !request.request_id.empty()) {
    // Another attempt of this request committed first: ours is dropped.
    result->duplicate = true;
  }
  if (append.created_table()) result->created = true;
  return arrow::Status::OK();
}

}  // namespace arrowport::ingest
