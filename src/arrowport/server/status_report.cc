#include "arrowport/server/status_report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>
#include <set>

#include "arrow/config.h"
#include "arrowport/auth/access_policy.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/metrics/process_metrics.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/storage/database.h"

namespace arrowport::server {

using json = nlohmann::json;

namespace {

// Tables listed at most, and how long a reading of their sizes is reused.
constexpr size_t kMaxTables = 500;
constexpr auto kTablesFresh = std::chrono::seconds(5);

std::string IsoTime(int64_t unix_time) {
  const std::time_t t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

bool Unrestricted(const Principal* caller) {
  return caller == nullptr || (caller->tables.empty() && caller->streams.empty());
}

bool IsAdmin(const Principal* caller) { return caller == nullptr || caller->IsAdmin(); }

// A stream a restricted user may see: one it may write, or one landing in a table it reads.
bool MaySee(const Principal* caller, const json& stream) {
  if (Unrestricted(caller)) return true;
  const auto name = stream.value("stream", std::string());
  const auto table = stream.value("target_table", std::string());
  return std::count(caller->streams.begin(), caller->streams.end(), name) > 0 ||
         std::count(caller->tables.begin(), caller->tables.end(), table) > 0;
}

}  // namespace

arrow::Result<std::vector<storage::TableStorage>> StatusReport::Tables() {
  std::lock_guard<std::mutex> lock(tables_mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (tables_read_ == std::chrono::steady_clock::time_point{} ||
      now - tables_read_ > kTablesFresh) {
    ARROW_ASSIGN_OR_RAISE(tables_, storage::ReadTableStorage(sources_.database, kMaxTables));
    tables_read_ = now;
  }
  return tables_;
}

arrow::Result<std::string> StatusReport::Json(const Principal* caller) {
  auto* metrics = sources_.metrics;
  json out;
  out["version"] = sources_.version;
  out["duckdb_version"] = storage::Database::LibraryVersion();
  out["arrow_version"] = arrow::GetBuildInfo().version_string;
  const auto process = metrics::ReadProcessStats();
  out["started_at"] = IsoTime(static_cast<int64_t>(process.start_time_seconds));
  out["uptime_s"] = metrics ? metrics->UptimeSeconds()
                            : static_cast<double>(std::time(nullptr)) -
                                  process.start_time_seconds;
  json listeners = json::object();
  for (const auto& [name, url] : sources_.listeners()) {
    listeners[name] = url.empty() ? json() : json(url);
  }
  out["listeners"] = listeners;
  out["auth"] = sources_.auth_enabled;

  const auto stats = sources_.database_stats();
  out["database"] = {{"path", sources_.database->path()},
                     {"size_bytes", stats.file_bytes()},
                     {"wal_bytes", stats.wal_bytes},
                     {"memory_bytes", stats.memory_bytes()},
                     {"memory_limit", sources_.database->memory_limit()}};
  out["process"] = {{"rss_bytes", process.resident_bytes},
                    {"threads", process.threads},
                    {"open_fds", process.open_fds},
                    {"cpu_seconds", process.cpu_seconds}};

  // Streams: routing and counters as list_streams shows them, with their live rates.
  out["rate_seconds"] = kRateSeconds;
  std::map<std::string, std::vector<int64_t>> rates;
  if (metrics) {
    for (auto& [label, series] : metrics->StreamRates(kRateSeconds)) {
      rates[label] = std::move(series);
    }
  }
  json streams = json::array();
  const json listed = json::parse(ingest::StreamsJson(*sources_.router, IsAdmin(caller)));
  for (json stream : listed["streams"]) {
    if (!MaySee(caller, stream)) continue;
    auto rate = rates.find(stream["stream"].get<std::string>());
    stream["rows_per_second"] =
        rate != rates.end() ? rate->second : std::vector<int64_t>(kRateSeconds, 0);
    streams.push_back(std::move(stream));
  }
  out["streams"] = std::move(streams);

  json tables = json::array();
  ARROW_ASSIGN_OR_RAISE(auto storage, Tables());
  for (const auto& table : storage) {
    if (!auth::AccessPolicy::ReadTable(caller, table.name).ok()) continue;
    tables.push_back({{"name", table.name},
                      {"kind", table.kind},
                      {"rows", table.rows},
                      {"bytes", table.bytes}});
  }
  out["tables"] = std::move(tables);

  // Calls: an admin sees every call; others see their own.
  json calls = json::array();
  json errors = IsAdmin(caller) ? json::array() : json();
  if (metrics) {
    for (const auto& call : metrics->ActiveCalls()) {
      if (!IsAdmin(caller) && call.user != caller->user) continue;
      calls.push_back({{"protocol", call.protocol},
                       {"method", call.method},
                       {"user", call.user},
                       {"target", call.target},
                       {"seconds", call.seconds},
                       {"rows", call.rows},
                       {"bytes", call.bytes}});
    }
    if (IsAdmin(caller)) {
      for (const auto& error : metrics->RecentErrors()) {
        errors.push_back({{"time", IsoTime(error.unix_time)},
                          {"protocol", error.protocol},
                          {"method", error.method},
                          {"code", error.code},
                          {"user", error.user},
                          {"message", error.message}});
      }
    }
  }
  out["active_calls"] = std::move(calls);
  out["recent_errors"] = std::move(errors);
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace arrowport::server
