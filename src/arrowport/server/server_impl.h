#pragma once

// Server::Impl, shared by server.cc (the public Server, config reloads) and
// server_start.cc (the start-up steps).

#include <arrow/flight/api.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "arrowport/auth/authenticator.h"
#include "arrowport/common/cached_reading.h"
#include "arrowport/common/call_watchdog.h"
#include "arrowport/common/logger.h"
#include "arrowport/common/memory_budget.h"
#include "arrowport/common/request_limiter.h"
#include "arrowport/config/config_file.h"
#include "arrowport/flight/sql/session_registry.h"
#include "arrowport/flight/sql/session_store.h"
#include "arrowport/http/http_gateway.h"
#include "arrowport/http/tls_context.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/flight/transfer.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/lake/lake_catalog.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/query/backup_service.h"
#include "arrowport/flight/cluster_view.h"
#include "arrowport/query/lake_service.h"
#include "arrowport/server/cluster_health.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/server/descriptor_limit.h"
#include "arrowport/server/server.h"
#include "arrowport/server/status_report.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/database_stats.h"

namespace arrowport::server {

struct Server::Impl {
  ServerSetup setup;
  Logger logger;
  // Declared before the database: its upkeep thread cancels the watched calls when DuckDB
  // invalidates it (OpenDatabase), until the database is gone.
  std::unique_ptr<CallWatchdog> watchdog;
  std::unique_ptr<storage::Database> database;
  DescriptorLimit descriptors;
  /// limits.max_request_memory: every call's buffers draw from it.
  std::shared_ptr<MemoryBudget> request_memory;
  /// The memory guard's operator new runs in this binary (probed once at start).
  bool operator_new_guarded = false;
  // Flight SQL sessions: cookies, and the statements and transactions they hold open.
  std::shared_ptr<flight::sql::SessionStore> sql_cookies;
  std::unique_ptr<flight::sql::SessionRegistry> sql_sessions;
  // Declared before the front ends: they use these until they are destroyed.
  /// The metrics registry (metrics.enabled; null when off) and the status summary.
  std::unique_ptr<metrics::ServerMetrics> metrics;
  metrics::Family<metrics::Counter>* config_reloads = nullptr;  // in `metrics`
  std::unique_ptr<StatusReport> status;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<RequestLimiter> limiter;
  std::unique_ptr<ingest::StreamRouter> router;
  std::unique_ptr<flight::TransferPolicy> transfer;  // transfer.*, hot-reloaded
  /// Lake tables (streams with sink: lake) and their views and upkeep.
  storage::LakeStores lake_stores;
  /// Cancelled when the shutdown's grace is over (or its work is done): every object store
  /// request still open ends and no new one starts, whichever thread runs it.
  std::shared_ptr<CallCancellation> store_stop = CallCancellation::Make();
  // The key lake commits of request ids are sealed with (LoadLakeSealKey).
  std::shared_ptr<const lake::SealKey> lake_seal_key;
  /// The cluster this node serves in (cluster:; null: none) and the poller of its nodes'
  /// /readyz; both outlive the Flight service, which reads the view.
  std::unique_ptr<flight::ClusterView> cluster;
  std::unique_ptr<ClusterHealth> cluster_health;
  std::unique_ptr<lake::LakeCatalog> lakes;
  std::unique_ptr<query::LakeService> lake_service;
  std::unique_ptr<ingest::IngestPipeline> ingest;
  std::unique_ptr<query::QueryPipeline> query;
  // Backups on demand and on the `backup:` schedule; ended before the last checkpoint.
  std::unique_ptr<query::BackupService> backups;
  std::unique_ptr<http::TlsContext> tls;  // null: plaintext; outlives both listeners
  std::unique_ptr<arrow::flight::FlightServerBase> flight;
  /// limits.max_connections_per_address on the Flight port (null: no cap).
  std::unique_ptr<AddressCap> flight_address_cap;
  std::unique_ptr<http::HttpGateway> http;
  std::unique_ptr<http::HttpGateway> metrics_http;  // metrics.port; null when unset
  /// limits.max_connections_per_address for a listener of `slots` connections: never
  /// more than half of them (0: no cap).
  int64_t PerAddressShare(int64_t slots) const;
  /// What the status report and the metrics read of the listeners, published once every
  /// listener is up (calls may arrive on Flight before HTTP exists).
  struct Listeners {
    std::string flight, http, scrape;  // URLs ("" = none); scrape: where /metrics is
    int flight_port = 0;
    const http::HttpGateway* gateway = nullptr;
  };
  mutable std::mutex listeners_mutex;  // guards listeners
  Listeners listeners;
  // DuckDB's figures: one reading serves a scrape's families and the status report.
  std::unique_ptr<CachedReading<storage::DatabaseStats>> database_figures;
  std::mutex shutdown_mutex;  // guards shut_down
  bool shut_down = false;
  std::mutex reload_mutex;  // one reload at a time (watcher thread, Flight action)
  // What the config file held when read: its text, or why it could not be read, and
  // who may read it (a chmod is a change: a reload checks the secrets' exposure again).
  struct ConfigFileRead {
    bool readable = false;
    std::string content;  // the text, or the reason
    config::FileReaders readers;
    bool operator==(const ConfigFileRead&) const = default;
  };
  // What the last reload read (applied or rejected), under reload_mutex: the watcher
  // reloads when the file settles on something else.
  ConfigFileRead config_tried;
  std::atomic<bool> stop_watcher{false};
  std::thread watcher;  // config file changes and SIGHUP -> ReloadConfig()

