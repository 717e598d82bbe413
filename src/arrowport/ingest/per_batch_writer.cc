#include "arrowport/ingest/per_batch_writer.h"

#include "arrow/record_batch.h"
#include "arrow/util/byte_size.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/ingest/small_request_writer.h"
#include "arrowport/ingest/table_cache.h"
#include "arrowport/ingest/write_context.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/shared_connection.h"
#include "arrowport/storage/catalog/request_log.h"
#include "arrowport/storage/catalog/table_writer.h"

namespace arrowport::ingest {

arrow::Status PerBatchWriter::SetUp() {
  ARROW_ASSIGN_OR_RAISE(auto empty,
                        arrow::RecordBatchReader::Make({}, ctx_->source->schema()));
  ARROW_ASSIGN_OR_RAISE(auto relation, RegisterStream(ctx_, empty, &incoming_));
  ARROW_RETURN_NOT_OK(OpenWrite(ctx_, relation, incoming_));
  auto st = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto existing, PrepareTarget(ctx_));
    ARROW_ASSIGN_OR_RAISE(plan_, EnsureTable(ctx_, existing, incoming_));
    return ctx_->lease->Commit();
  }();
  if (!st.ok()) (void)ctx_->lease->RollbackOrDiscard();
  ctx_->hold.Release();
  ctx_->conn->DropArrowStream(relation);
  auto now = RefreshTable(ctx_);
  ARROW_RETURN_NOT_OK(st);
  exact_ = now.ok() && *now ? ExactTargets(incoming_, **now, ctx_->policy) : std::nullopt;
  return arrow::Status::OK();
}

bool PerBatchWriter::SetUpFromCache() {
  if (ctx_->request->mode != WriteMode::kAppend) return false;
  auto known = ctx_->cache->Table(ctx_->conn, ctx_->table());
  auto mapping = ctx_->cache->Mapping(ctx_->mapping_key);
  if (!known || !mapping || NeedsDdl(known, *mapping, ctx_->request->mode, ctx_->policy)) {
    return false;
  }
  auto planned = PlanColumns(ctx_->table().ToString(), *mapping, *known, ctx_->policy);
  if (!planned.ok() || !planned->added.empty()) return false;
  incoming_ = *mapping;
  plan_ = std::move(*planned);
  exact_ = ExactTargets(incoming_, *known, ctx_->policy);
  return true;
}

arrow::Status PerBatchWriter::Cancelled() const {
  const auto& cancellation = ctx_->call->cancellation;
  return cancellation ? cancellation->reason() : arrow::Status::OK();
}

arrow::Result<bool> PerBatchWriter::CommitBatch(
    const std::shared_ptr<arrow::RecordBatch>& batch) {
  const IngestResult& result = *ctx_->result;
  const auto key = ctx_->log_key(result.batches);
  IngestResult one_batch = result;
  one_batch.rows = batch->num_rows();
  one_batch.batches = 1;
  // Held per batch: a change of the table's shape may come in between batches.
  ARROW_RETURN_NOT_OK(HoldTarget(ctx_));
  if (auto cancelled = Cancelled(); !cancelled.ok()) {  // while waiting for the hold
    ctx_->hold.Release();
    return cancelled;
  }
  if (exact_ && batch->num_rows() <= kSmallRequestRows) {
    // Without planning SQL; a batch committed by an earlier attempt is skipped.
    auto appended = AppendSmall(ctx_->conn, ctx_->table(), *exact_, {batch}, key,
                                one_batch, &ctx_->hold);
    if (!appended.ok()) {
      ctx_->cache->ForgetTable(ctx_->table());
      return appended.status();
    }
    if (appended->has_value()) return false;  // an earlier attempt committed it
    NoteBatchCommitted(*ctx_->call);
    return true;
  }
  auto written = InsertBatch(batch, key, one_batch);
  ctx_->hold.Release();
  return written;
}

