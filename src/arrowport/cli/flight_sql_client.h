#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "arrow/record_batch.h"
#include "arrow/result.h"

namespace arrowport::cli {

/// \brief A Flight SQL client (the protocol ADBC, JDBC and Polars speak) for the benchmark:
/// statement fetch, bulk ingest and prepared-statement round trips.
class FlightSqlConnection {
 public:
  static arrow::Result<std::unique_ptr<FlightSqlConnection>> Connect(const std::string& url);
  ~FlightSqlConnection();

  /// CommandStatementQuery: GetFlightInfo, then DoGet of every endpoint; returns the rows.
  arrow::Result<int64_t> Fetch(const std::string& sql);
  /// CommandStatementIngest into `table` (replaced if it exists); returns the rows.
  arrow::Result<int64_t> IngestReplace(const std::string& table,
                                       std::shared_ptr<arrow::RecordBatchReader> source);
  /// CommandStatementUpdate with a call deadline of `timeout_s`; returns the rows changed.
  arrow::Result<int64_t> Update(const std::string& sql, double timeout_s);
  /// Prepares `sql` once for RunPrepared().
  arrow::Status Prepare(const std::string& sql);
  /// Executes the prepared statement (GetFlightInfo + DoGet); returns the rows.
  arrow::Result<int64_t> RunPrepared();

 private:
  struct Impl;
  explicit FlightSqlConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace arrowport::cli
