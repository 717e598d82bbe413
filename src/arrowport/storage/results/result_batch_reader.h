#pragma once

// Internal to storage: DuckDB results out as Arrow.

#include <duckdb.h>

#include <memory>
#include <string>
#include <vector>

#include "arrow/record_batch.h"
#include "arrowport/storage/core/duckdb_handle.h"
#include "arrowport/storage/core/query_options.h"

namespace arrowport::storage {

/// \brief Runs an already prepared and bound statement on `conn` and streams its result
/// like StartQuery. `keep_alive` (may be null) is held by the reader until it is
/// destroyed: the statement and connection the result reads from. With `keep_alive` the
/// next batches are converted on a prefetching thread.
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> StartPrepared(
    duckdb_connection conn, duckdb_prepared_statement prepared,
    std::shared_ptr<void> keep_alive, const QueryOptions& options,
    Planning planning = Planning::kPrepared);

/// \brief Runs `sql` on `conn` and returns its result as a stream of Arrow batches of
/// about options.batch_rows rows. `owner`, when given, is kept alive by the reader (and
/// the next batches are then converted on a prefetching thread); cancelling
/// options.cancellation interrupts the query before or after its first row. `owner` is
/// the connection `conn` belongs to (a storage::Connection, held opaquely: results sit
/// below the connection and never call it).
arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> StartQuery(
    duckdb_connection conn, std::shared_ptr<void> owner, const std::string& sql,
    const QueryOptions& options);

/// \brief Interrupts whatever `conn` runs when `cancellation` (may be null) is cancelled,
/// until the subscription is destroyed, which must happen before `conn` is closed.
CallCancellation::Subscription InterruptOnCancel(
    duckdb_connection conn, const std::shared_ptr<CallCancellation>& cancellation);

/// True when `reader` (from StartQuery or StartPrepared) is converted to Arrow by DuckDB's
/// worker threads (result_sources.h); false for the chunk-by-chunk path, and for any
/// reader wrapped around the result (a prefetching reader: the chunk path's, or with one
/// DuckDB thread).
bool ConvertedByDuckDBWorkers(const arrow::RecordBatchReader& reader);

}  // namespace arrowport::storage
