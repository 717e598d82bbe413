#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/common/call_context.h"
#include "arrowport/config/config.h"
#include "arrowport/ingest/column_planner.h"
#include "arrowport/ingest/ingest_request.h"
#include "arrowport/ingest/ingest_result.h"
#include "arrowport/storage/core/column_info.h"
#include "arrowport/storage/catalog/request_log.h"
#include "arrowport/storage/core/table_gates.h"
#include "arrowport/storage/core/table_name.h"

namespace arrowport::storage {
class Connection;
class ConnectionLease;
}
namespace arrowport::metrics {
class IngestMeter;
}

namespace arrowport::ingest {

class TableCache;

/// \brief What a writer needs for one request, set up by IngestPipeline::Ingest: the
/// request's own connection and validated source, the pipeline's shared caches and
/// locks, and the result the writer fills in. Used by one thread.
struct WriteContext {
  /// The request's connection (its own, or the caller's transaction's): transactions
  /// are begun and ended on it; `conn` is its connection.
  storage::ConnectionLease* lease = nullptr;
  storage::Connection* conn = nullptr;
  const IngestRequest* request = nullptr;
  config::SchemaPolicy policy = config::SchemaPolicy::kStrict;
  std::shared_ptr<arrow::RecordBatchReader> source;
  std::string mapping_key;  ///< the source schema's ToString(): key of the mapping cache
  TableCache* cache = nullptr;
  IngestResult* result = nullptr;
  storage::TableName target;  ///< the table written (result->table is its ToString())
  const CallContext* call = nullptr;  ///< the call the request came with (never null)
  /// Counts rows as they become durable (per_batch writes); null: metrics are off.
  metrics::IngestMeter* meter = nullptr;
  /// The target held (Connection::Hold) for the transaction being written: as a writer,
  /// or alone while the request changes the table's shape (see OpenWrite, HoldTarget).
  /// Released right after that transaction ends.
  storage::TablePass hold;

  bool idempotent() const { return !request->request_id.empty(); }
  /// Where the request (or its batch `batch`, per_batch) is logged; nullopt: no id.
  std::optional<storage::RequestKey> log_key(std::optional<int64_t> batch = {}) const {
    if (!idempotent()) return std::nullopt;
    return storage::RequestKey(request->request_id, target, batch);
  }
  const storage::TableName& table() const { return target; }
};

// Steps shared by the writers.

/// Applies the write mode to the target and returns its columns (nullopt: must be created).
arrow::Result<std::optional<std::vector<storage::ColumnInfo>>> PrepareTarget(
    WriteContext* ctx);

/// Creates or evolves the table for `incoming` and returns the INSERT plan.
arrow::Result<ColumnPlan> EnsureTable(WriteContext* ctx,
                                      std::optional<std::vector<storage::ColumnInfo>> existing,
                                      const std::vector<storage::ColumnInfo>& incoming);

/// \brief Registers `reader` as a relation; `incoming` receives DuckDB's mapping of its
/// schema, from the mapping cache when seen before (which spares reading it).
arrow::Result<std::string> RegisterStream(WriteContext* ctx,
                                          std::shared_ptr<arrow::RecordBatchReader> reader,
                                          std::vector<storage::ColumnInfo>* incoming);

/// \brief Holds the table (into ctx->hold) alone when the write needs DDL, else as a
/// writer, then opens the transaction; drops `relation` if either fails. Writers never
/// wait for each other, only for a change of the table's shape (and it for them). Call
/// after RegisterStream (streams are registered outside the transaction).
arrow::Status OpenWrite(WriteContext* ctx, const std::string& relation,
                        const std::vector<storage::ColumnInfo>& incoming);

/// \brief Holds the table (into ctx->hold) as a writer, for a transaction about to begin
/// on ctx->conn, waiting while its shape changes; until the call is cancelled.
arrow::Status HoldTarget(WriteContext* ctx);

/// \brief Refuses to commit a request whose call has failed although its stream looked
/// complete (see CallContext::call_failed). Call right before every commit.
arrow::Status CheckCallStillValid(const WriteContext& ctx);
/// The same for a write without a DuckDB connection (a lake table).
arrow::Status CheckCallStillValid(const CallContext& call);
/// Commits the write's transaction (after CheckCallStillValid), noting the commit for the
/// call's log line (NoteCommitted).
arrow::Status CommitWrite(const WriteContext& ctx);

/// \brief Re-reads the table and caches what it now is (whatever the write did), so the
/// next request starts from it. Returns the read.
arrow::Result<std::optional<std::vector<storage::ColumnInfo>>> RefreshTable(
    WriteContext* ctx);

}  // namespace arrowport::ingest
