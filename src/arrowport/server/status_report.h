#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
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
  /// Lake streams' table states by stream: (state, why it is refused) (LakeService).
  std::function<std::map<std::string, std::pair<std::string, std::string>>()> lake_states;
};

/// \brief The summary the status page (GET /), GET /status, the `status` action and
/// `arrowport status` show, as JSON: version and uptime, listeners, the database and the
/// process, each stream's routing, counters and rows per second over the last minutes,
/// tables with row counts and sizes, calls running now, and recent errors. What a caller
/// sees follows its rights: a user limited to tables or streams sees those; only admins
/// see other users' calls and the recent errors (their messages may quote SQL and data).
///
/// Table sizes walk each table's storage, which costs seconds for large tables: a thread
/// of the report's own measures them in the background (from the first report on, then
/// every kSizesPeriod), and a report shows the latest measures. Nothing a report does
/// waits for it. Thread-safe.
class StatusReport {
 public:
  /// Seconds of per-stream rates in a report.
  static constexpr int kRateSeconds = 300;
  /// The most tables a report lists (after the caller's own filter).
  static constexpr size_t kMaxTables = 500;

  explicit StatusReport(StatusSources sources) : sources_(std::move(sources)) {}
  ~StatusReport();

  arrow::Result<std::string> Json(const Principal* caller);

 private:
  /// Starts the sizer at the first report (a server nobody asks pays nothing).
  void StartSizer();
  void MeasureSizes();  // the sizer's loop
  int64_t SizeOf(const std::string& table) const;

  const StatusSources sources_;
  mutable std::mutex sizes_mutex_;  // guards sizes_, started_ and stopping_
  std::condition_variable wake_;
  std::map<std::string, int64_t> sizes_;  // by table, bytes (the latest measure)
  bool started_ = false;
  bool stopping_ = false;
  std::thread sizer_;
};

}  // namespace arrowport::server