  explicit Impl(ServerSetup s)
      : setup(std::move(s)),
        logger(setup.config.log_format == "json" ? Logger::Format::kJson : Logger::Format::kText,
               Logger::ParseLevel(setup.config.log_level).value_or(Logger::Level::kInfo)) {}

  // ---- config reloads and the watcher thread (server.cc) ----
  // Reads the config file each poll and waits for SIGHUP (blocked in every thread, so it
  // is delivered here by sigtimedwait) to reload the routing; also runs the periodic
  // checkpoint when duckdb.checkpoint_interval_s is set.
  void WatchConfig();
  ConfigFileRead ReadConfig() const;
  // Reloads from `read` (the file as the watcher saw it settle) or, without it, from the
  // file read now (SIGHUP, the reload action). Never throws: it runs on the watcher
  // thread, where an escaping exception would terminate a server that is serving fine on
  // its previous config.
  arrow::Status ReloadConfig(const std::optional<ConfigFileRead>& read = std::nullopt);
  arrow::Status ReloadConfigLocked(const std::optional<ConfigFileRead>& read);
  // The config watcher (file changes, SIGHUP) and periodic checkpoints, when configured.
  void StartWatcher();

  // ---- start-up steps, in the order Server::Start runs them (server_start.cc; the
  // listeners: server_listeners.cc) ----
  // Connections are capped from the descriptor limit, so that DuckDB always has files to
  // open: HTTP keeps its connection cap below it, gRPC's are closed past the ceiling.
  void ReserveFileDescriptors();
  arrow::Status OpenDatabase();
  /// The routing config's transforms parse and are one SELECT each (start and reload).
  arrow::Status CheckTransforms(const config::Config& config);
  arrow::Status MakeAuthenticator();
  /// lake.commit_key_file's key, else the one the database keeps (made at its first
  /// start): what lake commits of request ids are sealed with (lake/commit_seal.h).
  arrow::Status LoadLakeSealKey();
  /// The cluster's view (cluster.nodes) with its secret read from cluster.secret_file,
  /// and its health poller (started with the listeners).
  arrow::Status MakeCluster();
  void MakePipelines();  // the four below, in this order
  void MakeIngest();     // limiter, router, transfer policy, ingest pipeline, request log
  void MakeQuery();
  void MakeBackups();    // the backup service and its schedule (backup:)
  // The lake streams' snapshots now, as a backup's manifest names them.
  std::vector<query::BackupLakeTable> LakeSnapshots();
  void MakeLakes();      // the lake catalog and service, wired into both pipelines
  void MakeStatusReport();
  /// Each configured port can be bound (a port in use fails here, before the database
  /// opens, naming the flag and variable that choose another).
  arrow::Status CheckPorts() const;
  arrow::Status StartFlight();
  void MakeFlight();  // the Flight service and its Flight SQL sessions
  // Where and how gRPC listens: TLS, middleware (authentication, then sessions), limits.
  arrow::Result<arrow::flight::FlightServerOptions> FlightOptions();
  arrow::Status StartHttp();

  // ---- observability (observability.cc) ----
  // The metrics registry with the server's own figures (DuckDB, process, connections,
  // Flight SQL, budgets); first of all, as the authenticator and pipelines count in it.
  void MakeMetrics();
  // MakeMetrics' steps, each a group of families (registered in this order).
  void AddLakeTableMetrics(metrics::Registry* registry);
  void AddLakeUpkeepMetrics(metrics::Registry* registry);
  void AddDuckDBMetrics(metrics::Registry* registry);
  void AddCallMetrics(metrics::Registry* registry);
  void AddStorageHealthMetrics(metrics::Registry* registry);
  void AddRefusedConnectionsMetric(metrics::Registry* registry);
  void AddBackupMetrics(metrics::Registry* registry);
  // The metrics listener (metrics.port), after the HTTP gateway.
  arrow::Status StartMetricsListener();
  // DuckDB's figures, read at most once a second (metrics and the status report).
  storage::DatabaseStats DatabaseFigures();
  void MakeDatabaseFigures();  // once the database is open
  // The status report's JSON for `caller` (GET /status, the status action).
  arrow::Result<std::string> StatusJson(const Principal* caller);
  /// A backup for the `backup` action and POST /admin/backup: run, logged, summarised.
  std::function<arrow::Result<std::string>(const std::string&,
                                           const std::shared_ptr<CallCancellation>&)>
  BackupCall();
  std::string MetricsUri() const;
  // Where to scrape: the metrics listener's /metrics, else the HTTP port's ("" when off).
  std::string MetricsScrapeUrl() const;
  // Publishes `listeners` (Server::Start, once all listen); Published() reads them.
  void PublishListeners();
  Listeners Published() const;
  // The routing config's stream names (each has a metrics label of its own).
  static std::vector<std::string> StreamNames(const config::Config& config);

  // ---- what the server listens on (server_listeners.cc) ----
  void LogListening();
  // Authentication explicitly off on a non-loopback address: said at start and in
  // /readyz.
  std::string OpenBindWarning() const;
  std::string FlightUri() const;
  std::string HttpUri() const;
  // scheme://host:port, with an IPv6 host in brackets.
  static std::string Url(const char* scheme, const std::string& host, int port);
  // The addresses the listeners bind (the metrics listener's when there is one).
  std::vector<const std::string*> BoundHosts() const;
};

}  // namespace arrowport::server
