// Server::Impl's start-up steps before the listeners, in the order Server::Start runs
// them: descriptors, the database, authentication, the pipelines (server_listeners.cc:
// the ports, Flight and HTTP).
#include <algorithm>
#include <thread>

#include "arrowport/common/status_detail.h"
#include "arrowport/flight/flight_service.h"
#include "arrowport/server/server_impl.h"
#include "arrowport/storage/memory/memory_limit.h"
#include "arrowport/storage/catalog/server_secrets.h"
#include "arrowport/storage/database/database_sql.h"
#include "arrowport/config/config_file.h"
#include "arrowport/common/version.h"

namespace arrowport::server {

namespace {
// Descriptors kept for DuckDB (database, WAL, spill files, view files), the log, pipes,
// listeners and the server's own work: connections never take these.
constexpr int64_t kReservedDescriptors = 128;
}  // namespace

void Server::Impl::ReserveFileDescriptors() {
  auto& config = setup.config;
  descriptors = ReserveDescriptors(kReservedDescriptors);
  const int64_t connections = descriptors.ceiling / 2;
  if (config.http_max_connections > connections) {
    logger.Warn("http.max_connections lowered to fit the descriptor limit",
                {{"configured", std::to_string(config.http_max_connections)},
                 {"max_connections", std::to_string(connections)},
                 {"nofile", std::to_string(descriptors.limit)}});
    config.http_max_connections = static_cast<int>(std::max<int64_t>(connections, 1));
  }
  if (!config.exposure_warning.empty()) logger.Warn(config.exposure_warning);
  if (!config.unknown_environment.empty()) {
    std::string names;
    for (const auto& name : config.unknown_environment) {
      names += (names.empty() ? "" : ",") + name;
    }
    logger.Warn("environment variables that name no setting are ignored",
                {{"names", names}, {"see", "docs/configuration.md"}});
  }
  logger.Info("descriptors", {{"nofile", std::to_string(descriptors.limit)},
                              {"connection_ceiling", std::to_string(descriptors.ceiling)},
                              {"http_max_connections",
                               std::to_string(config.http_max_connections)}});
}

int64_t Server::Impl::PerAddressShare(int64_t slots) const {
  const int64_t configured = setup.config.limits.max_connections_per_address;
  if (configured <= 0) return 0;
  return std::min(configured, std::max<int64_t>(1, slots / 2));
}

arrow::Status Server::Impl::OpenDatabase() {
  const auto& config = setup.config;
  storage::DatabaseOptions db_options;
  db_options.path = config.db_path;
  db_options.threads = config.duckdb_threads;
  db_options.memory_limit = config.duckdb_memory_limit;
  db_options.late_materialization = config.duckdb_late_materialization;
  db_options.checkpoint_wal_bytes = config.checkpoint_wal_bytes;
  db_options.init_sql = config.duckdb_init_sql;
  for (const auto& extension : config.duckdb_extensions) {
    db_options.init_sql.insert(db_options.init_sql.begin(),
                               storage::LoadExtensionSql(extension));
  }
  // One (name, location) pair per file: a view over several files comes as several pairs.
  for (const auto& [name, locations] : config.views) {
    for (const auto& location : locations) db_options.file_views.emplace_back(name, location);
  }
  db_options.max_query_memory = config.limits.max_query_memory;
  request_memory = MemoryBudget::Make(config.limits.max_request_memory > 0
                                          ? config.limits.max_request_memory
                                          : storage::DefaultRequestMemoryBytes());
  db_options.request_memory = request_memory;
  db_options.lake_stores = lake_stores;
  db_options.min_free_bytes = config.storage_min_free_mb << 20;
  db_options.on_event = [this](const std::string& event, const std::string& detail) {
    logger.Warn(event, {{"detail", detail}});
  };
  // The calls running on the invalidated database end now: a client reading a result
  // slowly (one batch per minute) held the reopen, and every other call's 503, for as
  // long as it liked (an attack run). Their queries fail on it anyway.
  watchdog = std::make_unique<CallWatchdog>();
  db_options.on_invalidated = [watchdog = watchdog.get()] {
    watchdog->CancelWatched(ServerBusy("DuckDB invalidated the database, which the server "
                                       "is reopening: retry in a few seconds"));
  };
  ARROW_ASSIGN_OR_RAISE(database, storage::Database::Open(db_options));
  MakeDatabaseFigures();
  logger.Info("database opened",
              {{"database", config.db_path},
               {"memory_limit", database->memory_limit()},
               {"memory_limit_source", config.duckdb_memory_limit.empty()
                                           ? (config.db_path == ":memory:"
                                                  ? "DuckDB default (in-memory database)"
                                                  : "default: min(25% of RAM, 50% of "
                                                    "cgroup limit, 1 GiB)")
                                           : "duckdb.memory_limit"},
               {"max_query_memory_mib", std::to_string(database->max_query_memory() >> 20)},
               {"late_materialization", config.duckdb_late_materialization ? "on" : "off"},
               {"min_free_mib", std::to_string(config.storage_min_free_mb)},
               {"max_request_memory_mib", std::to_string(request_memory->capacity() >> 20)}});
  // What the memory guard covers in this binary, said once: a sanitizer build keeps the
  // sanitizer's operator new, and then only DuckDB's allocators are capped.
  operator_new_guarded = storage::Database::operator_new_guarded();
  if (operator_new_guarded) {
    logger.Info("memory guard", {{"operator_new_override", "active"},
                                 {"covers", "DuckDB's allocators, its large operator new "
                                            "calls, planning threads"}});
  } else {
    logger.Warn("memory guard", {{"operator_new_override", "inactive"},
                                 {"covers", "DuckDB's allocators only (a sanitizer build "
                                            "keeps its own operator new)"}});
  }
  if (!database->direct_append_enabled()) {
    logger.Warn("DuckDB library differs from the one Arrowport was built against: "
                "small appends use DuckDB's public appender (slower, same results)",
                {{"duckdb", storage::Database::LibraryVersion()}});
  }
  return arrow::Status::OK();
}

arrow::Status Server::Impl::MakeAuthenticator() {
  auth::AuthCounters counters;
  if (metrics) {
    auto& registry = metrics->registry();
    counters.decisions = &registry.AddCounter(
        "arrowport_auth_decisions_total",
        "Authentication decisions by protocol, method (basic, bearer, none) and outcome",
        {"protocol", "method", "outcome"});
    counters.password_checks =
        &registry
             .AddCounter("arrowport_password_checks_total",
                         "Password hashes verified (argon2id runs) for Basic logins", {})
             .With({});
    counters.throttled =
        &registry
             .AddCounter("arrowport_logins_throttled_total",
                         "Basic logins refused by the failed-login limits (auth."
                         "max_failed_logins_per_address / _per_account) before any "
                         "hash was computed",
                         {})
             .With({});
  }
  ARROW_ASSIGN_OR_RAISE(authenticator,
                        auth::Authenticator::Make(setup.config, &logger, counters));
  return arrow::Status::OK();
}

arrow::Status Server::Impl::CheckTransforms(const config::Config& config) {
  ARROW_ASSIGN_OR_RAISE(auto conn, database->Connect());
  for (const auto& [name, stream] : config.streams) {
    if (stream.transform.empty()) continue;
    auto st = conn->CheckTransformText(stream.transform);
    if (!st.ok()) {
      return st.WithMessage(config.source.empty() ? "config" : config.source, ": key 'streams.",
                            name, ".transform': ", st.message());
    }
  }
  return arrow::Status::OK();
}

arrow::Status Server::Impl::MakeCluster() {
  const auto& config = setup.config;
  if (config.cluster.nodes.empty()) return arrow::Status::OK();
  const std::string what = "cluster.secret_file '" + config.cluster.secret_file + "'";
  auto secret = config::ReadPrivateSecret(config.cluster.secret_file, what);
  if (!secret.ok()) {
    return secret.status().WithMessage(config.SourceOf("cluster.secret_file"), ": ",
                                       secret.status().message());
  }
  std::vector<flight::ClusterView::Node> nodes;
  for (const auto& node : config.cluster.nodes) nodes.push_back({node.name, node.flight, node.http});
  auto view = flight::ClusterView::Make(std::move(nodes), config.cluster.self, *secret);
  if (!view.ok()) return view.status().WithMessage(what, ": ", view.status().message());
  cluster = std::move(*view);
  if (config.lake_commit_key_file.empty()) {
    // The nodes share the cluster's secret: a retry another node committed is a
    // duplicate here too, with no key file of its own to copy to every node.
    ARROW_ASSIGN_OR_RAISE(lake_seal_key, lake::SealKey::FromSecret(*secret, what));
    logger.Info("lake commits are sealed with a key of the cluster's secret");
  }
  cluster_health = std::make_unique<ClusterHealth>(cluster.get(),
                                                   config.cluster.health_interval_ms, &logger);
  logger.Info("serving in a cluster", {{"node", config.cluster.self},
                                       {"nodes", std::to_string(config.cluster.nodes.size())}});
  return arrow::Status::OK();
}

arrow::Status Server::Impl::LoadLakeSealKey() {
  const auto& config = setup.config;
  if (lake_seal_key) return arrow::Status::OK();  // the cluster's (MakeCluster)
  if (!config.lake_commit_key_file.empty()) {
    auto key = lake::SealKey::FromFile(config.lake_commit_key_file);
    if (!key.ok()) {
      return key.status().WithMessage(config.SourceOf("lake.commit_key_file"), ": ",
                                      key.status().message());
    }
    lake_seal_key = *key;
    logger.Info("lake commits are sealed with the key of lake.commit_key_file",
                {{"file", config.lake_commit_key_file}});
    return arrow::Status::OK();
  }
  const bool lakes_configured = std::any_of(
      config.streams.begin(), config.streams.end(),
      [](const auto& stream) { return stream.second.sink == config::Sink::kLake; });
  ARROW_ASSIGN_OR_RAISE(auto conn, database->Connect());
  auto secret = storage::KeepServerSecret(conn.get(), "lake_commit_key",
                                          lake::SealKey::NewSecret());
  if (!secret.ok() && !lakes_configured) {
    // A server without lakes whose database takes no write (its directory read-only)
    // still serves reads, as it did before lake commits were sealed; a lake a reload
    // adds seals with a key of this run's.
    logger.Warn("the database could not keep a lake commit key; lake streams added by a "
                "reload seal their commits with a key of this run only",
                {{"error", secret.status().message()}});
    lake_seal_key = lake::SealKey::Random();
    return arrow::Status::OK();
  }
  ARROW_RETURN_NOT_OK(secret);
  ARROW_ASSIGN_OR_RAISE(lake_seal_key, lake::SealKey::FromSecret(
                                           *secret, "the database's lake commit key"));
  if (lakes_configured && config.db_path == ":memory:") {
    // A retry after a restart would find its earlier commit unsealed: written again.
    logger.Warn("lake commits are sealed with a key kept in the in-memory database, "
                "which is lost at exit: after a restart, retries of requests committed "
                "before it are written again; set lake.commit_key_file (docs/lake.md)");
  }
  return arrow::Status::OK();
}

void Server::Impl::MakePipelines() {
  MakeIngest();
  MakeQuery();
  MakeLakes();
  MakeBackups();
  MakeStatusReport();
}

void Server::Impl::MakeIngest() {
  const auto& config = setup.config;
  RequestLimiter::Options limits;
  limits.max_concurrent = config.limits.max_concurrent_requests;
  limits.max_concurrent_per_user = config.limits.max_concurrent_per_user;
  limits.requests_per_second_per_user =
      static_cast<double>(config.limits.requests_per_second_per_user);
  limits.burst_per_user = static_cast<double>(config.limits.request_burst_per_user);
  limiter = std::make_unique<RequestLimiter>(limits);
  router = std::make_unique<ingest::StreamRouter>(config);
  transfer = std::make_unique<flight::TransferPolicy>(config.transfer);
  ingest = std::make_unique<ingest::IngestPipeline>(database.get(), router.get(),
                                                    config.limits.max_batch_bytes,
                                                    metrics.get());
  ingest::WriteLimits write_limits;
  write_limits.watchdog = watchdog.get();
  write_limits.query_timeout_s = config.limits.query_timeout_s;
  write_limits.max_write_factor = config.limits.max_write_factor;
  write_limits.floor_rows = config.limits.max_write_floor_rows;
  write_limits.floor_bytes = config.limits.max_write_floor_bytes;
  ingest->SetWriteLimits(write_limits);
  // Before any call: a request with an id would otherwise pay for it (and retry it).
  auto rekeyed = ingest->RekeyRequestLog([this](int64_t handled) {
    logger.Info("request log: re-keying entries of an older server to their tables",
                {{"entries_so_far", std::to_string(handled)}});
  });
  if (!rekeyed.ok()) {
    logger.Warn("request log: re-keying older entries failed; requests with an id will "
                "retry it first",
                {{"error", rekeyed.status().ToString()}});
  } else if (*rekeyed > 0) {
    logger.Info("request log: entries of an older server re-keyed to their tables",
                {{"entries", std::to_string(*rekeyed)}});
  }
}

void Server::Impl::MakeQuery() {
  const auto& config = setup.config;
  query = std::make_unique<query::QueryPipeline>(
      database.get(), query::QueryPipeline::kDefaultBatchRows, metrics.get());
  // More endpoints than the server has cores only add each one's start to a reader.
  const int cores = config.duckdb_threads > 0
                        ? config.duckdb_threads
                        : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  query->SetTableSplit({config.flight_max_endpoints > 0 ? config.flight_max_endpoints : cores,
                        config.flight_endpoint_rows});
}

void Server::Impl::MakeLakes() {
  objectstore::S3Settings s3 = lake::S3SettingsOf(setup.config.s3);
  s3.stop = store_stop;
  lakes = std::make_unique<lake::LakeCatalog>(std::move(s3), &logger, request_memory,
                                              lake_seal_key);
  lake_service = std::make_unique<query::LakeService>(database.get(), lake_stores,
                                                      lakes.get(), router.get(), &logger);
  lake_service->SetReadParts(setup.config.lake_read_part_mb << 20, cluster != nullptr);
  ingest->EnableLakes(lakes.get(),
                      [service = lake_service.get()](const std::string& stream) {
                        service->Committed(stream);
                      });
  // Lake streams' views are made by the service's thread (at once) and by the first
  // query naming them: a slow or unreachable store never holds up the start.
  query->EnableLakeReads(
      {[service = lake_service.get()](const std::string& table) { return service->Layout(table); },
       [service = lake_service.get()](const std::string& table,
                                      const query::QueryRequest::LakePart& part) {
         return service->PartSql(table, part);
       },
       [service = lake_service.get()](const std::string& text) {
         return service->RefreshReferenced(text);
       }});
  lake_service->Start();
}

void Server::Impl::MakeBackups() {
  const auto& config = setup.config;
  objectstore::S3Settings s3 = lake::S3SettingsOf(config.s3);
  s3.stop = store_stop;
  backups = std::make_unique<query::BackupService>(
      database.get(), std::move(s3),
      query::BackupSchedule{std::chrono::seconds(config.backup.every_s), config.backup.to,
                            static_cast<int>(config.backup.keep)},
      store_stop, [this] { return LakeSnapshots(); }, &logger);
  backups->Start();
}

std::vector<query::BackupLakeTable> Server::Impl::LakeSnapshots() {
  std::vector<query::BackupLakeTable> out;
  if (!lake_service) return out;
  for (const auto& figures : lake_service->figures()) {
    out.push_back({figures.stream, figures.table, figures.url, figures.version});
  }
  return out;
}

void Server::Impl::MakeStatusReport() {
  StatusSources sources;
  sources.database = database.get();
  sources.database_stats = [this] { return DatabaseFigures(); };
  sources.router = router.get();
  sources.lake_states = [service = lake_service.get()] {
    std::map<std::string, LakeStreamStatus> states;
    for (const auto& f : service->figures()) {
      states[f.stream] = {f.state, f.error, f.upkeep};
    }
    return states;
  };
  sources.backup = [this](bool with_details) {
    return backups ? backups->OutcomeJson(with_details) : "";
  };
  sources.metrics = metrics.get();
  sources.version = arrowport::Version();
  sources.auth_enabled = authenticator->enabled();
  sources.listeners = [this] {
    const Listeners now = Published();
    return std::vector<std::pair<std::string, std::string>>{
        {"flight", now.flight}, {"http", now.http}, {"metrics", now.scrape}};
  };
  status = std::make_unique<StatusReport>(std::move(sources));
}

}  // namespace arrowport::server
