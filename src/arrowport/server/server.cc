#include "arrowport/server/server.h"

#include <arrow/flight/api.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <optional>
#include <thread>
#include <mutex>
#include <condition_variable>

#include "arrowport/auth/authenticator.h"
#include "arrowport/common/call_watchdog.h"
#include "arrowport/common/identifier.h"
#include "arrowport/common/logger.h"
#include "arrowport/common/memory_budget.h"
#include "arrowport/common/request_limiter.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/flight/auth_middleware.h"
#include "arrowport/flight/flight_service.h"
#include "arrowport/flight/message_limits.h"
#include "arrowport/flight/sql/session_registry.h"
#include "arrowport/flight/status_code_interceptor.h"
#include "arrowport/flight/sql/session_store.h"
#include "arrowport/http/http_gateway.h"
#include "arrowport/http/tls_context.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/server/descriptor_limit.h"
#include "arrowport/storage/database.h"
#include "arrowport/storage/memory_limit.h"
#include "arrowport/storage/relation_sql.h"

namespace arrowport::server {

namespace {
// Descriptors kept for DuckDB (database, WAL, spill files, view files), the log, pipes,
// listeners and the server's own work: connections never take these.
constexpr int64_t kReservedDescriptors = 128;
}  // namespace

struct Server::Impl {
  ServerSetup setup;
  Logger logger;
  std::unique_ptr<storage::Database> database;
  DescriptorLimit descriptors;
  /// limits.max_request_memory: every call's buffers draw from it.
  std::shared_ptr<MemoryBudget> request_memory;
  // Flight SQL sessions: cookies, and the statements and transactions they hold open.
  std::shared_ptr<flight::sql::SessionStore> sql_cookies;
  std::unique_ptr<flight::sql::SessionRegistry> sql_sessions;
  // Declared before the front ends: they use these until they are destroyed.
  std::unique_ptr<auth::Authenticator> authenticator;
  std::unique_ptr<CallWatchdog> watchdog;
  std::unique_ptr<RequestLimiter> limiter;
  std::unique_ptr<ingest::StreamRouter> router;
  std::unique_ptr<ingest::IngestPipeline> ingest;
  std::unique_ptr<query::QueryPipeline> query;
  std::unique_ptr<http::TlsContext> tls;  // null: plaintext; outlives both listeners
  std::unique_ptr<arrow::flight::FlightServerBase> flight;
  std::unique_ptr<http::HttpGateway> http;
  std::mutex shutdown_mutex;  // guards shut_down
  bool shut_down = false;
  std::mutex reload_mutex;  // one reload at a time (watcher thread, Flight action)
  std::atomic<bool> stop_watcher{false};
  std::thread watcher;  // config file changes and SIGHUP -> ReloadConfig()

  explicit Impl(ServerSetup s)
      : setup(std::move(s)),
        logger(setup.config.log_format == "json" ? Logger::Format::kJson : Logger::Format::kText,
               Logger::ParseLevel(setup.config.log_level).value_or(Logger::Level::kInfo)) {}

  // Polls the config file's modification time and waits for SIGHUP (blocked in every
  // thread, so it is delivered here by sigtimedwait) to reload the routing; also runs the
  // periodic checkpoint when duckdb.checkpoint_interval_s is set.
  void WatchConfig() {
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    auto modified = ModifiedTime(setup.config_path);
    auto last_checkpoint = std::chrono::steady_clock::now();
    const auto interval = std::chrono::seconds(setup.config.checkpoint_interval_s);
    while (!stop_watcher) {
      if (interval.count() > 0 && std::chrono::steady_clock::now() - last_checkpoint >= interval) {
        last_checkpoint = std::chrono::steady_clock::now();
        auto st = database->Checkpoint();
        if (!st.ok()) logger.Warn("periodic checkpoint failed", {{"error", st.message()}});
      }
      timespec timeout{0, 500'000'000};
      const int signal = sigtimedwait(&hup, nullptr, &timeout);
      if (stop_watcher) break;
      const auto now = ModifiedTime(setup.config_path);
      if (signal == SIGHUP || now != modified) {
        modified = now;
        logger.Info(signal == SIGHUP ? "SIGHUP: reloading config" : "config file changed",
                    {{"file", setup.config_path}});
        (void)ReloadConfig();  // logs its own errors; the old config stays in force
      }
    }
  }

