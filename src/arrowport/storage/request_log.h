#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "arrow/result.h"
#include "arrowport/storage/connection.h"

namespace arrowport::storage {

/// Counts a request committed with, as its log row recorded them.
struct LoggedCounts {
  int64_t rows = 0;
  int64_t batches = 0;
};

/// \brief The idempotency log, table arrowport.requests: one row per committed request
/// (or per_batch batch) that carried an id, keyed by that id and written in the same
/// transaction as the data it stands for, so a retry finds it exactly when the data is
/// there. Thread-safe.
class RequestLog {
 public:
  /// Creates the log's schema and table if needed (once per RequestLog).
  arrow::Status Ensure(Connection* conn);

  /// The log row for `key`, for Connection::AppendAtomically with the data.
  static arrow::Result<TableAppend> Record(const std::string& key, const std::string& stream,
                                           const std::string& table, int64_t rows,
                                           int64_t batches);

  /// The counts logged for `key`, or nullopt when it was never committed.
  static arrow::Result<std::optional<LoggedCounts>> Lookup(Connection* conn,
                                                           const std::string& key);

  /// After a write carrying `key` failed with `failure` (and was rolled back): the counts
  /// of a copy of the request that committed first when copies raced (a client retrying
  /// at once), which answers ours as its duplicate. When the log's key refused ours while
  /// the other copy has not committed yet, its outcome is awaited (up to about 2 s; then
  /// a retryable conflict). Else `failure` itself.
  static arrow::Result<LoggedCounts> CommittedByARacingCopy(Connection* conn,
                                                            const std::string& key,
                                                            const arrow::Status& failure);

 private:
  std::mutex mutex_;  // guards ready_; held while the log is created
  bool ready_ = false;
};

}  // namespace arrowport::storage
