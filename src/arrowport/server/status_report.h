#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "arrow/result.h"
#include "arrowport/common/principal.h"
#include "arrowport/lake/upkeep_health.h"
#include "arrowport/storage/database/database_stats.h"

namespace arrowport {
namespace ingest {
class StreamRouter;
}
namespace metrics {
class ServerMetrics;
}
namespace storage {
class Database;
struct TableInfo;
}
}  // namespace arrowport

namespace arrowport::server {

/// A lake stream's table as the status report shows it.
struct LakeStreamStatus {
  std::string state;  ///< query::LakeService::kStateOk, kStateRefused or kStateUnavailable
  std::string error;  ///< why it is refused
  lake::UpkeepReport upkeep;
};

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
  /// Lake streams' tables by stream (query::LakeService).
  std::function<std::map<std::string, LakeStreamStatus>()> lake_states;
  /// The last backups' outcome as a JSON object ("" when none); `with_details`: the
  /// last error. May be empty.
  std::function<std::string(bool with_details)> backup;
};

/// \brief The summary the status page (GET /), GET /status, the `status` action and
/// `arrowport status` show, as JSON: version and uptime, listeners, the database and the
/// process, each stream's routing, counters and rows per second over the last minutes,
/// tables with row counts and sizes, calls running now, and recent errors. What a caller
/// sees follows its rights: a user limited to tables or streams sees those; only admins
/// see other users' calls and the recent errors (their messages may quote SQL and data).
///
/// Table sizes walk each table's segment list, which costs milliseconds per million rows:
/// a thread of the report's own measures them, and a report shows the latest measures.
/// A report asks for a table to be measured (again) when it has no measure yet, its row
/// count changed since, or its measure is older than kSizesPeriod; the thread measures
/// what was asked, then rests (3 s, or ten times the round's duration if longer). A
/// server nobody asks measures nothing, and nothing a report does waits for the thread.
/// Thread-safe.
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
  struct Measure {
    int64_t bytes = -1;
    int64_t rows = -1;  // the table's row count when measured
    std::chrono::steady_clock::time_point at;
  };
  /// The latest measure of `table` (-1: none yet); asks the sizer for a new one when it
  /// is missing, stale, or the table's rows changed. Starts the sizer at the first call.
  int64_t SizeOf(const std::string& table, int64_t rows);
  void MeasureSizes();  // the sizer's loop
  /// The tables `caller` may read (at most kMaxTables), with their latest sizes.
  arrow::Result<nlohmann::json> TablesJson(const Principal* caller);
  /// Drops the measures of tables no longer in `relations` (the whole catalog).
  void ForgetDropped(const std::vector<storage::TableInfo>& relations);

  const StatusSources sources_;
  mutable std::mutex sizes_mutex_;  // guards sizes_, wanted_, started_ and stopping_
  std::condition_variable wake_;
  std::map<std::string, Measure> sizes_;  // by table
  std::map<std::string, int64_t> wanted_;  // tables to measure, with their rows now
  bool started_ = false;
  bool stopping_ = false;
  std::thread sizer_;
};

}  // namespace arrowport::server
