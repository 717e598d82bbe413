#include "arrowport/server/status_report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <set>
#include <string_view>

#include "arrow/config.h"
#include "arrowport/auth/access_policy.h"
#include "arrowport/common/iso_time.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/metrics/process_metrics.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/storage/core/column_info.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/storage_health.h"

namespace arrowport::server {

using json = nlohmann::json;

namespace {

// A table's size is measured again when a report finds its measure this old (a
// checkpoint moves rows from the WAL into the file with the same row count)...
constexpr auto kSizesPeriod = std::chrono::seconds(30);
// ... or its row count changed; the sizer rests this long between rounds, and at least
// kSizesRestFactor times as long as its last round took, so a table written all the time
// is walked at most this often and the sizer takes a tenth of a core at most.
constexpr auto kSizesRest = std::chrono::seconds(3);
constexpr int kSizesRestFactor = 10;

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

void StatusReport::MeasureSizes() {
  std::unique_lock<std::mutex> lock(sizes_mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !wanted_.empty(); });
    if (stopping_) return;
    auto round = std::move(wanted_);
    wanted_.clear();
    const auto round_start = std::chrono::steady_clock::now();
    lock.unlock();
    for (const auto& [table, rows] : round) {
      auto bytes = storage::ReadTableBytes(sources_.database, table);
      std::lock_guard<std::mutex> hold(sizes_mutex_);
      if (stopping_) return;
      // A table that is gone (dropped meanwhile) is forgotten.
      if (bytes.ok()) {
        sizes_[table] = {*bytes, rows, std::chrono::steady_clock::now()};
      } else {
        sizes_.erase(table);
      }
    }
    lock.lock();
    const auto took = std::chrono::steady_clock::now() - round_start;
    wake_.wait_for(lock, std::max<std::chrono::steady_clock::duration>(
                             kSizesRest, took * kSizesRestFactor),
                   [this] { return stopping_; });
  }
}

void StatusReport::ForgetDropped(const std::vector<storage::TableInfo>& relations) {
  std::set<std::string_view> present;
  for (const auto& relation : relations) present.insert(relation.name);
  std::lock_guard<std::mutex> lock(sizes_mutex_);
  std::erase_if(sizes_, [&](const auto& entry) { return !present.count(entry.first); });
}

int64_t StatusReport::SizeOf(const std::string& table, int64_t rows) {
  std::lock_guard<std::mutex> lock(sizes_mutex_);
  if (stopping_) return -1;
  auto found = sizes_.find(table);
  const bool fresh = found != sizes_.end() && found->second.rows == rows &&
                     std::chrono::steady_clock::now() - found->second.at < kSizesPeriod;
  if (!fresh) {
    wanted_[table] = rows;
    if (!started_) {
      started_ = true;
      sizer_ = std::thread([this] { MeasureSizes(); });
    }
    wake_.notify_all();
  }
  return found == sizes_.end() ? -1 : found->second.bytes;
}

