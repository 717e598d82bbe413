#pragma once

// Internal to storage: DuckDB's estimate of how far a running query has come, for a
// client that waits for its first rows (CallProgress::QueryPercent).

#include <duckdb.h>

#include <memory>

namespace arrowport {
struct CallProgress;
}

namespace arrowport::storage {

/// \brief Until the returned holder goes, DuckDB estimates the progress of the query
/// started next on `conn` (its progress bar, computed and never printed) and `progress`
/// reports it. Null (nothing done) when `progress` is null or `cpp_api` is false (a
/// DuckDB library other than the one built against: its C++ API is not used).
std::shared_ptr<void> ReportQueryProgress(duckdb_connection conn,
                                          const std::shared_ptr<CallProgress>& progress,
                                          bool cpp_api);

}  // namespace arrowport::storage
