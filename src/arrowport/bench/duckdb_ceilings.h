#pragma once

// The DuckDB ceilings of `arrowport bench`: DuckDB's own fastest paths, called through
// DuckDB's API directly with none of Arrowport's storage code in between (a layer of its
// own so that DuckDB stays private to storage everywhere else).

#include <cstdint>
#include <memory>
#include <string>

#include "arrow/record_batch.h"
#include "arrow/result.h"

namespace arrowport::bench {

/// One DuckDB database file opened by DuckDB alone.
class DuckDBOnly {
 public:
  ~DuckDBOnly();
  DuckDBOnly(const DuckDBOnly&) = delete;
  DuckDBOnly& operator=(const DuckDBOnly&) = delete;

  /// Opens (or creates) `path` with `threads` DuckDB threads (0: all cores).
  /// `unsigned_extensions`: may LOAD extensions without a signature (Debian's own, named
  /// by a path outside the directory its build trusts).
  static arrow::Result<std::unique_ptr<DuckDBOnly>> Open(const std::string& path, int threads,
                                                        bool unsigned_extensions = false);

  /// `SET threads` (0: all cores).
  arrow::Status SetThreads(int threads);

  /// Runs `sql` (no result wanted).
  arrow::Status Run(const std::string& sql);

  /// DuckDB's own ingest: CREATE OR REPLACE TABLE `table` AS SELECT * FROM the stream
  /// (DuckDB's Arrow scan of an exported C stream), then CHECKPOINT. Returns the rows.
  /// `table` may name another catalog (an attached quack server: "remote.t").
  arrow::Result<int64_t> CreateTableAs(const std::string& table,
                                       std::shared_ptr<arrow::RecordBatchReader> batches);

  /// DuckDB's own Parquet writer: COPY (SELECT * FROM the stream) TO `path` (FORMAT
  /// parquet, COMPRESSION `compression`), the file written by DuckDB's threads.
  arrow::Status CopyToParquet(std::shared_ptr<arrow::RecordBatchReader> batches,
                              const std::string& path, const std::string& compression);

  /// DuckDB's own small write: `batch` converted by DuckDB (duckdb_data_chunk_from_arrow,
  /// 2,048 rows a chunk) into its appender on `table` (which exists), whose close commits.
  arrow::Status AppendCommitted(const std::string& table, const arrow::RecordBatch& batch);

  /// DuckDB's materialised parallel Arrow export: `sql` collected as Arrow arrays of
  /// `batch_rows` rows by DuckDB's workers (its ArrowFormat result). Returns the rows.
  arrow::Result<int64_t> ExportArrow(const std::string& sql, int64_t batch_rows);

 private:
  /// Runs `sql` with "{source}" naming a view of `batches` (DuckDB's Arrow scan of an
  /// exported C stream); `name` names the view.
  arrow::Status RunOnStream(const std::string& name,
                            std::shared_ptr<arrow::RecordBatchReader> batches,
                            const std::string& sql);

  struct Impl;
  explicit DuckDBOnly(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace arrowport::bench
