#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "arrow/result.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/core/table_name.h"

namespace arrowport::storage {

class ConnectionLease;

/// Counts a request committed with, as its log row recorded them.
struct LoggedCounts {
  int64_t rows = 0;
  int64_t batches = 0;
};

/// \brief Where a request (or one batch of a per_batch request) is logged. A request id
/// is scoped to the table the request writes, as a Delta table's transaction ids are:
/// the same id sent to another table is a new request there, not a duplicate.
struct RequestKey {
  RequestKey(const std::string& request_id, const TableName& table,
             std::optional<int64_t> batch = std::nullopt);

  /// "<id>[ batch <n>] to <table>", the table in lower case (DuckDB's names ignore
  /// case). Client ids have no spaces, so no two of these are equal.
  std::string scoped;
  std::string request;  // "<id>[ batch <n>]", for messages
  std::string table;    // TableName::ToString() as written: the log's table_name
};

/// \brief The idempotency log, table arrowport.requests: one row per committed request
/// (or per_batch batch) that carried an id, keyed by that id and written in the same
/// transaction as the data it stands for, so a retry finds it exactly when the data is
/// there. Thread-safe.
class RequestLog {
 public:
  /// Creates the log's schema and table if needed (once per RequestLog), and re-keys the
  /// entries of servers from before ids were scoped, "<id>[ batch <n>]" with the table in
  /// table_name, to their tables, so that a retry across the upgrade is answered as a
  /// duplicate on every write path (50,000 entries per transaction).
  arrow::Status Ensure(ConnectionLease* lease);

  /// At server start, before any call: the same re-keying of an existing log (none: the
  /// database is left as it is), so that no client's call pays for it or can cut it
  /// short. Returns the number of entries handled; `on_progress` hears it after each
  /// transaction.
  arrow::Result<int64_t> RekeyAtStart(ConnectionLease* lease,
                                      const std::function<void(int64_t)>& on_progress = {});

  /// The log row for `key`, for Connection::AppendAtomically with the data.
  static arrow::Result<TableAppend> Record(const RequestKey& key,
                                           const std::string& stream, int64_t rows,
                                           int64_t batches);

  /// The counts logged for `key`, or nullopt when it was never committed.
  static arrow::Result<std::optional<LoggedCounts>> Lookup(Connection* conn,
                                                           const RequestKey& key);

  /// After a write carrying `key` failed with `failure` (and was rolled back): the counts
  /// of a copy of the request that committed first when copies raced (a client retrying
  /// at once), which answers ours as its duplicate. When the log's key refused ours while
  /// the other copy has not committed yet, its outcome is awaited (up to about 2 s; then
  /// a retryable conflict). Else `failure` itself.
  static arrow::Result<LoggedCounts> CommittedByARacingCopy(Connection* conn,
                                                            const RequestKey& key,
                                                            const arrow::Status& failure);

 private:
  // Ensure's work, under mutex_: the log's schema and table, then the re-keying.
  arrow::Status CreateAndRekey(ConnectionLease* lease);

  std::mutex mutex_;  // guards ready_; held while the log is created
  bool ready_ = false;
};

}  // namespace arrowport::storage
