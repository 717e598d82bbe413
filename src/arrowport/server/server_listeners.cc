// Server::Impl's listeners: the ports checked before the database opens, the Flight
// service and its gRPC server, the HTTP gateway, and what the server says it listens on.
#include <grpc/grpc.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/server_interceptor.h>

#include <algorithm>
#include <functional>

#include "arrow/util/uri.h"

#include "arrowport/flight/auth_middleware.h"
#include "arrowport/flight/flight_service.h"
#include "arrowport/flight/message_limits.h"
#include "arrowport/flight/status_code_interceptor.h"
#include "arrowport/server/lake_health.h"
#include "arrowport/server/port_check.h"
#include "arrowport/server/server_impl.h"
#include "arrowport/storage/database/storage_health.h"

namespace arrowport::server {

namespace {

// gRPC's settings for the Flight listener: ports, flow control, idle connections,
// handshakes, message sizes and the interceptors that charge and map each call.
std::function<void(void*)> GrpcBuilderHook(
    int64_t max_batch_bytes, int64_t handshake_ms, std::shared_ptr<MemoryBudget> budget,
    std::function<void(const flight::UnhandledFailure&)> report_unhandled) {
  return [max_batch_bytes, handshake_ms, budget, report_unhandled](void* raw_builder) {
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
    // A connection that has not finished its TLS handshake and sent its HTTP/2 settings
    // by then is closed (gRPC's default waits 120 s): stalled handshakes do not pile up.
    builder->AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                                static_cast<int>(handshake_ms));
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
    // Rate-limited calls answer RESOURCE_EXHAUSTED, a code Arrow Flight lacks; a call
    // that failed before any handler took it is logged and counted.
    creators.push_back(flight::MakeStatusCodeInterceptorFactory(report_unhandled));
    builder->experimental().SetInterceptorCreators(std::move(creators));
  };
}

}  // namespace

std::vector<const std::string*> Server::Impl::BoundHosts() const {
  const auto& config = setup.config;
  std::vector<const std::string*> hosts = {&config.flight.host, &config.http.host};
  if (config.metrics.port && config.metrics.enabled) hosts.push_back(&config.metrics.host);
  return hosts;
}

std::string Server::Impl::OpenBindWarning() const {
  if (authenticator->enabled()) return "";
  for (const auto* host : BoundHosts()) {
    if (!config::IsLoopback(*host)) {
      // Bracketed, so that "::" does not run into the colon after it.
      return "authentication is disabled (auth.enabled: false) on non-loopback address " +
             arrow::util::UriEncodeHost(*host) +
             ": anyone who can reach it has admin rights";
    }
  }
  return "";
}

void Server::Impl::MakeFlight() {
  const auto& config = setup.config;
  flight::FlightServiceDeps deps;
  deps.database = query::DatabaseControl(database.get());
  deps.ingest = ingest.get();
  deps.cluster = cluster.get();
  deps.router = router.get();
  deps.query = query.get();
  deps.logger = &logger;
  deps.watchdog = watchdog.get();
  deps.limiter = limiter.get();
  deps.query_timeout_s = config.limits.query_timeout_s;
  deps.write_stall_timeout_s = config.limits.write_stall_timeout_s;
  deps.idle_timeout_s = config.limits.idle_timeout_s;
  deps.max_batch_bytes = config.limits.max_batch_bytes;
  deps.reload_config = [this] { return ReloadConfig(); };
  deps.transfer = transfer.get();
  sql_cookies = flight::sql::SessionStore::Make();
  flight::sql::RegistryLimits sql_limits;
  sql_limits.statements_per_session = config.flight_sql_caps.statements_per_session;
  sql_limits.statements_total = config.flight_sql_caps.statements;
  sql_limits.transactions_per_session = config.flight_sql_caps.transactions_per_session;
  sql_limits.transactions_total = config.flight_sql_caps.transactions;
  sql_limits.held_bytes_total = config.flight_sql_caps.held_bytes;
  // Signed-in users each get a quarter of every server-wide cap (a reader opening
  // statements or transactions in a loop locked the admin out); one anonymous user all.
  sql_limits.per_user_divisor = authenticator->enabled() ? 4 : 0;
  sql_limits.server_memory = request_memory;
  flight::sql::HeldTransactions held_back;
  held_back.idle_timeout = std::chrono::seconds(config.flight_sql_held_transaction_timeout_s);
  held_back.checkpoint_waits = [db = database.get()] { return db->CheckpointWaits(); };
  held_back.on_rolled_back = [this, db = database.get()](flight::sql::EndedEarly why,
                                                         const std::string& detail) {
    if (why == flight::sql::EndedEarly::kForWriter) {
      logger.Warn("idle transaction rolled back: another writer waited for it",
                  {{"detail", detail}});
      return;
    }
    logger.Warn("idle transaction rolled back: the checkpoint waited for it",
                {{"detail", detail}});
    db->CheckpointSoon();
  };
  held_back.database_reopening = [db = database.get()] { return db->Health().reopening; };
  sql_sessions = std::make_unique<flight::sql::SessionRegistry>(
      sql_cookies, std::chrono::seconds(config.flight_sql_idle_timeout_s), sql_limits,
      std::move(held_back));
  deps.sql_sessions = sql_sessions.get();
  deps.sql_busy_timeout = std::chrono::milliseconds(config.flight_sql_busy_timeout_ms);
  deps.max_command_bytes = config.flight_max_query_bytes;
  deps.request_memory = request_memory;
  deps.metrics = metrics.get();
  deps.status_json = [this](const Principal* caller) { return StatusJson(caller); };
  deps.lake_health = [this](bool with_details) {
    return lake_service ? LakeHealthJson(lake_service->figures(), with_details) : "";
  };
  deps.backup = BackupCall();
  flight = flight::MakeFlightService(std::move(deps));
}