  static std::optional<std::filesystem::file_time_type> ModifiedTime(const std::string& path) {
    std::error_code ec;
    if (path.empty()) return std::nullopt;
    auto time = std::filesystem::last_write_time(path, ec);
    if (ec) return std::nullopt;
    return time;
  }

  // Never throws: it runs on the watcher thread, where an escaping exception would
  // terminate a server that is serving fine on its previous config.
  arrow::Status ReloadConfig() {
    std::lock_guard<std::mutex> lock(reload_mutex);
    try {
      return ReloadConfigLocked();
    } catch (const std::exception& e) {
      logger.Error("config reload rejected; previous config stays in force",
                   {{"error", e.what()}});
      return arrow::Status::UnknownError("config reload failed: ", e.what());
    }
  }

  arrow::Status ReloadConfigLocked() {
    if (setup.config_path.empty()) {
      return arrow::Status::Invalid("server was started without --config; nothing to reload");
    }
    auto fresh = config::Load(setup.config_path, setup.environ_entries, setup.overrides);
    if (!fresh.ok()) {
      logger.Error("config reload rejected; previous config stays in force",
                   {{"error", fresh.status().message()}});
      return fresh.status();
    }
    if (fresh->db_path != setup.config.db_path || fresh->flight.port != setup.config.flight.port ||
        fresh->http.port != setup.config.http.port || fresh->flight.host != setup.config.flight.host ||
        fresh->http.host != setup.config.http.host) {
      logger.Warn("config reload: database and listener settings apply at the next start; "
                  "stream routing applies now");
    }
    const auto& tls_now = setup.config.tls;
    if (fresh->tls.cert != tls_now.cert || fresh->tls.key != tls_now.key ||
        fresh->tls.client_ca != tls_now.client_ca) {
      logger.Warn("config reload: tls.* applies at the next start (certificates are loaded "
                  "once, at start)");
    }
    router->Update(*fresh);
    // Users, roles and passwords apply now (tokens of removed or changed users end);
    // turning authentication on or off needs a restart.
    authenticator->Reload(*fresh);
    if (config::AuthEnabled(*fresh) != authenticator->enabled()) {
      logger.Warn("config reload: turning authentication on or off applies at restart",
                  {{"auth", authenticator->enabled() ? "on" : "off"}});
    }
    logger.Info("config reloaded", {{"file", setup.config_path},
                                    {"streams", std::to_string(fresh->streams.size())}});
    return arrow::Status::OK();
  }

  // ---- start-up steps, in order (Server::Start) ----

  // Connections are capped from the descriptor limit, so that DuckDB always has files to
  // open: HTTP keeps its connection cap below it, gRPC's are closed past the ceiling.
  void ReserveFileDescriptors() {
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
    logger.Info("descriptors", {{"nofile", std::to_string(descriptors.limit)},
                                {"connection_ceiling", std::to_string(descriptors.ceiling)},
                                {"http_max_connections",
                                 std::to_string(config.http_max_connections)}});
  }

