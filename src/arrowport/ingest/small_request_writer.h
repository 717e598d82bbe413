#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/type_fwd.h"
#include "arrowport/ingest/column_planner.h"
#include "arrowport/ingest/ingest_result.h"
#include "arrowport/storage/catalog/request_log.h"

namespace arrowport::storage {
class Connection;
}

namespace arrowport::ingest {

struct WriteContext;

/// Requests up to this many rows, to a known table they fit exactly, skip SQL planning:
/// DuckDB's appender writes them in one flush (well below its 204,800-row flush size).
constexpr int64_t kSmallRequestRows = 16384;

/// \brief Appends `batches` to `table` through `targets` without SQL and, when `key` is
/// given, the key's log row (counts from `logged`) in the same transaction. The log's
/// primary key makes a retry fail: its counts as first committed are returned (nullopt:
/// appended now). An error means nothing was written. `hold` (the caller's hold of the
/// table, may be null) is released once the append has ended, before any wait for a
/// racing copy (which may itself be waiting to hold the table).
arrow::Result<std::optional<storage::LoggedCounts>> AppendSmall(
    storage::Connection* conn, const storage::TableName& table, const AppendTargets& targets,
    const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
    const std::optional<storage::RequestKey>& key, const IngestResult& logged,
    storage::TablePass* hold);

/// \brief The small-request path of per_request commits: a whole request that is small
/// and fits the (cached) table exactly is appended without SQL, with its idempotency
/// record, in one direct transaction.
class SmallRequestWriter {
 public:
  explicit SmallRequestWriter(WriteContext* ctx) : ctx_(ctx) {}

  /// \brief Writes the request if it qualifies and returns true. Otherwise returns false
  /// with nothing written and `ahead` holding the batches it read to decide (the caller
  /// writes them first); a cached table found stale is forgotten.
  arrow::Result<bool> TryWrite(std::vector<std::shared_ptr<arrow::RecordBatch>>* ahead);

 private:
  WriteContext* ctx_;
};

}  // namespace arrowport::ingest
