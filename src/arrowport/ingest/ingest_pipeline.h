#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <memory>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/common/call_context.h"
#include "arrowport/ingest/ingest_request.h"
#include "arrowport/ingest/ingest_result.h"
#include "arrowport/ingest/ingest_run.h"
#include "arrowport/ingest/table_cache.h"
#include "arrowport/ingest/write_budget.h"

namespace arrowport::storage {
class ConnectionLease;
}
namespace arrowport::query {
class SessionLease;
}
namespace arrowport::metrics {
class ServerMetrics;
}
namespace arrowport::lake {
class LakeCatalog;
}

namespace arrowport::storage {
class ConnectionLease;
class Database;
class RequestLog;
}  // namespace arrowport::storage

namespace arrowport::ingest {

class StreamRouter;

/// \brief The one ingest path shared by every protocol: routes a stream to its table,
/// creates or evolves the table from the Arrow schema, and streams batches into DuckDB as
/// they arrive, committing per request (all or nothing) or per batch.
/// Thread-safe: each call uses its own DuckDB connection.
class IngestPipeline {
 public:
  /// Batches validated ahead of DuckDB per request: bounds memory per request while
  /// keeping the network busy when DuckDB briefly stalls (row-group flushes).
  static constexpr size_t kPrefetchDepth = 4;

  /// `max_batch_bytes` (limits.max_batch_bytes) bounds one decoded record batch. Each
  /// request is counted in `metrics` when set (rows and bytes as they arrive and as they
  /// commit, its outcome and duration).
  IngestPipeline(storage::Database* database, StreamRouter* router,
                 int64_t max_batch_bytes = int64_t{256} << 20,
                 metrics::ServerMetrics* metrics = nullptr);
  ~IngestPipeline();

  /// Streams with `sink: lake` write their tables in `lakes`; `committed(stream)` runs
  /// after each lake commit (the server refreshes the stream's view). Without it, such
  /// streams are refused.
  void EnableLakes(lake::LakeCatalog* lakes, std::function<void(const std::string&)> committed);

  /// What bounds writes whose rows are not simply the client's (transforms, exchanges,
  /// copy_from): the query deadline from their first batch and the write cap. Call before
  /// serving; default: no deadline, the default cap.
  void SetWriteLimits(const WriteLimits& limits) { write_limits_ = limits; }
  /// A budget for one call under these limits (DoExchange's each_batch form shares one
  /// over all of its batches).
  std::shared_ptr<WriteBudget> NewWriteBudget(const CallContext& call) const {
    return WriteBudget::Make(write_limits_, call);
  }

  /// At server start: re-keys the idempotency log's entries of older servers (see
  /// storage::RequestLog::RekeyAtStart). Returns the number handled.
  arrow::Result<int64_t> RekeyRequestLog(const std::function<void(int64_t)>& on_progress);

  /// \brief The door of every ingest (HTTP, the seed's /stream, DoPut, DoExchange, Flight
  /// SQL bulk ingest, copy_from): checks `request`'s names (its stream, and the table and
  /// schema it writes) and its id, and routes its stream, each once. Invalid for a bad
  /// name or id. Nothing is recorded yet: the run is listed and metered once Ingest
  /// starts it, so the door may still refuse the request (authorization, limits).
  arrow::Result<IngestRun> Begin(IngestRequest request) const;

