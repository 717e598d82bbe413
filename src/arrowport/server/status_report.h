#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/common/principal.h"
#include "arrowport/storage/database_stats.h"

namespace arrowport {
namespace ingest {
class StreamRouter;
}
namespace metrics {
class ServerMetrics;
}
namespace storage {
class Database;
}
}  // namespace arrowport

namespace arrowport::server {

/// Where the status report's figures come from; all pointers outlive the report.
struct StatusSources {
  storage::Database* database = nullptr;
  /// DuckDB's figures (the server reads them at most once a second for all readers).
  std::function<storage::DatabaseStats()> database_stats;
  ingest::StreamRouter* router = nullptr;
  metrics::ServerMetrics* metrics = nullptr;  ///< null: metrics are off (no rates, calls)
  std::string version;
  bool auth_enabled = false;
  /// The listeners' URLs, read at each report: "flight", "http", "metrics" ("" = none).
  std::function<std::vector<std::pair<std::string, std::string>>()> listeners;
};

/// \brief The summary the status page (GET /), GET /status, the `status` action and
/// `arrowport status` show, as JSON: version and uptime, listeners, the database and the
/// process, each stream's routing, counters and rows per second over the last minutes,
/// tables with row counts and sizes, calls running now, and recent errors. What a caller
/// sees follows its rights: a user limited to tables or streams sees those; only admins
/// see other users' calls and the recent errors (their messages may quote SQL and data).
/// Thread-safe.
class StatusReport {
 public:
  /// Seconds of per-stream rates in a report.
  static constexpr int kRateSeconds = 300;

  explicit StatusReport(StatusSources sources) : sources_(std::move(sources)) {}

  arrow::Result<std::string> Json(const Principal* caller);

 private:
  /// Tables and their sizes, read at most every few seconds: sizes cost a catalog walk
  /// per table and the page asks every two seconds.
  arrow::Result<std::vector<storage::TableStorage>> Tables();

  const StatusSources sources_;
  std::mutex tables_mutex_;  // guards tables_ and tables_read_
  std::vector<storage::TableStorage> tables_;
  std::chrono::steady_clock::time_point tables_read_{};
};

}  // namespace arrowport::server