arrow::Result<arrow::flight::FlightServerOptions> Server::Impl::FlightOptions() {
  const auto& config = setup.config;
  // Location joins host and port as they are: an IPv6 address needs its brackets first
  // ("grpc+tcp://[::]:8815", not "grpc+tcp://:::8815").
  const std::string host = arrow::util::UriEncodeHost(config.flight.host);
  const int port = config.flight.port;
  using arrow::flight::Location;
  ARROW_ASSIGN_OR_RAISE(auto location,
                        tls ? Location::ForGrpcTls(host, port)
                            : Location::ForGrpcTcp(host, port));
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
  // A call Arrow or gRPC failed before any handler (a DoPut whose first message is not
  // Flight's) is logged and counted as a handled call is.
  auto report_unhandled = [logger = &logger,
                           metrics = metrics.get()](const flight::UnhandledFailure& failure) {
    if (!failure.logged) {
      logger->Warn("request failed", {{"protocol", "flight"},
                                      {"method", failure.method},
                                      {"user", "-"},
                                      {"peer", failure.peer},
                                      {"status", failure.code},
                                      {"error", failure.message}});
    }
    if (metrics != nullptr) {
      metrics->BeginCall("flight", failure.method, "-").SetOutcome(failure.code,
                                                                   failure.message);
    }
  };
  options.builder_hook = GrpcBuilderHook(config.limits.max_batch_bytes,
                                         config.flight_handshake_timeout_s * 1000,
                                         request_memory, std::move(report_unhandled));
  return options;
}

arrow::Status Server::Impl::StartFlight() {
  const auto& config = setup.config;
  MakeFlight();
  ARROW_ASSIGN_OR_RAISE(auto options, FlightOptions());
  auto st = flight->Init(options);
  if (!st.ok()) {
    // Taken since CheckPorts (gRPC says only "Server did not start properly").
    ARROW_RETURN_NOT_OK(CheckPortFree(config.flight.host, config.flight.port,
                                      kFlightPortSetting));
    return arrow::Status::IOError("cannot listen for Flight on ",
                                  arrow::util::UriEncodeHost(config.flight.host), ":",
                                  config.flight.port, ": ", st.message());
  }
  // gRPC's accept loop has no per-peer control: the process's accept hook closes a
  // connection from an address over its share as it is accepted.
  if (const int64_t share = PerAddressShare(descriptors.ceiling); share > 0) {
    flight_address_cap = std::make_unique<AddressCap>(flight->port(), share);
  }
  return arrow::Status::OK();
}