arrow::Result<bool> PerBatchWriter::InsertBatch(
    const std::shared_ptr<arrow::RecordBatch>& batch,
    const std::optional<storage::RequestKey>& key, const IngestResult& one_batch) {
  storage::Connection* conn = ctx_->conn;
  ARROW_ASSIGN_OR_RAISE(auto one,
                        arrow::RecordBatchReader::Make({batch}, ctx_->source->schema()));
  ARROW_ASSIGN_OR_RAISE(auto relation, conn->RegisterArrowStream(one, nullptr));
  bool seen = false;
  auto st = ctx_->lease->Begin();
  if (st.ok() && key) {
    auto prior = storage::RequestLog::Lookup(conn, *key);
    st = prior.status();
    seen = prior.ok() && prior->has_value();
  }
  if (st.ok() && !seen) {
    st = storage::InsertFrom(conn, ctx_->table(), relation, plan_.targets, plan_.sources,
                             storage::InsertLength::kOneBatch)
             .status();
  }
  if (st.ok() && !seen && key) {
    auto record = storage::RequestLog::Record(*key, one_batch.stream, one_batch.rows,
                                              one_batch.batches);
    st = record.ok() ? conn->AppendAtomically({*record}) : record.status();
  }
  if (st.ok()) st = Cancelled();  // cancelled while inserting, between interrupts
  if (st.ok()) st = ctx_->lease->Commit();
  if (st.ok() && !seen) NoteBatchCommitted(*ctx_->call);  // seen: nothing of ours
  if (!st.ok()) (void)ctx_->lease->RollbackOrDiscard();
  ctx_->hold.Release();  // before waiting on a racing copy
  if (!st.ok() && key) {
    // Ours is rolled back; if a racing copy committed this batch, it counts as seen.
    auto prior = storage::RequestLog::CommittedByARacingCopy(conn, *key, st);
    if (prior.ok()) {
      st = arrow::Status::OK();
      seen = true;
    }
  }
  conn->DropArrowStream(relation);
  ARROW_RETURN_NOT_OK(st);
  return !seen;
}

arrow::Status PerBatchWriter::Write() {
  IngestResult& result = *ctx_->result;
  // Appending to a known table that needs no DDL: the set-up transaction is skipped, and
  // redone only if a batch fails on a stale view of the table.
  bool set_up_from_cache = SetUpFromCache();
  std::shared_ptr<arrow::RecordBatch> first;
  {
    auto read = ctx_->source->ReadNext(&first);
    if (!read.ok()) return read.WithMessage("after 0 committed batch(es): ", read.message());
  }
  if (!set_up_from_cache) ARROW_RETURN_NOT_OK(SetUp());
  bool wrote_any = false;
  for (;;) {
    std::shared_ptr<arrow::RecordBatch> batch = std::move(first);
    auto read = batch ? arrow::Status::OK() : ctx_->source->ReadNext(&batch);
    if (!read.ok()) {
      return read.WithMessage("after ", result.batches, " committed batch(es): ",
                              read.message());
    }
    if (!batch) break;
    // A cancelled call (its client gone, its deadline, the shutdown's grace over) commits
    // no further batch, though its transport may still deliver some: gRPC reads on
    // through the window a call gets to answer. CommitBatch asks once it holds the
    // table and again before its commit; the count is told here.
    auto written = CommitBatch(batch);
    if (auto cancelled = Cancelled(); !written.ok() && !cancelled.ok()) {
      return cancelled.WithMessage("after ", result.batches, " committed batch(es): ",
                                   cancelled.message());
    }
    if (!written.ok() && set_up_from_cache) {
      // The cached table may be stale: set up from the database, then retry the batch.
      set_up_from_cache = false;
      auto set = SetUp();
      if (!set.ok()) {
        return set.WithMessage("batch ", result.batches, " (after ", result.batches,
                               " committed): ", set.message());
      }
      written = CommitBatch(batch);
    }
    if (!written.ok()) {
      const auto& st = written.status();
      return st.WithMessage("batch ", result.batches, " (after ", result.batches,
                            " committed): ", st.message());
    }
    // Durable now (a batch an earlier attempt committed was not written again).
    wrote_any = wrote_any || *written;
    if (*written && ctx_->meter != nullptr) ctx_->meter->Committed(batch->num_rows(), 1);
    const int64_t index = result.batches;
    result.AddBatch(batch->num_rows(), arrow::util::TotalBufferSize(*batch), !*written);
    if (on_commit_) ARROW_RETURN_NOT_OK(on_commit_(index, batch->num_rows()));
  }
  if (result.batches > 0 && !wrote_any) {
    // A retry whose every batch an earlier attempt committed: answered as per_request's.
    result.duplicate = true;
    result.bytes = 0;
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::ingest
