#include "arrowport/ingest/small_request_writer.h"

#include "arrow/record_batch.h"
#include "arrow/util/byte_size.h"
#include "arrowport/ingest/table_cache.h"
#include "arrowport/ingest/write_context.h"
#include "arrowport/storage/database/connection.h"

namespace arrowport::ingest {

arrow::Result<std::optional<storage::LoggedCounts>> AppendSmall(
    storage::Connection* conn, const storage::TableName& table, const AppendTargets& targets,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
    const std::optional<storage::RequestKey>& key, const IngestResult& logged,
    storage::TablePass* hold) {
  std::vector<storage::TableAppend> appends(1);
  appends[0].target = table;
  appends[0].columns = targets.names;
  ARROW_ASSIGN_OR_RAISE(appends[0].batches, Project(batches, targets));
  if (key) {
    ARROW_ASSIGN_OR_RAISE(auto record,
                          storage::RequestLog::Record(*key, logged.stream, logged.rows,
                                                      logged.batches));
    appends.push_back(std::move(record));
  }
  auto appended = conn->AppendAtomically(appends);
  if (hold != nullptr) hold->Release();
  if (appended.ok()) return std::nullopt;
  if (!key) return appended;
  ARROW_ASSIGN_OR_RAISE(
      auto prior, storage::RequestLog::CommittedByARacingCopy(conn, *key, appended));
  return prior;
}

arrow::Result<bool> SmallRequestWriter::TryWrite(
    std::vector<std::shared_ptr<arrow::RecordBatch>>* ahead) {
  if (ctx_->request->mode != WriteMode::kAppend) return false;
  auto known = ctx_->cache->Table(ctx_->conn, ctx_->table());
  auto mapping = ctx_->cache->Mapping(ctx_->mapping_key);
  auto targets =
      known && mapping ? ExactTargets(*mapping, *known, ctx_->policy) : std::nullopt;
  if (!targets) return false;
  // Read a little ahead: only a request that ends within the limit qualifies.
  int64_t rows = 0, bytes = 0;
  for (;;) {
    if (rows > kSmallRequestRows) return false;
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(ctx_->source->ReadNext(&batch));
    if (!batch) break;
    rows += batch->num_rows();
    bytes += arrow::util::TotalBufferSize(*batch);
    ahead->push_back(std::move(batch));
  }
  IngestResult& result = *ctx_->result;
  result.rows = rows;
  result.batches = static_cast<int64_t>(ahead->size());
  result.bytes = bytes;
  // Held (waiting while the table's shape changes) before the last check of the call.
  ARROW_RETURN_NOT_OK(HoldTarget(ctx_));
  ARROW_RETURN_NOT_OK(CheckCallStillValid(*ctx_));
  auto appended = AppendSmall(ctx_->conn, ctx_->table(), *targets, *ahead,
                              ctx_->log_key(), result, &ctx_->hold);
  if (appended.ok() && !*appended) {
    NoteCommitted(*ctx_->call);
    return true;
  }
  if (appended.ok()) {  // a retry: answered with the counts first committed
    result.duplicate = true;
    result.rows = (*appended)->rows;
    result.batches = (*appended)->batches;
    result.bytes = 0;
    return true;
  }
  // Nothing was written. The cached table may be stale (altered or dropped elsewhere):
  // the general path re-reads it and reports in its terms.
  result.rows = result.batches = result.bytes = 0;
  ctx_->cache->ForgetTable(ctx_->table());
  return false;
}

}  // namespace arrowport::ingest
