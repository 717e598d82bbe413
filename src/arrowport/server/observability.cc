// Server::Impl's metrics (the server's own figures in the registry), the metrics listener
// and the status report.
#include <algorithm>

#include "arrow/config.h"
#include "arrow/util/uri.h"
#include "arrowport/flight/grpc_connections.h"
#include "arrowport/metrics/process_metrics.h"
#include "arrowport/server/server_impl.h"
#include "arrowport/common/version.h"

namespace arrowport::server {

namespace {

using metrics::MetricType;
using metrics::Sample;

// A reading of DuckDB's figures serves every family of them in one scrape.
constexpr auto kStatsFresh = std::chrono::seconds(1);

std::vector<Sample> One(double value) { return {{{}, value}}; }

}  // namespace

std::vector<std::string> Server::Impl::StreamNames(const config::Config& config) {
  std::vector<std::string> names;
  for (const auto& [name, stream] : config.streams) names.push_back(name);
  return names;
}

void Server::Impl::MakeDatabaseFigures() {
  database_figures = std::make_unique<CachedReading<storage::DatabaseStats>>(
      kStatsFresh, [this] {
        auto fresh = storage::ReadDatabaseStats(database.get());
        if (fresh.ok()) return std::move(*fresh);
        logger.Warn("cannot read DuckDB's figures", {{"error", fresh.status().message()}});
        return storage::DatabaseStats{};
      });
}

storage::DatabaseStats Server::Impl::DatabaseFigures() { return database_figures->Get(); }

void Server::Impl::MakeMetrics() {
  const auto& config = setup.config;
  if (!config.metrics.enabled) return;
  metrics::MetricsOptions options;
  options.max_stream_labels = static_cast<size_t>(config.metrics.max_stream_labels);
  metrics = std::make_unique<metrics::ServerMetrics>(options);
  metrics->SetConfiguredStreams(StreamNames(config));
  auto& r = metrics->registry();
  metrics::AddProcessMetrics(&r);
  r.AddCallback("arrowport_build_info",
                "Always 1: the versions of Arrowport, DuckDB and Arrow in this process",
                MetricType::kGauge, {"version", "duckdb_version", "arrow_version"}, [] {
                  return std::vector<Sample>{{{arrowport::Version(),
                                               storage::Database::LibraryVersion(),
                                               arrow::GetBuildInfo().version_string},
                                              1}};
                });
  AddLakeTableMetrics(&r);
  AddLakeUpkeepMetrics(&r);
  AddDuckDBMetrics(&r);
  AddCallMetrics(&r);
  AddStorageHealthMetrics(&r);
  AddRefusedConnectionsMetric(&r);
  AddBackupMetrics(&r);
  config_reloads = &r.AddCounter("arrowport_config_reloads_total",
                                 "Config reloads by outcome (ok, rejected)", {"outcome"});
}

// Backups (on demand and scheduled): when the last one succeeded, and the failures.
void Server::Impl::AddBackupMetrics(metrics::Registry* registry) {
  auto outcome = [this] {
    return backups ? backups->outcome() : query::BackupOutcome{};
  };
  registry->AddCallback("arrowport_backup_last_success_timestamp_seconds",
                        "Unix time of the last backup that completed (0: none yet)",
                        MetricType::kGauge, {}, [outcome] {
                          return std::vector<Sample>{
                              {{}, static_cast<double>(outcome().last_success_unix)}};
                        });
  registry->AddCallback("arrowport_backup_failures_total", "Backups that failed",
                        MetricType::kCounter, {}, [outcome] {
                          return std::vector<Sample>{
                              {{}, static_cast<double>(outcome().failures)}};
                        });
}

// Lake streams (sink: lake), by stream: the published snapshot and this node's commits.
void Server::Impl::AddLakeTableMetrics(metrics::Registry* registry) {
  auto& r = *registry;
  const auto by_lake = [this](int64_t query::LakeService::Figures::*field) {
    return [this, field] {
      std::vector<Sample> out;
      if (!lake_service) return out;
      for (const auto& f : lake_service->figures()) {
        out.push_back({{f.stream}, static_cast<double>(f.*field)});
      }
      return out;
    };
  };
  r.AddCallback("arrowport_lake_version", "Delta table version a lake stream's view reads",
                MetricType::kGauge, {"stream"}, by_lake(&query::LakeService::Figures::version));
  r.AddCallback("arrowport_lake_files", "Data files in a lake stream's latest snapshot",
                MetricType::kGauge, {"stream"}, by_lake(&query::LakeService::Figures::files));
  r.AddCallback("arrowport_lake_size_bytes", "Bytes of a lake stream's live data files",
                MetricType::kGauge, {"stream"}, by_lake(&query::LakeService::Figures::bytes));
  r.AddCallback("arrowport_lake_commits_total", "Delta commits this node made, by stream",
                MetricType::kCounter, {"stream"}, by_lake(&query::LakeService::Figures::commits));
  r.AddCallback("arrowport_lake_commit_conflicts_total",
                "Commit attempts another writer won (put-if-absent lost), by stream",
                MetricType::kCounter, {"stream"}, by_lake(&query::LakeService::Figures::lost_races));
  r.AddCallback("arrowport_lake_snapshot_copies_total",
                "Whole snapshots of a lake stream's table copied (one per commit: the new "
                "version; more when other writers committed meanwhile)",
                MetricType::kCounter, {"stream"},
                by_lake(&query::LakeService::Figures::snapshot_copies));
  r.AddCallback("arrowport_lake_snapshot_bytes",
                "Memory a lake stream's table holds in kept snapshots (an estimate), charged "
                "to limits.max_request_memory",
                MetricType::kGauge, {"stream"}, by_lake(&query::LakeService::Figures::snapshot_bytes));
}

// Lake streams' upkeep, by stream: upkeep that fails (a full or failing store) shows
// here, not only in the log.
void Server::Impl::AddLakeUpkeepMetrics(metrics::Registry* registry) {
  auto& r = *registry;
  const auto by_upkeep = [this](int64_t lake::UpkeepReport::*field, int64_t scale) {
    return [this, field, scale] {
      std::vector<Sample> out;
      if (!lake_service) return out;
      for (const auto& f : lake_service->figures()) {
        out.push_back({{f.stream}, static_cast<double>(f.upkeep.*field) / scale});
      }
      return out;
    };
  };
  r.AddCallback("arrowport_lake_upkeep_failures_total",
                "Upkeep rounds (vacuum, compaction, checkpoint) of a lake stream's "
                "table that failed",
                MetricType::kCounter, {"stream"},
                by_upkeep(&lake::UpkeepReport::failures, 1));
  r.AddCallback("arrowport_lake_upkeep_failures_in_a_row",
                "Upkeep rounds of a lake stream's table that failed since the last that "
                "succeeded (0: upkeep is healthy)",
                MetricType::kGauge, {"stream"},
                by_upkeep(&lake::UpkeepReport::failures_in_a_row, 1));
  r.AddCallback("arrowport_lake_upkeep_retry_seconds",
                "Seconds until compaction and checkpoints of a lake stream's table "
                "are tried again after failures (backoff; 0: at the next round)",
                MetricType::kGauge, {"stream"},
                by_upkeep(&lake::UpkeepReport::retry_in_ms, 1000));
  r.AddCallback("arrowport_lake_table_state",
                "1 for the state a lake stream's table is in (ok; refused: its log cannot be "
                "loaded or fails validation, reads and writes fail; unavailable: the last "
                "log read failed on the store), 0 for the others",
                MetricType::kGauge, {"stream", "state"}, [this] {
                  std::vector<Sample> out;
                  if (!lake_service) return out;
                  for (const auto& f : lake_service->figures()) {
                    for (const char* state : query::LakeService::kStates) {
                      out.push_back({{f.stream, state}, f.state == state ? 1.0 : 0.0});
                    }
                  }
                  return out;
                });
}

// DuckDB's figures: the database's files, its memory by tag, what it holds outside its
// buffer pool.
void Server::Impl::AddDuckDBMetrics(metrics::Registry* registry) {
  auto& r = *registry;
  r.AddCallback("arrowport_duckdb_database_size_bytes",
                "Size of the database file (DuckDB's blocks, free ones included)",
                MetricType::kGauge, {},
                [this] { return One(static_cast<double>(DatabaseFigures().file_bytes())); });
  r.AddCallback("arrowport_duckdb_wal_size_bytes", "Size of DuckDB's write-ahead log",
                MetricType::kGauge, {},
                [this] { return One(static_cast<double>(DatabaseFigures().wal_bytes)); });
  // One series per DuckDB memory tag of a field of duckdb_memory().
  const auto by_tag = [this](int64_t storage::DatabaseStats::Memory::*field) {
    return [this, field] {
      std::vector<Sample> out;
      for (const auto& m : DatabaseFigures().memory) {
        out.push_back({{m.tag}, static_cast<double>(m.*field)});
      }
      return out;
    };
  };
  r.AddCallback("arrowport_duckdb_memory_bytes",
                "Memory DuckDB's buffer manager holds, by tag (duckdb_memory())",
                MetricType::kGauge, {"tag"}, by_tag(&storage::DatabaseStats::Memory::memory_bytes));
  r.AddCallback("arrowport_duckdb_temporary_storage_bytes",
                "Bytes DuckDB spilled to temporary files, by tag (duckdb_memory())",
                MetricType::kGauge, {"tag"},
                by_tag(&storage::DatabaseStats::Memory::temporary_bytes));
  r.AddCallback("arrowport_duckdb_allocated_bytes",
                "What DuckDB holds outside its buffer pool, and its budget "
                "(limits.max_query_memory plus the memory limit)",
                MetricType::kGauge, {"state"}, [] {
                  return std::vector<Sample>{
                      {{"held"}, static_cast<double>(storage::Database::allocated_bytes())},
                      {{"budget"},
                       static_cast<double>(storage::Database::allocation_budget_bytes())}};
                });
  r.AddCallback("arrowport_memory_guard_new_override",
                "1 when the memory guard's global operator new runs in this binary "
                "(DuckDB's large news and planning threads capped); 0 in a sanitizer build",
                MetricType::kGauge, {},
                [this] { return One(operator_new_guarded ? 1.0 : 0.0); });
}

// What calls hold: request memory, connections, Flight SQL statements and transactions.
void Server::Impl::AddCallMetrics(metrics::Registry* registry) {
  auto& r = *registry;
  r.AddCallback("arrowport_request_memory_bytes",
                "The server-wide budget of calls' buffers (limits.max_request_memory): held "
                "now, the peak, and the budget",
                MetricType::kGauge, {"state"}, [this] {
                  return std::vector<Sample>{
                      {{"held"}, static_cast<double>(request_memory->used())},
                      {{"peak"}, static_cast<double>(request_memory->peak())},
                      {{"budget"}, static_cast<double>(request_memory->capacity())}};
                });
  r.AddCallback("arrowport_active_connections", "Client connections open now",
                MetricType::kGauge, {"protocol"}, [this] {
                  std::vector<Sample> out;
                  const Listeners now = Published();
                  if (now.flight_port > 0) {
                    if (auto open = flight::OpenGrpcConnections(now.flight_port)) {
                      out.push_back({{"flight"}, static_cast<double>(*open)});
                    }
                  }
                  if (now.gateway != nullptr) {
                    out.push_back({{"http"}, static_cast<double>(now.gateway->open_connections())});
                  }
                  return out;
                });
  r.AddCallback("arrowport_flight_sql_open", "What Flight SQL clients hold open",
                MetricType::kGauge, {"kind"}, [this] {
                  std::vector<Sample> out;
                  if (sql_sessions) {
                    out.push_back({{"prepared_statements"},
                                   static_cast<double>(sql_sessions->open_statements())});
                    out.push_back({{"transactions"},
                                   static_cast<double>(sql_sessions->open_transactions())});
                  }
                  return out;
                });
}

// The storage's health: checkpoints, free space, refused writes, reopenings.
void Server::Impl::AddStorageHealthMetrics(metrics::Registry* registry) {
  auto& r = *registry;
  r.AddCallback("arrowport_checkpoint_failures", "Failed checkpoints in a row (0: healthy)",
                MetricType::kGauge, {}, [this] {
                  return One(static_cast<double>(
                      database->checkpointer_state().failures_in_a_row));
                });
  // A full disk and reopenings of an invalidated database (see docs/limits.md, "A full
  // disk"): what to alert on before clients see 507s.
  r.AddCallback("arrowport_storage_free_bytes",
                "Free space under the database, its WAL and DuckDB's temp directory (the "
                "smallest of their filesystems; storage.min_free_mb is the floor)",
                MetricType::kGauge, {}, [this] {
                  return One(static_cast<double>(database->Health().disk.free_bytes));
                });
  r.AddCallback("arrowport_storage_writes_refused",
                "1 while writes are refused: the disk is below storage.min_free_mb, or the "
                "database is being reopened after DuckDB invalidated it",
                MetricType::kGauge, {}, [this] {
                  const auto health = database->Health();
                  return One(health.disk.full || health.reopening ? 1.0 : 0.0);
                });
  r.AddCallback("arrowport_database_reopens_total",
                "Times the server opened the database again after DuckDB invalidated it",
                MetricType::kCounter, {}, [this] {
                  return One(static_cast<double>(database->Health().reopens));
                });
}

// Connections refused as they were accepted, by protocol and reason.
void Server::Impl::AddRefusedConnectionsMetric(metrics::Registry* registry) {
  auto& r = *registry;
  r.AddCallback("arrowport_connections_refused_total",
                "Connections closed as they were accepted: over http.max_connections (busy: "
                "answered 503), from an address over limits.max_connections_per_address "
                "(per_address), or past the descriptor ceiling (any port)",
                MetricType::kCounter, {"protocol", "reason"}, [this] {
                  std::vector<Sample> out{
                      {{"http", "busy"},
                       static_cast<double>(metrics->http_connections_refused().value())},
                      {{"any", "descriptors"}, static_cast<double>(RefusedConnections())}};
                  if (flight_address_cap) {
                    out.push_back({{"flight", "per_address"},
                                   static_cast<double>(flight_address_cap->refused())});
                  }
                  if (const auto* gateway = Published().gateway) {
                    const double refused = gateway->connections_refused_per_address();
                    out.push_back({{"http", "per_address"}, refused});
                  }
                  return out;
                });
}

arrow::Result<std::string> Server::Impl::StatusJson(const Principal* caller) {
  if (status == nullptr) return arrow::Status::Invalid("the server is starting");
  return status->Json(caller);
}

arrow::Status Server::Impl::StartMetricsListener() {
  const auto& config = setup.config;
  if (!config.metrics.port || metrics == nullptr) return arrow::Status::OK();
  http::HttpGatewayDeps deps;
  deps.logger = &logger;
  deps.authenticator = authenticator.get();
  deps.metrics = metrics.get();
  deps.tls = tls.get();
  deps.max_connections = 64;
  deps.max_connections_per_address = PerAddressShare(deps.max_connections);
  deps.header_timeout_s = config.http_header_timeout_s;
  deps.read_timeout_s = config.http_read_timeout_s;
  auto started = http::HttpGateway::Start(deps, config.metrics.host, *config.metrics.port,
                                          http::HttpSurface::kMetricsOnly);
  if (!started.ok()) {
    return arrow::Status::IOError("cannot listen for metrics on ",
                                  arrow::util::UriEncodeHost(config.metrics.host), ":",
                                  *config.metrics.port, ": ", started.status().message());
  }
  metrics_http = std::move(*started);
  return arrow::Status::OK();
}

void Server::Impl::PublishListeners() {
  Listeners now{FlightUri(), HttpUri(), MetricsScrapeUrl(), flight->port(), http.get()};
  std::lock_guard<std::mutex> lock(listeners_mutex);
  listeners = std::move(now);
}

Server::Impl::Listeners Server::Impl::Published() const {
  std::lock_guard<std::mutex> lock(listeners_mutex);
  return listeners;
}

std::string Server::Impl::MetricsScrapeUrl() const {
  if (metrics_http) return MetricsUri() + "/metrics";
  return metrics ? HttpUri() + "/metrics" : "";
}

std::string Server::Impl::MetricsUri() const {
  if (!metrics_http) return "";
  return Url(tls ? "https" : "http", setup.config.metrics.host, metrics_http->port());
}

}  // namespace arrowport::server
