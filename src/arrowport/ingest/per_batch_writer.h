#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/ingest/column_planner.h"
#include "arrowport/ingest/ingest_result.h"
#include "arrowport/storage/core/column_info.h"
#include "arrowport/storage/catalog/request_log.h"

namespace arrowport::ingest {

struct WriteContext;

/// \brief per_batch commits: the table's set-up commits first, then every batch is its
/// own transaction, acknowledged through `on_commit` before the next is read. With a
/// request id, each batch is logged as "<request_id> batch <index> to <table>" with its
/// own counts, so a retried request skips the batches an earlier attempt committed. The
/// first batch is received (and validated) before the set-up, so a request whose very
/// first batch is refused creates nothing.
class PerBatchWriter {
 public:
  PerBatchWriter(WriteContext* ctx, const BatchCommitted& on_commit)
      : ctx_(ctx), on_commit_(on_commit) {}

  arrow::Status Write();

 private:
  /// Creates or evolves the table in a transaction of its own and re-reads it.
  arrow::Status SetUp();
  /// Plans from the cached table and mapping when that needs no DDL (skips SetUp).
  bool SetUpFromCache();
  /// The call's cancellation reason (OK while it is not cancelled).
  arrow::Status Cancelled() const;
  /// Commits one batch as its own transaction. False: an earlier attempt of the request
  /// (same request id) committed it, and it was not written again.
  arrow::Result<bool> CommitBatch(const std::shared_ptr<arrow::RecordBatch>& batch);
  /// CommitBatch through SQL: the batch registered as a stream and INSERTed.
  arrow::Result<bool> InsertBatch(const std::shared_ptr<arrow::RecordBatch>& batch,
                                  const std::optional<storage::RequestKey>& key,
                                  const IngestResult& one_batch);

  WriteContext* ctx_;
  const BatchCommitted& on_commit_;
  std::vector<storage::ColumnInfo> incoming_;
  ColumnPlan plan_;
  std::optional<AppendTargets> exact_;  // set when batches can skip SQL (AppendAtomically)
};

}  // namespace arrowport::ingest