  /// Runs `run` to its end (IngestRun::Finish). Every batch of `source` is fully
  /// validated (see MakeValidatingReader) and read a few batches ahead on a thread of its
  /// own, so protocols hand in their decoded stream as it is. Cancelling
  /// `call.cancellation` interrupts DuckDB; the request then fails and, in per_request
  /// mode, commits nothing.
  ///
  /// `connection`, when set, is the caller's lease of its connection (a Flight SQL
  /// session's or transaction's), held for the whole write, which runs on it: that is
  /// where a temporary table lives. If a transaction is open on it, the write joins that
  /// transaction (the caller's commit decides) and a failure rolls it back. Unset: the
  /// request gets a connection of its own.
  arrow::Result<IngestResult> Ingest(IngestRun run,
                                     std::shared_ptr<arrow::RecordBatchReader> source,
                                     const BatchCommitted& on_commit = {},
                                     const CallContext& call = {},
                                     query::SessionLease* connection = nullptr);
  /// Begin and Ingest in one (tests, benchmarks).
  arrow::Result<IngestResult> Ingest(const IngestRequest& request,
                                     std::shared_ptr<arrow::RecordBatchReader> source,
                                     const BatchCommitted& on_commit = {},
                                     const CallContext& call = {},
                                     query::SessionLease* connection = nullptr);

  /// \brief Sets `request`'s table from a client's names (Flight SQL
  /// CommandStatementIngest): Invalid for a bad name, PermissionDenied for a reserved
  /// schema, NotImplemented for a `catalog` other than the database's ("" or unset:
  /// the database's). Returns the table's qualified name (what access rules list).
  arrow::Result<std::string> SetClientTarget(IngestRequest* request, const std::string& catalog,
                                             const std::string& schema,
                                             const std::string& table, bool temporary);
  /// Whether `request`'s table exists, looked up on `connection` (where a temporary
  /// table lives), or on a connection of its own when null.
  arrow::Result<bool> TargetExists(const IngestRequest& request,
                                   query::SessionLease* connection);

  /// \brief A client's stream through its transform (DoExchange without a stream):
  /// `source` validated and read ahead as for Ingest, then `sql` over it, streamed as
  /// DuckDB produces batches. Errors name the refused batch or the SQL error. The rows
  /// sent back count against `budget` (a new one when null): the write cap.
  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Exchange(
      const std::string& sql, std::shared_ptr<arrow::RecordBatchReader> source,
      const CallContext& call, std::shared_ptr<WriteBudget> budget = nullptr);

 private:
  /// \brief Runs `sql` over `input` (read as the relation `input`) on a connection of
  /// its own and streams the result as its batches come: the one transform path of
  /// DoExchange and of transforms on ingest. The SQL sandbox judges it for
  /// `call.principal`, or as an admin's when `configured_for` says it is the routing
  /// config's transform of that request's stream. `interactive`: see
  /// storage::QueryOptions::interactive (DoExchange).
  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Transform(
      const std::string& sql, std::shared_ptr<arrow::RecordBatchReader> input,
      const CallContext& call, const IngestRequest* configured_for = nullptr,
      bool interactive = false);
  /// The table a request writes: the one it names, else its stream's target_table.
  static storage::TableName TargetOf(const IngestRequest& request,
                                     const config::StreamConfig& route);
  /// Connects and hands `run`'s write to the writer for its commit mode (ingest_write.cc).
  arrow::Status Write(IngestRun& run, const std::shared_ptr<arrow::RecordBatchReader>& source,
                      const BatchCommitted& on_commit, const CallContext& call,
                      storage::ConnectionLease* connection);
  /// Write's part for a lake stream's own table: its Delta (or DuckLake) table, then the
  /// view the server reads it through.
  arrow::Status WriteLakeStream(IngestRun& run, arrow::RecordBatchReader* source,
                                const BatchCommitted& on_commit, const CallContext& call,
                                storage::ConnectionLease* connection);

  storage::Database* database_;
  StreamRouter* router_;
  lake::LakeCatalog* lakes_ = nullptr;
  std::function<void(const std::string&)> lake_committed_;
  const int64_t max_batch_bytes_;
  WriteLimits write_limits_;
  metrics::ServerMetrics* const metrics_;  // null: not counted
  // Behind a pointer: the protocols include this header, and storage's types stay out of it.
  std::unique_ptr<storage::RequestLog> request_log_;
  TableCache cache_;
};

}  // namespace arrowport::ingest