namespace {

// Versions and uptime, and the server's own figures (where it listens, its database and
// process) for users who may see the whole server, as /metrics is; the database file's
// path, which names the server's own state on disk, for admins only.
void AddServerFigures(const StatusSources& sources, const Principal* caller,
                      json* report) {
  json& out = *report;
  auto* metrics = sources.metrics;
  out["version"] = sources.version;
  out["duckdb_version"] = storage::Database::LibraryVersion();
  out["arrow_version"] = arrow::GetBuildInfo().version_string;
  const auto process = metrics::ReadProcessStats();
  out["started_at"] = IsoUtcTime(static_cast<int64_t>(process.start_time_seconds));
  out["uptime_s"] = metrics ? metrics->UptimeSeconds()
                            : static_cast<double>(std::time(nullptr)) -
                                  process.start_time_seconds;
  out["auth"] = sources.auth_enabled;
  out["listeners"] = nullptr;
  out["database"] = nullptr;
  out["process"] = nullptr;
  if (Unrestricted(caller)) {
    json listeners = json::object();
    for (const auto& [name, url] : sources.listeners()) {
      listeners[name] = url.empty() ? json() : json(url);
    }
    out["listeners"] = listeners;
    const auto stats = sources.database_stats();
    out["database"] = {{"size_bytes", stats.file_bytes()},
                       {"wal_bytes", stats.wal_bytes},
                       {"memory_bytes", stats.memory_bytes()},
                       {"memory_limit", sources.database->memory_limit()}};
    if (IsAdmin(caller)) out["database"]["path"] = sources.database->path();
    auto backup = sources.backup ? json::parse(sources.backup(IsAdmin(caller)), nullptr, false)
                                 : json();
    if (backup.is_object()) out["backup"] = std::move(backup);
    out["process"] = {{"rss_bytes", process.resident_bytes},
                      {"threads", process.threads},
                      {"open_fds", process.open_fds},
                      {"cpu_seconds", process.cpu_seconds}};
  }
}

// The storage's state (disk full, a database reopened after DuckDB invalidated it):
// paths and DuckDB's errors for admins; a user limited to some tables or streams sees
// no server-wide figures, only whether writes are accepted.
json StorageJson(const StatusSources& sources, const Principal* caller) {
  json storage = json::parse(
      storage::StorageHealthJson(sources.database->Health(), IsAdmin(caller)), nullptr, false);
  if (!Unrestricted(caller) && storage.is_object()) {
    storage = {{"state", storage["state"]}, {"writes", storage["writes"]}};
  }
  return storage;
}

// A lake stream's upkeep: failures (the error names the store: admins), the backoff, and
// compaction waiting for space.
json LakeUpkeepJson(const lake::UpkeepReport& upkeep, const Principal* caller) {
  json entry = {{"failures", upkeep.failures},
                {"failures_in_a_row", upkeep.failures_in_a_row},
                {"retry_in_s", (upkeep.retry_in_ms + 999) / 1000}};
  if (IsAdmin(caller)) {
    if (!upkeep.last_error.empty()) entry["last_error"] = upkeep.last_error;
    if (!upkeep.compaction_deferred.empty()) {
      entry["compaction_deferred"] = upkeep.compaction_deferred;
    }
  }
  return entry;
}

// Streams: routing and counters as list_streams shows them, with their rates (only
// those that received rows lately: the rest would be a list of zeros).
json StreamsJson(const StatusSources& sources, const Principal* caller,
                 int rate_seconds) {
  auto* metrics = sources.metrics;
  const auto rates = metrics ? metrics->StreamRates(rate_seconds)
                             : std::map<std::string, std::vector<int64_t>>{};
  const auto lake_states = sources.lake_states
                               ? sources.lake_states()
                               : std::map<std::string, LakeStreamStatus>{};
  json streams = json::array();
  for (json& stream : ingest::StreamList(*sources.router, IsAdmin(caller))) {
    if (!MaySee(caller, stream)) continue;
    auto rate = rates.find(stream["stream"].get<std::string>());
    if (rate != rates.end()) stream["rows_per_second"] = rate->second;
    // A lake stream's table: "ok", "refused" (why: to admins, it names the lake's URL)
    // or "unavailable".
    auto lake = lake_states.find(stream["stream"].get<std::string>());
    if (lake != lake_states.end()) {
      stream["lake_state"] = lake->second.state;
      if (!lake->second.error.empty() && IsAdmin(caller)) {
        stream["lake_error"] = lake->second.error;
      }
      stream["lake_upkeep"] = LakeUpkeepJson(lake->second.upkeep, caller);
    }
    streams.push_back(std::move(stream));
  }
  return streams;
}

// Calls: an admin sees every call; others see their own. Recent errors: admins only
// (null for others).
void AddCalls(metrics::ServerMetrics* metrics, const Principal* caller, json* report) {
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
        errors.push_back({{"time", IsoUtcTime(error.unix_time)},
                          {"protocol", error.protocol},
                          {"method", error.method},
                          {"code", error.code},
                          {"user", error.user},
                          {"message", error.message}});
      }
    }
  }
  (*report)["active_calls"] = std::move(calls);
  (*report)["recent_errors"] = std::move(errors);
}

}  // namespace

arrow::Result<std::string> StatusReport::Json(const Principal* caller) {
  json out;
  AddServerFigures(sources_, caller, &out);
  out["storage"] = StorageJson(sources_, caller);
  out["rate_seconds"] = kRateSeconds;
  out["streams"] = StreamsJson(sources_, caller, kRateSeconds);
  // A catalog that cannot be read (DuckDB invalidated the database an instant before the
  // storage's state says so) leaves the rest of the page standing: it answered 500.
  auto tables = TablesJson(caller);
  out["tables"] = tables.ok() ? std::move(*tables) : json::array();
  if (!tables.ok()) {
    out["tables_error"] = IsAdmin(caller) ? tables.status().message()
                                          : std::string("the catalog could not be read");
  }
  AddCalls(sources_.metrics, caller, &out);
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Tables: the catalog now (cheap), sizes from the sizer's latest round; the caller's own
// first, then the cap. While the database is being reopened there are none to list: the
// storage says why.
arrow::Result<nlohmann::json> StatusReport::TablesJson(const Principal* caller) {
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
                      {"bytes", table.kind == "table" ? SizeOf(table.name, table.estimated_rows)
                                                  : -1}});
  }
  ForgetDropped(relations);
  return tables;
}

}  // namespace arrowport::server
