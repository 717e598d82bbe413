#include "arrowport/ingest/transaction_writer.h"

#include "arrow/record_batch.h"
#include "arrow/type.h"
#include "arrow/util/byte_size.h"
#include "arrowport/ingest/batch_coalescer.h"
#include "arrowport/ingest/table_cache.h"
#include "arrowport/ingest/write_context.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/shared_connection.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::ingest {

using storage::ColumnInfo;

namespace {

// The source columns that fill the plan's target columns, by name.
arrow::Result<AppendTargets> TargetsOf(const ColumnPlan& plan, const arrow::Schema& schema) {
  AppendTargets targets;
  targets.names = plan.targets;
  for (const auto& source : plan.sources) {
    const int index = schema.GetFieldIndex(source);
    if (index < 0) return arrow::Status::Invalid("incoming column '", source, "' not found");
    targets.indices.push_back(index);
  }
  return targets;
}

}  // namespace

arrow::Status TransactionWriter::Write() {
  auto st = WriteBatches();
  if (st.ok()) st = CheckCallStillValid(*ctx_);
  // Uncommitted shapes must not be served from the cache to other requests.
  ctx_->cache->ForgetTable(ctx_->table());
  if (st.ok()) return st;
  ctx_->lease->AbortTransaction();
  return st.WithMessage(st.message(), " (your transaction is aborted: nothing in it will "
                        "commit; roll it back)");
}

arrow::Status TransactionWriter::WriteBatches() {
  std::vector<ColumnInfo> incoming;
  if (auto cached = ctx_->cache->Mapping(ctx_->mapping_key)) {
    incoming = std::move(*cached);
  } else {
    // A view can only be made outside the transaction: on a connection of its own.
    ARROW_ASSIGN_OR_RAISE(auto scratch, database_->Connect());
    ARROW_ASSIGN_OR_RAISE(auto empty,
                          arrow::RecordBatchReader::Make({}, ctx_->source->schema()));
    ARROW_ASSIGN_OR_RAISE(auto relation, scratch->RegisterArrowStream(empty, &incoming));
    scratch->DropArrowStream(relation);
    ctx_->cache->StoreMapping(ctx_->mapping_key, incoming);
  }
  // Held until the client's transaction ends (EnsureTable's DDL holds it alone).
  ARROW_RETURN_NOT_OK(HoldTarget(ctx_));
  ARROW_ASSIGN_OR_RAISE(auto existing, PrepareTarget(ctx_));
  ARROW_ASSIGN_OR_RAISE(auto plan, EnsureTable(ctx_, existing, incoming));
  ARROW_ASSIGN_OR_RAISE(auto targets, TargetsOf(plan, *ctx_->source->schema()));
  IngestResult& result = *ctx_->result;
  // The client's small batches joined: each append has a cost of its own.
  BatchCoalescer source(ctx_->source);
  for (;;) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ARROW_RETURN_NOT_OK(source.ReadNext(&batch));
    if (!batch) break;
    ARROW_ASSIGN_OR_RAISE(auto projected, Project({batch}, targets));
    ARROW_RETURN_NOT_OK(
        ctx_->conn->AppendBatches(ctx_->table(), targets.names, projected).status());
    result.rows += batch->num_rows();
    result.bytes += arrow::util::TotalBufferSize(*batch);
  }
  result.batches = source.batches_in();
  return arrow::Status::OK();
}

}  // namespace arrowport::ingest
