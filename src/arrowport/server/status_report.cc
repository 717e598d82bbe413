#include "arrowport/server/status_report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "arrow/config.h"
#include "arrowport/auth/access_policy.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/metrics/process_metrics.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/storage/database.h"
#include "arrowport/storage/storage_health.h"

namespace arrowport::server {

using json = nlohmann::json;

namespace {

// How often the sizer measures every table again.
constexpr auto kSizesPeriod = std::chrono::seconds(30);

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
  return auth::AccessPolicy::SeesStream(caller, stream.value("stream", std::string()),
                                        stream.value("target_table", std::string()));
}

}  // namespace

StatusReport::~StatusReport() {
  {
    std::lock_guard<std::mutex> lock(sizes_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (sizer_.joinable()) sizer_.join();
}

void StatusReport::StartSizer() {
  std::lock_guard<std::mutex> lock(sizes_mutex_);
  if (started_ || stopping_) return;
  started_ = true;
  sizer_ = std::thread([this] { MeasureSizes(); });
}

void StatusReport::MeasureSizes() {
  std::unique_lock<std::mutex> lock(sizes_mutex_);
  while (!stopping_) {
    lock.unlock();
    std::map<std::string, int64_t> measured;
    std::vector<storage::TableInfo> relations;
    if (auto conn = sources_.database->Connect(); conn.ok()) {
      if (auto listed = (*conn)->ListRelations(); listed.ok()) relations = std::move(*listed);
    }
    for (const auto& relation : relations) {
      if (relation.kind != "table") continue;
      {
        std::lock_guard<std::mutex> stop(sizes_mutex_);
        if (stopping_) return;
      }
      auto bytes = storage::ReadTableBytes(sources_.database, relation.name);
      measured[relation.name] = bytes.ok() ? *bytes : -1;
    }
    lock.lock();
    sizes_ = std::move(measured);
    wake_.wait_for(lock, kSizesPeriod, [this] { return stopping_; });
  }
}

int64_t StatusReport::SizeOf(const std::string& table) const {
  std::lock_guard<std::mutex> lock(sizes_mutex_);
  auto found = sizes_.find(table);
  return found == sizes_.end() ? -1 : found->second;
}

arrow::Result<std::string> StatusReport::Json(const Principal* caller) {
  StartSizer();
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
  out["auth"] = sources_.auth_enabled;
  // The server's own figures (where it listens, its database and process) are for users
  // who may see the whole server, as /metrics is; the database file's path, which names
  // the server's own state on disk, for admins only.
  out["listeners"] = nullptr;
  out["database"] = nullptr;
  out["process"] = nullptr;
  if (Unrestricted(caller)) {
    json listeners = json::object();
    for (const auto& [name, url] : sources_.listeners()) {
      listeners[name] = url.empty() ? json() : json(url);
    }
    out["listeners"] = listeners;
    const auto stats = sources_.database_stats();
    out["database"] = {{"size_bytes", stats.file_bytes()},
                       {"wal_bytes", stats.wal_bytes},
                       {"memory_bytes", stats.memory_bytes()},
                       {"memory_limit", sources_.database->memory_limit()}};
    if (IsAdmin(caller)) out["database"]["path"] = sources_.database->path();
    out["process"] = {{"rss_bytes", process.resident_bytes},
                      {"threads", process.threads},
                      {"open_fds", process.open_fds},
                      {"cpu_seconds", process.cpu_seconds}};
  }

  // The storage's state (disk full, a database reopened after DuckDB invalidated it):
  // paths and DuckDB's errors for admins; a user limited to some tables or streams sees
  // no server-wide figures, only whether writes are accepted.
  json storage = json::parse(
      storage::StorageHealthJson(sources_.database->Health(), IsAdmin(caller)), nullptr, false);
  if (!Unrestricted(caller) && storage.is_object()) {
    storage = {{"state", storage["state"]}, {"writes", storage["writes"]}};
  }
  out["storage"] = std::move(storage);

  // Streams: routing and counters as list_streams shows them, with their rates (only
  // those that received rows lately: the rest would be a list of zeros).
  out["rate_seconds"] = kRateSeconds;
  const auto rates = metrics ? metrics->StreamRates(kRateSeconds)
                             : std::map<std::string, std::vector<int64_t>>{};
  json streams = json::array();
  for (json& stream : ingest::StreamList(*sources_.router, IsAdmin(caller))) {
    if (!MaySee(caller, stream)) continue;
    auto rate = rates.find(stream["stream"].get<std::string>());
    if (rate != rates.end()) stream["rows_per_second"] = rate->second;
    streams.push_back(std::move(stream));
  }
  out["streams"] = std::move(streams);

  // Tables: the catalog now (cheap), sizes from the sizer's latest round; the caller's
  // own first, then the cap.
  // While the database is being reopened there are none to list: the storage says why.
  std::vector<storage::TableInfo> relations;
  if (auto conn = sources_.database->Connect(); conn.ok()) {
    ARROW_ASSIGN_OR_RAISE(relations, (*conn)->ListRelations());
  }
  json tables = json::array();
  for (const auto& table : relations) {
    if (tables.size() >= kMaxTables) break;
    if (!auth::AccessPolicy::ReadTable(caller, table.name).ok()) continue;
    tables.push_back({{"name", table.name},
                      {"kind", table.kind},
                      {"rows", table.estimated_rows},
                      {"bytes", table.kind == "table" ? SizeOf(table.name) : -1}});
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
