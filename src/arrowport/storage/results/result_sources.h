#pragma once

// Internal to storage: where a query's Arrow batches come from. Two sources, one reader
// (result_batch_reader.cc) in front of both.

#include <duckdb.h>

#include <memory>
#include <string>

#include "arrow/record_batch.h"
#include "arrow/result.h"
#include "arrowport/storage/core/duckdb_handle.h"

namespace arrowport::storage {

/// A query's result as Arrow pieces, in the result's order.
class ResultSource {
 public:
  virtual ~ResultSource() = default;
  /// The next piece; null at the end. Errors are DuckDB's, translated.
  virtual arrow::Result<std::shared_ptr<arrow::RecordBatch>> Next() = 0;
  /// True when pieces are DuckDB's 2,048-row chunks (always worth gluing together).
  virtual bool pieces_are_chunks() const = 0;
  virtual const std::shared_ptr<arrow::Schema>& schema() const = 0;
};

/// \brief Pieces converted by the calling thread, one DuckDB chunk at a time, from a
/// result of the C API (works for every statement and every DuckDB build).
arrow::Result<std::unique_ptr<ResultSource>> ChunkSource(ResultHandle result);

/// \brief True when `prepared` may run through ArrowUnitSource: a SELECT (what DuckDB
/// streams; other statements keep the C API's semantics) that prepared without error.
bool StreamsArrowUnits(duckdb_prepared_statement prepared);

/// True when `prepared`, made from `sql`, is a SELECT that DuckDB expands into several
/// statements as it runs (PIVOT without an IN list): its columns are known only then.
/// DuckDB's C++ API.
bool ColumnsKnownOnlyAtRun(duckdb_prepared_statement prepared, const std::string& sql);

/// True when `prepared` changes data, by DuckDB's binder (the databases it modifies): DML
/// with RETURNING, and DML inside a SELECT's WITH, included. DuckDB's C++ API.
bool ChangesData(duckdb_prepared_statement prepared);

/// True when `prepared` writes a database's stored data (not only the connection's
/// temporary objects): what must not run while the disk is full or the database file is
/// gone. True for a statement bound only as it runs (DuckDB has no metadata for it yet);
/// callers that planned a statement at its run know it is a read (PlanAtRun).
bool ChangesStoredData(duckdb_prepared_statement prepared);

/// \brief Submits `prepared` (with its bound values) so that DuckDB's worker threads
/// convert the result to Arrow arrays in parallel, in the result's order, each of up to
/// `batch_rows` rows and about `max_piece_bytes` (one chunk more at most), buffered up to
/// the connection's streaming buffer (workers wait while it is full: a slow reader slows
/// them). A unit still over `max_piece_bytes` (one chunk of huge values) is the reader's
/// to slice, as a chunk is. Uses DuckDB's C++ API (valid for the library as built).
/// `statement_owner` (may be null) keeps `prepared` alive until the stream has ended.
/// `duckdb_has_workers`: DuckDB runs background workers (`threads` > 1); the reading
/// thread then backs off instead of polling while they hold every task.
arrow::Result<std::unique_ptr<ResultSource>> ArrowUnitSource(
    duckdb_prepared_statement prepared, std::shared_ptr<void> statement_owner,
    int64_t batch_rows, int64_t max_piece_bytes, bool duckdb_has_workers);

}  // namespace arrowport::storage
