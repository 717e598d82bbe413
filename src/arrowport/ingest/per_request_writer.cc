#include "arrowport/ingest/per_request_writer.h"

#include "arrow/record_batch.h"
#include "arrowport/ingest/batch_coalescer.h"
#include "arrowport/ingest/counting_reader.h"
#include "arrowport/ingest/replay_reader.h"
#include "arrowport/ingest/small_request_writer.h"
#include "arrowport/ingest/table_cache.h"
#include "arrowport/ingest/write_context.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/shared_connection.h"
#include "arrowport/storage/catalog/request_log.h"
#include "arrowport/storage/catalog/table_writer.h"

namespace arrowport::ingest {

using storage::ColumnInfo;

arrow::Status PerRequestWriter::Write() {
  std::vector<std::shared_ptr<arrow::RecordBatch>> ahead;
  ARROW_ASSIGN_OR_RAISE(bool written, SmallRequestWriter(ctx_).TryWrite(&ahead));
  if (written) return arrow::Status::OK();
  auto input = ahead.empty()
                   ? ctx_->source
                   : std::make_shared<ReplayReader>(std::move(ahead), ctx_->source);
  // One statement scans the whole request as it arrives; one transaction commits it.
  // DuckDB sees the client's small batches joined (its cost is per batch); the counts
  // are the client's.
  auto counting = std::make_shared<CountingReader>(input);
  std::vector<ColumnInfo> incoming;
  ARROW_ASSIGN_OR_RAISE(auto relation,
                        RegisterStream(ctx_, std::make_shared<BatchCoalescer>(counting),
                                       &incoming));
  ARROW_ASSIGN_OR_RAISE(bool fast, TryFastAppend(relation, incoming, *counting));
  if (fast) return arrow::Status::OK();
  return WriteInTransaction(relation, incoming, *counting, input.get());
}

arrow::Result<bool> PerRequestWriter::TryFastAppend(const std::string& relation,
                                                    const std::vector<ColumnInfo>& incoming,
                                                    const CountingReader& counting) {
  // A plain append to a known table that needs no DDL: one INSERT in its own
  // transaction, without the DDL lock and catalog lookups; with a request id the log row
  // must commit with it, so that goes through WriteInTransaction.
  if (ctx_->request->mode != WriteMode::kAppend || ctx_->idempotent()) return false;
  auto known = ctx_->cache->Table(ctx_->conn, ctx_->table());
  if (!known || NeedsDdl(known, incoming, ctx_->request->mode, ctx_->policy)) return false;
  auto plan = PlanColumns(ctx_->table().ToString(), incoming, *known, ctx_->policy);
  // The cached columns do not fit: decide on fresh ones in the transaction.
  if (!plan.ok() || !plan->added.empty()) return false;
  storage::Connection* conn = ctx_->conn;
  auto inserted = [&]() -> arrow::Status {
    ARROW_RETURN_NOT_OK(HoldTarget(ctx_));
    ARROW_RETURN_NOT_OK(ctx_->lease->Begin());
    ARROW_RETURN_NOT_OK(
        storage::InsertFrom(conn, ctx_->table(), relation, plan->targets, plan->sources)
            .status());
    ARROW_RETURN_NOT_OK(CheckCallStillValid(*ctx_));
    return CommitWrite(*ctx_);
  }();
  if (!inserted.ok()) (void)ctx_->lease->RollbackOrDiscard();
  ctx_->hold.Release();
  conn->DropArrowStream(relation);
  if (!inserted.ok()) {
    ctx_->cache->ForgetTable(ctx_->table());
    return inserted;
  }
  TakeCounts(counting);
  return true;
}

arrow::Status PerRequestWriter::WriteInTransaction(const std::string& relation,
                                                   const std::vector<ColumnInfo>& incoming,
                                                   const CountingReader& counting,
                                                   arrow::RecordBatchReader* input) {
  storage::Connection* conn = ctx_->conn;
  IngestResult& result = *ctx_->result;
  const auto log_key = ctx_->log_key();
  ARROW_RETURN_NOT_OK(OpenWrite(ctx_, relation, incoming));
  bool duplicate = false;
  auto st = [&]() -> arrow::Status {
    if (log_key) {
      ARROW_ASSIGN_OR_RAISE(auto prior, storage::RequestLog::Lookup(conn, *log_key));
      if (prior) {
        duplicate = true;
        result.rows = prior->rows;
        result.batches = prior->batches;
        return arrow::Status::OK();
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto existing, PrepareTarget(ctx_));
    ARROW_ASSIGN_OR_RAISE(auto plan, EnsureTable(ctx_, existing, incoming));
    ARROW_RETURN_NOT_OK(storage::InsertFrom(conn, ctx_->table(), relation, plan.targets,
                                            plan.sources));
    TakeCounts(counting);
    if (log_key) {
      ARROW_ASSIGN_OR_RAISE(auto record,
                            storage::RequestLog::Record(*log_key, result.stream,
                                                        result.rows, result.batches));
      ARROW_RETURN_NOT_OK(conn->AppendAtomically({record}));
    }
    ARROW_RETURN_NOT_OK(CheckCallStillValid(*ctx_));
    return CommitWrite(*ctx_);
  }();
  if (!st.ok() || duplicate) (void)ctx_->lease->RollbackOrDiscard();
  // Before waiting on a racing copy, which may itself wait to hold the table.
  ctx_->hold.Release();
  if (!st.ok() && log_key) {
    // Ours is rolled back; if a racing copy committed, answered as the retry it is.
    auto prior = storage::RequestLog::CommittedByARacingCopy(conn, *log_key, st);
    if (prior.ok()) {
      duplicate = true;
      st = arrow::Status::OK();
      result.rows = prior->rows;
      result.batches = prior->batches;
    }
  }
  conn->DropArrowStream(relation);
  // Whatever happened, the next request starts from the table as it now is.
  (void)RefreshTable(ctx_);
  ARROW_RETURN_NOT_OK(st);
  if (duplicate) {
    result.duplicate = true;
    return Drain(input);  // the retried body is read and discarded
  }
  return arrow::Status::OK();
}

void PerRequestWriter::TakeCounts(const CountingReader& counting) {
  ctx_->result->rows = counting.rows();
  ctx_->result->batches = counting.batches();
  ctx_->result->bytes = counting.bytes();
}

}  // namespace arrowport::ingest