arrow::Status Server::Impl::StartHttp() {
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
  deps.compression = config.http_compression == "always"  ? http::CompressionRule::kAlways
                     : config.http_compression == "never" ? http::CompressionRule::kNever
                                                          : http::CompressionRule::kAuto;
  deps.watchdog = watchdog.get();
  deps.limiter = limiter.get();
  deps.query_timeout_s = config.limits.query_timeout_s;
  deps.max_batch_bytes = config.limits.max_batch_bytes;
  deps.max_connections = config.http_max_connections;
  deps.max_connections_per_address = PerAddressShare(config.http_max_connections);
  deps.header_timeout_s = config.http_header_timeout_s;
  deps.read_timeout_s = config.http_read_timeout_s;
  deps.write_stall_timeout_s = config.limits.write_stall_timeout_s;
  deps.authenticator = authenticator.get();
  deps.readyz_warning = OpenBindWarning();
  // An upload that sends nothing for limits.idle_timeout_s ends like a stalled body.
  if (config.limits.idle_timeout_s > 0) {
    deps.read_timeout_s = std::min(deps.read_timeout_s, config.limits.idle_timeout_s);
  }
  deps.tls = tls.get();
  deps.metrics = metrics.get();
  deps.status_json = [this](const Principal* caller) { return StatusJson(caller); };
  deps.storage_health = [this](bool with_details) {
    return storage::StorageHealthJson(database->Health(), with_details);
  };
  deps.lake_health = [this](bool with_details) {
    return lake_service ? LakeHealthJson(lake_service->figures(), with_details) : "";
  };
  deps.backup = BackupCall();
  deps.backup_health = [this](bool with_details) {
    return backups ? backups->OutcomeJson(with_details) : "";
  };
  auto started = http::HttpGateway::Start(deps, config.http.host, config.http.port);
  if (!started.ok()) {
    ARROW_RETURN_NOT_OK(CheckPortFree(config.http.host, config.http.port, kHttpPortSetting));
    return started.status();
  }
  http = std::move(*started);
  return arrow::Status::OK();
}

arrow::Status Server::Impl::CheckPorts() const {
  const auto& config = setup.config;
  if (config.flight.port > 0 && config.flight.port == config.http.port) {
    return arrow::Status::Invalid("flight.port and http.port are both ", config.flight.port,
                                  ": give each its own (--flight-port, --http-port)");
  }
  ARROW_RETURN_NOT_OK(CheckPortFree(config.flight.host, config.flight.port, kFlightPortSetting));
  ARROW_RETURN_NOT_OK(CheckPortFree(config.http.host, config.http.port, kHttpPortSetting));
  if (config.metrics.port && config.metrics.enabled) {
    ARROW_RETURN_NOT_OK(
        CheckPortFree(config.metrics.host, *config.metrics.port, kMetricsPortSetting));
  }
  return arrow::Status::OK();
}

void Server::Impl::LogListening() {
  const auto& config = setup.config;
  for (const auto* host : BoundHosts()) {
    if (!tls && !config::IsLoopback(*host)) {
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
                            {"metrics", metrics ? MetricsScrapeUrl() : std::string("off")},
                            {"tls", !tls ? "off"
                                    : tls->requires_client_certificate()
                                        ? "on, client certificates required"
                                        : "on"},
                            {"database", config.db_path}});
}

std::string Server::Impl::Url(const char* scheme, const std::string& host, int port) {
  // An IPv6 address in a URL is written in brackets ("http://[::1]:8888"); config::Load
  // has taken off any the user wrote. A wildcard stays as bound (0.0.0.0, [::]): Linux
  // connects either to this host, so the ready line is dialable as it is.
  return std::string(scheme) + "://" + arrow::util::UriEncodeHost(host) + ":" +
         std::to_string(port);
}

std::string Server::Impl::FlightUri() const {
  if (!flight) return "";
  return Url(tls ? "grpc+tls" : "grpc", setup.config.flight.host, flight->port());
}

std::string Server::Impl::HttpUri() const {
  if (!http) return "";
  return Url(tls ? "https" : "http", setup.config.http.host, http->port());
}

std::function<arrow::Result<std::string>(const std::string&,
                                         const std::shared_ptr<CallCancellation>&)>
Server::Impl::BackupCall() {
  return [this](const std::string& destination,
                const std::shared_ptr<CallCancellation>& cancellation)
             -> arrow::Result<std::string> {
    const std::string to = destination.empty() ? setup.config.backup.to : destination;
    ARROW_ASSIGN_OR_RAISE(auto manifest, backups->Run(to, cancellation));  // logged there
    return query::BackupSummaryJson(manifest, to);
  };
}

}  // namespace arrowport::server