  arrow::Status OpenDatabase() {
    const auto& config = setup.config;
    storage::DatabaseOptions db_options;
    db_options.path = config.db_path;
    db_options.threads = config.duckdb_threads;
    db_options.memory_limit = config.duckdb_memory_limit;
    db_options.checkpoint_wal_bytes = config.checkpoint_wal_bytes;
    db_options.init_sql = config.duckdb_init_sql;
    for (const auto& extension : config.duckdb_extensions) {
      db_options.init_sql.insert(db_options.init_sql.begin(),
                                 storage::LoadExtensionSql(extension));
    }
    db_options.file_views.assign(config.views.begin(), config.views.end());
    db_options.max_query_memory = config.limits.max_query_memory;
    request_memory = MemoryBudget::Make(config.limits.max_request_memory > 0
                                            ? config.limits.max_request_memory
                                            : storage::DefaultRequestMemoryBytes());
    db_options.request_memory = request_memory;
    ARROW_ASSIGN_OR_RAISE(database, storage::Database::Open(db_options));
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
                 {"max_request_memory_mib", std::to_string(request_memory->capacity() >> 20)}});
    if (!database->direct_append_enabled()) {
      logger.Warn("DuckDB library differs from the one Arrowport was built against: "
                  "small appends use DuckDB's public appender (slower, same results)",
                  {{"duckdb", storage::Database::LibraryVersion()}});
    }
    return arrow::Status::OK();
  }

  arrow::Status MakeAuthenticator() {
    ARROW_ASSIGN_OR_RAISE(authenticator,
                          auth::Authenticator::Make(setup.config, &logger));
    return arrow::Status::OK();
  }

  // Authentication explicitly off on a non-loopback address: said at start and in
  // /readyz.
  std::string OpenBindWarning() const {
    const auto& config = setup.config;
    if (authenticator->enabled()) return "";
    for (const auto* host : {&config.flight.host, &config.http.host}) {
      if (!config::IsLoopback(*host)) {
        return "authentication is disabled (auth.enabled: false) on non-loopback "
               "address " +
               *host + ": anyone who can reach it has admin rights";
      }
    }
    return "";
  }

  void MakePipelines() {
    const auto& config = setup.config;
    watchdog = std::make_unique<CallWatchdog>();
    RequestLimiter::Options limits;
    limits.max_concurrent = config.limits.max_concurrent_requests;
    limits.max_concurrent_per_user = config.limits.max_concurrent_per_user;
    limits.requests_per_second_per_user =
        static_cast<double>(config.limits.requests_per_second_per_user);
    limits.burst_per_user = static_cast<double>(config.limits.request_burst_per_user);
    limiter = std::make_unique<RequestLimiter>(limits);
    router = std::make_unique<ingest::StreamRouter>(config);
    ingest = std::make_unique<ingest::IngestPipeline>(database.get(), router.get(),
                                                      config.limits.max_batch_bytes);
    query = std::make_unique<query::QueryPipeline>(database.get());
  }

  arrow::Status StartFlight() {
    const auto& config = setup.config;
    flight::FlightServiceDeps deps;
    deps.database = database.get();
    deps.ingest = ingest.get();
    deps.router = router.get();
    deps.query = query.get();
    deps.logger = &logger;
    deps.watchdog = watchdog.get();
    deps.limiter = limiter.get();
    deps.query_timeout_s = config.limits.query_timeout_s;
    deps.idle_timeout_s = config.limits.idle_timeout_s;
    deps.max_batch_bytes = config.limits.max_batch_bytes;
    deps.reload_config = [this] { return ReloadConfig(); };
    sql_cookies = flight::sql::SessionStore::Make();
    flight::sql::RegistryLimits sql_limits;
    sql_limits.statements_per_session = config.flight_sql_caps.statements_per_session;
    sql_limits.statements_total = config.flight_sql_caps.statements;
    sql_limits.transactions_per_session = config.flight_sql_caps.transactions_per_session;
    sql_limits.transactions_total = config.flight_sql_caps.transactions;
    sql_limits.held_bytes_total = config.flight_sql_caps.held_bytes;
    sql_limits.server_memory = request_memory;
    sql_sessions = std::make_unique<flight::sql::SessionRegistry>(
        sql_cookies, std::chrono::seconds(config.flight_sql_idle_timeout_s), sql_limits);
    deps.sql_sessions = sql_sessions.get();
    deps.sql_busy_timeout = std::chrono::milliseconds(config.flight_sql_busy_timeout_ms);
    deps.max_command_bytes = config.flight_max_query_bytes;
    deps.request_memory = request_memory;
    flight = flight::MakeFlightService(std::move(deps));

    ARROW_ASSIGN_OR_RAISE(auto location,
                          tls ? arrow::flight::Location::ForGrpcTls(config.flight.host,
                                                                    config.flight.port)
                              : arrow::flight::Location::ForGrpcTcp(config.flight.host,
                                                                    config.flight.port));
    arrow::flight::FlightServerOptions options(location);
    if (tls) {
      options.tls_certificates.push_back({tls->cert_pem(), tls->key_pem()});
      // gRPC then requires and verifies a client certificate signed by the CA.
      options.verify_client = tls->requires_client_certificate();
      options.root_certificates = tls->client_ca_pem();
    }
    // Flight SQL session cookies (ADBC, JDBC); calls that send none are not affected.
    // Registered under the middleware's own name: Flight SQL code looks it up by that key.
    options.middleware.emplace_back(arrow::flight::sql::ServerSessionMiddleware::kMiddlewareName,
                                    sql_cookies);
    // Authentication runs first: a call it refuses gets no session. Handshake answers
    // through the no-op handler (credentials travel in headers, not in its messages).
    options.middleware.insert(
        options.middleware.begin(),
        {flight::AuthMiddlewareFactory::kName,
         std::make_shared<flight::AuthMiddlewareFactory>(authenticator.get())});
    options.auth_handler = std::make_shared<arrow::flight::NoOpAuthHandler>();
    const int64_t max_batch_bytes = config.limits.max_batch_bytes;
    auto budget = request_memory;
    options.builder_hook = [max_batch_bytes, budget](void* raw_builder) {
      auto* builder = static_cast<grpc::ServerBuilder*>(raw_builder);
      // gRPC enables SO_REUSEPORT by default, which would let a second server "bind" a
      // port that is already in use; a port conflict must be an error at start instead.
      builder->AddChannelArgument("grpc.so_reuseport", 0);
      // gRPC reads a stream's data ahead of the handler up to its flow-control window,
      // which BDP probing grows without bound when no resource quota limits it: 4 MiB
      // per stream keeps what uploads hold in transit bounded (loopback DoPut measured
      // within 4% of the unbounded window).
      builder->AddChannelArgument("grpc.http2.lookahead_bytes", 4 << 20);
      builder->AddChannelArgument("grpc.http2.bdp_probe", 0);
      // A connection without a call for this long is closed (clients reconnect on their
      // next call): idle sockets do not hold descriptors for ever.
      builder->AddChannelArgument("grpc.max_connection_idle_ms", 5 * 60 * 1000);
      // gRPC buffers a whole message before anyone sees it: no message larger than one
      // batch (limits.max_batch_bytes) plus its header; and a compressed batch that would
      // decode to more than that is refused before Arrow decodes it.
      builder->SetMaxReceiveMessageSize(flight::MaxReceiveMessageSize(max_batch_bytes));
      std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
          creators;
      // Each received message, and what it decodes to, is charged to the server's memory
      // budget before gRPC receives it (gRPC's own ResourceQuota is not used: under
      // pressure its reclaimer crashes in gRPC 1.51).
      creators.push_back(flight::MakeMessageLimitsInterceptorFactory(max_batch_bytes, budget));
      // Rate-limited calls answer RESOURCE_EXHAUSTED, a code Arrow Flight lacks.
      creators.push_back(flight::MakeStatusCodeInterceptorFactory());
      builder->experimental().SetInterceptorCreators(std::move(creators));
    };
    auto st = flight->Init(options);
    if (!st.ok()) {
      return arrow::Status::IOError("cannot listen for Flight on ", config.flight.host, ":",
                                    config.flight.port, ": ", st.message());
    }
    return arrow::Status::OK();
  }

  arrow::Status StartHttp() {
    const auto& config = setup.config;
    http::HttpGatewayDeps deps;
    deps.ingest = ingest.get();
    deps.router = router.get();
    deps.query = query.get();
    deps.logger = &logger;
    deps.max_body_bytes = config.http_max_body_bytes;
    deps.max_query_bytes = config.http_max_query_bytes;
    deps.request_memory = request_memory;
    deps.compression_level = config.compression_level;
    deps.watchdog = watchdog.get();
    deps.limiter = limiter.get();
    deps.query_timeout_s = config.limits.query_timeout_s;
    deps.max_batch_bytes = config.limits.max_batch_bytes;
    deps.max_connections = config.http_max_connections;
    deps.header_timeout_s = config.http_header_timeout_s;
    deps.read_timeout_s = config.http_read_timeout_s;
    deps.authenticator = authenticator.get();
    deps.readyz_warning = OpenBindWarning();
    // An upload that sends nothing for limits.idle_timeout_s ends like a stalled body.
    if (config.limits.idle_timeout_s > 0) {
      deps.read_timeout_s = std::min(deps.read_timeout_s, config.limits.idle_timeout_s);
    }
    deps.tls = tls.get();
    ARROW_ASSIGN_OR_RAISE(http, http::HttpGateway::Start(deps, config.http.host,
                                                         config.http.port));
    return arrow::Status::OK();
  }

  void LogListening() {
    const auto& config = setup.config;
    for (const auto* host : {&config.flight.host, &config.http.host}) {
      if (!tls && *host != "127.0.0.1" && *host != "localhost" && *host != "::1") {
        logger.Warn("listening on a non-loopback address without TLS: credentials, tokens and "
                    "data travel in clear text", {{"host", *host}});
      }
    }
    const auto open = OpenBindWarning();
    if (!open.empty()) logger.Error("SECURITY WARNING: " + open);
    if (authenticator->enabled()) {
      logger.Info(
          "authentication on",
          {{"users", std::to_string(config.auth.users.size())},
           {"token_ttl_s", std::to_string(config.auth.token_ttl_s)},
           {"token_secret", authenticator->generated_secret()
                                ? "generated at start (tokens end with the process)"
                                : "configured"}});
    }
    if (tls && tls->certificate_expired()) {
      logger.Warn("tls.cert has expired: clients will refuse the connection",
                  {{"file", config.tls.cert}, {"expired", tls->certificate_expiry()}});
    }
    logger.Info("listening", {{"flight", FlightUri()},
                              {"http", HttpUri()},
                              {"tls", !tls ? "off"
                                      : tls->requires_client_certificate()
                                          ? "on, client certificates required"
                                          : "on"},
                              {"database", config.db_path}});
  }

  std::string FlightUri() const {
    return std::string(tls ? "grpc+tls://" : "grpc://") + setup.config.flight.host + ":" +
           std::to_string(flight->port());
  }

  std::string HttpUri() const {
    return std::string(tls ? "https://" : "http://") + setup.config.http.host + ":" +
           std::to_string(http->port());
  }

  // The config watcher (file changes, SIGHUP) and periodic checkpoints, when configured.
  void StartWatcher() {
    if (setup.config_path.empty() && setup.config.checkpoint_interval_s <= 0) return;
    watcher = std::thread([this] {
      // An exception must neither end the process (std::terminate) nor silently stop
      // reloads and checkpoints: log it and watch again.
      while (!stop_watcher) {
        try {
          WatchConfig();
        } catch (const std::exception& e) {
          logger.Error("config watcher failed; restarting it", {{"error", e.what()}});
          std::this_thread::sleep_for(std::chrono::seconds(1));  // no hot loop if it recurs
        }
      }
    });
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { (void)Shutdown(); }

arrow::Result<std::unique_ptr<Server>> Server::Start(ServerSetup setup) {
  // Block SIGHUP, SIGINT and SIGTERM before any thread exists (DuckDB, gRPC, HTTP workers
  // inherit the mask): the config watcher and ServeUntilSignal receive them synchronously
  // instead of through process-wide handlers.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto impl = std::make_unique<Impl>(std::move(setup));
  impl->ReserveFileDescriptors();
  if (!impl->setup.config.tls.cert.empty()) {
    ARROW_ASSIGN_OR_RAISE(impl->tls, http::TlsContext::Make(impl->setup.config.tls));
  }
  ARROW_RETURN_NOT_OK(impl->OpenDatabase());
  ARROW_RETURN_NOT_OK(impl->MakeAuthenticator());
  impl->MakePipelines();
  ARROW_RETURN_NOT_OK(impl->StartFlight());
  auto http = impl->StartHttp();
  if (!http.ok()) {
    (void)impl->flight->Shutdown();
    return http;
  }
  impl->LogListening();
  impl->StartWatcher();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

int Server::flight_port() const { return impl_->flight->port(); }

std::string Server::flight_uri() const { return impl_->FlightUri(); }

std::string Server::http_uri() const { return impl_->HttpUri(); }

std::string Server::ReadyLine() const {
  return "arrowport ready flight=" + flight_uri() + " http=" + http_uri();
}

arrow::Status Server::ServeUntilSignal() {
  // Not Flight's SetShutdownOnSignals: its shutdown waits for every open call without a
  // deadline, so an idle DoPut or an unread DoGet would keep the process alive forever.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  int signal = 0;
  while (sigwait(&stop, &signal) != 0) {
  }
  impl_->logger.Info("shutting down",
                     {{"signal", std::to_string(signal)},
                      {"grace_s", std::to_string(impl_->setup.config.limits.shutdown_grace_s)}});
  return Shutdown();
}

arrow::Status Server::Shutdown() {
  std::lock_guard<std::mutex> lock(impl_->shutdown_mutex);
  if (impl_->shut_down) return arrow::Status::OK();
  impl_->shut_down = true;
  impl_->stop_watcher = true;
  if (impl_->watcher.joinable()) impl_->watcher.join();
  // Stops accepting; in-flight calls get limits.shutdown_grace_s to finish, then every
  // call still open is cancelled (DuckDB interrupted, uncommitted work rolled back) so
  // the checkpoint below always runs.
  const auto grace = std::chrono::seconds(impl_->setup.config.limits.shutdown_grace_s);
  const auto deadline = std::chrono::system_clock::now() + grace;
  std::mutex done_mutex;
  std::condition_variable done_changed;
  bool done = false;
  std::thread canceller([&] {
    std::unique_lock<std::mutex> lock(done_mutex);
    if (!done_changed.wait_until(lock, deadline, [&] { return done; })) {
      lock.unlock();
      impl_->logger.Warn("shutdown grace period over: cancelling calls still open",
                         {{"calls", std::to_string(impl_->watchdog->size())}});
      impl_->watchdog->CancelAll(ShuttingDown("the server is shutting down"));
    }
  });
  if (impl_->http) impl_->http->Stop(deadline);
  auto st = impl_->flight->Shutdown(&deadline);
  (void)impl_->flight->Wait();
  {
    std::lock_guard<std::mutex> lock(done_mutex);
    done = true;
  }
  done_changed.notify_all();
  canceller.join();
  // Open Flight SQL transactions roll back; prepared statements are freed.
  if (impl_->sql_sessions) impl_->sql_sessions->Close();
  auto cp = impl_->database->Checkpoint();
  if (!cp.ok()) impl_->logger.Warn("checkpoint at shutdown failed", {{"error", cp.message()}});
  impl_->logger.Info("stopped", {{"database", impl_->setup.config.db_path}});
  return st;
}

}  // namespace arrowport::server
