#include "arrowport/flight/flight_service.h"

#include <arrow/flight/api.h>
#include <nlohmann/json.hpp>

#include <chrono>

#include "arrow/record_batch.h"
#include "arrowport/auth/access_policy.h"
#include "arrowport/common/call_context.h"
#include "arrowport/common/caller_key.h"
#include "arrowport/common/call_watchdog.h"
#include "arrowport/common/logger.h"
#include "arrowport/common/prefetching_reader.h"
#include "arrowport/common/request_limiter.h"
#include "arrowport/flight/auth_middleware.h"
#include "arrowport/flight/call_scope.h"
#include "arrowport/flight/flight_status.h"
#include "arrowport/flight/message_limits.h"
#include "arrowport/flight/sql/current_call.h"
#include "arrowport/flight/sql/flight_sql_access.h"
#include "arrowport/flight/sql/flight_sql_command.h"
#include "arrowport/flight/sql/flight_sql_service.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/storage/database.h"

namespace arrowport::flight {

namespace fl = arrow::flight;
using json = nlohmann::json;

namespace {

std::string TicketFor(const query::QueryRequest& request) {
  json doc;
  if (!request.table.empty()) {
    doc["table"] = request.table;
  } else {
    doc["sql"] = request.sql;
  }
  if (!request.parameters.empty()) doc["params"] = request.parameters;
  return doc.dump();
}

arrow::Result<query::QueryRequest> RequestFromDescriptor(const fl::FlightDescriptor& d) {
  if (d.type == fl::FlightDescriptor::PATH) {
    if (d.path.size() != 1) return arrow::Status::Invalid("descriptor path must be [table]");
    return query::ParseTicket(json{{"table", d.path[0]}}.dump());
  }
  return query::ParseTicket(d.cmd);
}

std::unique_ptr<fl::ResultStream> JsonResult(std::string body) {
  std::vector<fl::Result> results(1);
  results[0].body = arrow::Buffer::FromString(std::move(body));
  return std::make_unique<fl::SimpleResultStream>(std::move(results));
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// What reading `request` needs: a table read by name, or free SQL.
arrow::Status CheckRead(const Principal* principal, const query::QueryRequest& request) {
  if (!request.table.empty())
    return auth::AccessPolicy::ReadTable(principal, request.table);
  return auth::AccessPolicy::ReadSql(principal);
}

// What an action of ours needs: listing and health any role; changing the server admin.
arrow::Status CheckAction(const Principal* principal, const std::string& type) {
  if (type == "checkpoint" || type == "reload_config") {
    return auth::AccessPolicy::RequireRole(principal, Role::kAdmin, "run action " + type);
  }
  return arrow::Status::OK();
}

bool IsFlightSql(const fl::FlightDescriptor& descriptor) {
  return descriptor.type == fl::FlightDescriptor::CMD &&
         sql::IsFlightSqlCommand(descriptor.cmd);
}

class FlightService : public fl::FlightServerBase {
 public:
  explicit FlightService(FlightServiceDeps deps) : deps_(std::move(deps)) {
    if (deps_.sql_sessions != nullptr) {
      sql::FlightSqlDeps sql_deps;
      sql_deps.database = deps_.database;
      sql_deps.ingest = deps_.ingest;
      sql_deps.query = deps_.query;
      sql_deps.logger = deps_.logger;
      sql_deps.registry = deps_.sql_sessions;
      sql_ = std::make_unique<sql::FlightSqlService>(std::move(sql_deps));
    }
  }

  arrow::Status DoPut(const fl::ServerCallContext& context,
                      std::unique_ptr<fl::FlightMessageReader> reader,
                      std::unique_ptr<fl::FlightMetadataWriter> writer) override {
    const auto start = std::chrono::steady_clock::now();
    // Batches over limits.max_batch_bytes were refused before decoding: report why.
    // A DoPut that sends nothing for limits.idle_timeout_s is cancelled (its slot freed).
    reader = WithMessageLimits(std::move(reader), context,
                               {deps_.watchdog, std::chrono::seconds(deps_.idle_timeout_s), deps_.logger});
    const auto& descriptor = reader->descriptor();
    if (sql_ && IsFlightSql(descriptor)) {
      // Like our DoPut: an ingest or update gets no query deadline.
      return SqlCall("do_put", context, /*query=*/false, [&](CallScope& scope) {
        ARROW_RETURN_NOT_OK(sql::CheckFlightSqlCommand(descriptor.cmd));
        ARROW_RETURN_NOT_OK(sql::CheckCommandAccess(scope.context.principal.get(),
                                                    descriptor.cmd, /*put=*/true));
        return sql_->DoPut(context, std::move(reader), std::move(writer));
      });
    }
    auto request = ingest::ParseDescriptor(descriptor.type == fl::FlightDescriptor::PATH,
                                           descriptor.path, descriptor.cmd);
    if (!request.ok()) return LogFailure(context, "do_put", start, request.status(), {});
    auto allowed = auth::AccessPolicy::WriteStream(PrincipalOf(context).get(),
                                                   request->stream, request->table);
    if (!allowed.ok()) {
      return LogFailure(context, "do_put", start, allowed, {{"stream", request->stream}});
    }
    std::shared_ptr<fl::FlightMessageReader> shared(std::move(reader));
    auto batches = fl::MakeRecordBatchReader(shared);
    if (!batches.ok()) {
      return LogFailure(context, "do_put", start, batches.status(),
                        {{"stream", request->stream}});
    }
    auto ack = [&](int64_t index, int64_t rows) {
      const json doc = {{"batch", index}, {"rows", rows}, {"committed", true}};
      return writer->WriteMetadata(*arrow::Buffer::FromString(doc.dump()));
    };
    auto scope = BeginCall(context, /*query=*/false);
    if (!scope.ok()) {
      return LogFailure(context, "do_put", start, scope.status(),
                        {{"stream", request->stream}});
    }
    // The pipeline validates and reads ahead (network receive and IPC decoding included).
    auto source = std::make_shared<PutReader>(*batches, &context);
    auto result = deps_.ingest->Ingest(*request, source, ack, scope->context);
    if (!result.ok()) {
      return LogFailure(context, "do_put", start, result.status(),
                        {{"stream", request->stream}});
    }
    const json summary = {{"stream", result->stream},   {"table", result->table},
                          {"rows", result->rows},       {"batches", result->batches},
                          {"bytes", result->bytes},     {"seconds", result->seconds},
                          {"created", result->created}, {"committed", true},
                          {"duplicate", result->duplicate}};
    ARROW_RETURN_NOT_OK(writer->WriteMetadata(*arrow::Buffer::FromString(summary.dump())));
    deps_.logger->Info("request", {{"protocol", "flight"},
                                   {"method", "do_put"},
                                   {"user", UserOf(context)},
                                   {"stream", result->stream},
                                   {"table", result->table},
                                   {"rows", std::to_string(result->rows)},
                                   {"bytes", std::to_string(result->bytes)},
                                   {"seconds", std::to_string(SecondsSince(start))},
                                   {"status", "ok"}});
    return arrow::Status::OK();
  }

  arrow::Status DoGet(const fl::ServerCallContext& context, const fl::Ticket& ticket,
                      std::unique_ptr<fl::FlightDataStream>* stream) override {
    const auto start = std::chrono::steady_clock::now();
    if (sql_ && sql::IsFlightSqlCommand(ticket.ticket)) {
      return SqlCall("do_get", context, /*query=*/true, [&](CallScope& scope) {
        std::unique_ptr<fl::FlightDataStream> inner;
        ARROW_RETURN_NOT_OK(sql::CheckFlightSqlCommand(ticket.ticket));
        ARROW_RETURN_NOT_OK(sql::CheckCommandAccess(scope.context.principal.get(),
                                                    ticket.ticket, /*put=*/false));
        // Cancellable from before the query starts: an aggregate can run long first.
        auto running = deps_.sql_sessions->TrackRunning(
            ticket.ticket, scope.context.cancellation,
            sql::Owner::Of(sql_->CallerOf(context, /*create=*/false)));
        ARROW_RETURN_NOT_OK(sql_->DoGet(context, ticket, &inner));
        *stream = std::make_unique<ScopedDataStream>(std::move(inner), std::move(scope),
                                                     std::move(running));
        return arrow::Status::OK();
      });
    }
    auto request = query::ParseTicket(ticket.ticket);
    if (!request.ok()) return LogFailure(context, "do_get", start, request.status(), {});
    auto allowed = CheckRead(PrincipalOf(context).get(), *request);
    if (!allowed.ok())
      return LogFailure(context, "do_get", start, allowed, Target(*request));
    auto scope = BeginCall(context, /*query=*/true);
    if (!scope.ok())
      return LogFailure(context, "do_get", start, scope.status(), Target(*request));
    auto reader = deps_.query->Execute(*request, scope->context);
    if (!reader.ok())
      return LogFailure(context, "do_get", start, reader.status(), Target(*request));
    *stream = std::make_unique<fl::RecordBatchStream>(
        std::make_shared<ScopedReader>(*reader, std::move(*scope)));
    auto fields = Target(*request);
    fields.push_back({"protocol", "flight"});
    fields.push_back({"method", "do_get"});
    fields.push_back({"user", UserOf(context)});
    fields.push_back({"status", "streaming"});
    deps_.logger->Info("request", fields);
    return arrow::Status::OK();
  }

  arrow::Status GetFlightInfo(const fl::ServerCallContext& context,
                              const fl::FlightDescriptor& descriptor,
                              std::unique_ptr<fl::FlightInfo>* info) override {
    const auto start = std::chrono::steady_clock::now();
    if (sql_ && IsFlightSql(descriptor)) {
      // DDL/DML down the query path runs here: it gets a query's deadline.
      return SqlCall("get_flight_info", context, /*query=*/true, [&](CallScope& scope) {
        ARROW_RETURN_NOT_OK(sql::CheckFlightSqlCommand(descriptor.cmd));
        ARROW_RETURN_NOT_OK(sql::CheckCommandAccess(scope.context.principal.get(),
                                                    descriptor.cmd, /*put=*/false));
        return sql_->GetFlightInfo(context, descriptor, info);
      });
    }
    auto allowed = CheckDescriptor(context, descriptor);
    if (!allowed.ok()) return LogFailure(context, "get_flight_info", start, allowed, {});
    // Reads the catalog (and counts rows): admitted like the HTTP metadata routes.
    auto scope = BeginCall(context, /*query=*/true);
    if (!scope.ok()) return LogFailure(context, "get_flight_info", start, scope.status(), {});
    auto made = MakeInfo(descriptor, scope->context);
    if (!made.ok())
      return LogFailure(context, "get_flight_info", start, made.status(), {});
    *info = std::make_unique<fl::FlightInfo>(std::move(*made));
    return arrow::Status::OK();
  }

  arrow::Status GetSchema(const fl::ServerCallContext& context,
                          const fl::FlightDescriptor& descriptor,
                          std::unique_ptr<fl::SchemaResult>* result) override {
    const auto start = std::chrono::steady_clock::now();
    if (sql_ && IsFlightSql(descriptor)) {
      return SqlCall("get_schema", context, /*query=*/false, [&](CallScope& scope) {
        ARROW_RETURN_NOT_OK(sql::CheckFlightSqlCommand(descriptor.cmd));
        ARROW_RETURN_NOT_OK(sql::CheckCommandAccess(scope.context.principal.get(),
                                                    descriptor.cmd, /*put=*/false));
        return sql_->GetSchema(context, descriptor, result);
      });
    }
    auto request = RequestFromDescriptor(descriptor);
    if (!request.ok())
      return LogFailure(context, "get_schema", start, request.status(), {});
    auto allowed = CheckRead(PrincipalOf(context).get(), *request);
    if (!allowed.ok())
      return LogFailure(context, "get_schema", start, allowed, Target(*request));
    auto scope = BeginCall(context, /*query=*/true);
    if (!scope.ok())
      return LogFailure(context, "get_schema", start, scope.status(), Target(*request));
    auto schema = deps_.query->Describe(*request, scope->context);
    if (!schema.ok())
      return LogFailure(context, "get_schema", start, schema.status(), Target(*request));
    ARROW_ASSIGN_OR_RAISE(*result, fl::SchemaResult::Make(**schema));
    return arrow::Status::OK();
  }

  arrow::Status ListFlights(const fl::ServerCallContext& context, const fl::Criteria* criteria,
                            std::unique_ptr<fl::FlightListing>* listings) override {
    const auto start = std::chrono::steady_clock::now();
    auto scope = BeginCall(context, /*query=*/true);
    if (!scope.ok()) return LogFailure(context, "list_flights", start, scope.status(), {});
    ARROW_ASSIGN_OR_RAISE(auto relations, deps_.query->ListTables());
    std::vector<fl::FlightInfo> infos;
    const auto principal = PrincipalOf(context);
    for (const auto& relation : relations) {
      // A user limited to tables sees only those.
      if (!auth::AccessPolicy::ReadTable(principal.get(), relation.name).ok()) continue;
      auto info = MakeInfo(fl::FlightDescriptor::Path({relation.name}), scope->context,
                           relation.estimated_rows);
      if (!info.ok()) {
        // A view over missing files must not hide every other table.
        deps_.logger->Warn("list_flights: skipping relation",
                           {{"name", relation.name}, {"error", info.status().ToString()}});
        continue;
      }
      infos.push_back(std::move(*info));
    }
    *listings = std::make_unique<fl::SimpleFlightListing>(std::move(infos));
    return arrow::Status::OK();
  }

  arrow::Status ListActions(const fl::ServerCallContext& context,
                            std::vector<fl::ActionType>* actions) override {
    *actions = {
        {"health", "Server status: {\"status\": \"ok\", ...}"},
        {"list_streams", "Configured and active streams with routing and live counters"},
        {"checkpoint", "Flush DuckDB's WAL into the database file"},
        {"reload_config", "Re-read the configuration file; routing applies to new requests"},
    };
    if (sql_) {
      std::vector<fl::ActionType> sql_actions;
      ARROW_RETURN_NOT_OK(sql_->ListActions(context, &sql_actions));
      actions->insert(actions->end(), sql_actions.begin(), sql_actions.end());
    }
    return arrow::Status::OK();
  }

  arrow::Status DoAction(const fl::ServerCallContext& context, const fl::Action& action,
                         std::unique_ptr<fl::ResultStream>* result) override {
    const auto start = std::chrono::steady_clock::now();
    if (sql_ && sql::IsFlightSqlAction(action.type)) {
      return SqlCall("do_action", context, /*query=*/false, [&](CallScope& scope) {
        ARROW_RETURN_NOT_OK(
            sql::CheckActionAccess(scope.context.principal.get(), action.type));
        return sql_->DoAction(context, action, result);
      });
    }
    auto st = CheckAction(PrincipalOf(context).get(), action.type);
    if (st.ok()) st = RunAction(action, result);
    if (!st.ok())
      return LogFailure(context, "do_action", start, st, {{"action", action.type}});
    deps_.logger->Info("request", {{"protocol", "flight"},
                                   {"method", "do_action"},
                                   {"user", UserOf(context)},
                                   {"action", action.type},
                                   {"status", "ok"}});
    return arrow::Status::OK();
  }

 private:
  // Admits a call (limits.max_concurrent_requests, and the per-user limits counted against
  // the authenticated user or, without authentication, the client's address) and has the
  // watchdog cancel it when
  // the client cancels or its deadline passes (gRPC reports both as is_cancelled), when
  // a query outlives limits.query_timeout_s, or when the server stops.
  arrow::Result<CallScope> BeginCall(const fl::ServerCallContext& context, bool query) {
    CallScope scope;
    scope.context.principal = PrincipalOf(context);
    if (deps_.limiter) {
      ARROW_ASSIGN_OR_RAISE(scope.permit, deps_.limiter->TryAcquire(CallerKey(
                                              scope.context.principal.get(), context.peer())));
    }
    scope.context.protocol = "flight";
    scope.context.cancellation = CallCancellation::Make();
    // The context outlives the scope: both end with the call.
    scope.context.call_failed = [&context] { return context.is_cancelled(); };
    if (deps_.watchdog) {
      std::optional<CallWatchdog::Clock::time_point> deadline;
      if (query && deps_.query_timeout_s > 0) {
        deadline = CallWatchdog::Clock::now() + std::chrono::seconds(deps_.query_timeout_s);
      }
      scope.watch = deps_.watchdog->Add(scope.context.cancellation,
                                        scope.context.call_failed, deadline);
    }
    return scope;
  }

  // Runs one Flight SQL call: admitted and watched like every other call, its context
  // published to the Flight SQL handlers (CurrentCall), errors mapped and logged once.
  template <typename Fn>
  arrow::Status SqlCall(const char* method, const fl::ServerCallContext& context, bool query,
                        Fn&& fn) {
    const auto start = std::chrono::steady_clock::now();
    Logger::Fields fields = {{"api", "flight_sql"}};
    auto scope = BeginCall(context, query);
    if (!scope.ok()) return LogFailure(context, method, start, scope.status(), fields);
    arrow::Status st;
    {
      sql::CurrentCall current(&scope->context);
      st = fn(*scope);
    }
    if (!st.ok()) return LogFailure(context, method, start, st, fields);
    deps_.logger->Info("request", {{"protocol", "flight"},
                                   {"api", "flight_sql"},
                                   {"user", UserOf(context)},
                                   {"method", method},
                                   {"seconds", std::to_string(SecondsSince(start))},
                                   {"status", "ok"}});
    return arrow::Status::OK();
  }

  arrow::Status RunAction(const fl::Action& action, std::unique_ptr<fl::ResultStream>* result) {
    if (action.type == "health") {
      *result = JsonResult(json{{"status", "ok"}, {"database", deps_.database->path()},
                                {"version", ARROWPORT_VERSION}}.dump());
      return arrow::Status::OK();
    }
    if (action.type == "checkpoint") {
      ARROW_RETURN_NOT_OK(deps_.database->Checkpoint());
      *result = JsonResult(R"({"status": "ok"})");
      return arrow::Status::OK();
    }
    if (action.type == "list_streams") {
      *result = JsonResult(ingest::StreamsJson(*deps_.router));
      return arrow::Status::OK();
    }
    if (action.type == "reload_config") {
      if (!deps_.reload_config) return arrow::Status::Invalid("server has no config file to reload");
      ARROW_RETURN_NOT_OK(deps_.reload_config());
      *result = JsonResult(R"({"status": "ok"})");
      return arrow::Status::OK();
    }
    return arrow::Status::NotImplemented("unknown action '", action.type,
                                         "' (known: health, list_streams, checkpoint, "
                                         "reload_config)");
  }

  // The SQL sandbox judges the descriptor's SQL for the caller in `call`.
  arrow::Result<fl::FlightInfo> MakeInfo(const fl::FlightDescriptor& descriptor,
                                         const CallContext& call, int64_t known_rows = -1) {
    ARROW_ASSIGN_OR_RAISE(auto request, RequestFromDescriptor(descriptor));
    ARROW_ASSIGN_OR_RAISE(auto schema, deps_.query->Describe(request, call));
    int64_t rows = known_rows;
    if (rows < 0 && !request.table.empty()) {
      auto counted = deps_.query->CountRows(request.table);
      if (counted.ok()) rows = *counted;
    }
    fl::FlightEndpoint endpoint;
    endpoint.ticket.ticket = TicketFor(request);
    return fl::FlightInfo::Make(*schema, descriptor, {endpoint}, rows, -1, /*ordered=*/true);
  }

  static Logger::Fields Target(const query::QueryRequest& request) {
    if (!request.table.empty()) return {{"table", request.table}};
    return {{"sql", request.sql.substr(0, 200)}};
  }

  // A GetFlightInfo/GetSchema descriptor of ours names a table or carries SQL.
  arrow::Status CheckDescriptor(const fl::ServerCallContext& context,
                                const fl::FlightDescriptor& descriptor) {
    ARROW_ASSIGN_OR_RAISE(auto request, RequestFromDescriptor(descriptor));
    return CheckRead(PrincipalOf(context).get(), request);
  }

  static std::string UserOf(const fl::ServerCallContext& context) {
    auto principal = PrincipalOf(context);
    return principal ? principal->user : "-";
  }

  arrow::Status LogFailure(const fl::ServerCallContext& context, const char* method,
                           std::chrono::steady_clock::time_point start,
                           const arrow::Status& status, Logger::Fields fields) {
    fields.insert(
        fields.begin(),
        {{"protocol", "flight"}, {"method", method}, {"user", UserOf(context)}});
    fields.push_back({"seconds", std::to_string(SecondsSince(start))});
    fields.push_back({"status", status.CodeAsString()});
    fields.push_back({"error", status.message()});
    deps_.logger->Warn("request failed", fields);
    return ToFlightStatus(status);
  }

  FlightServiceDeps deps_;
  std::unique_ptr<sql::FlightSqlService> sql_;  // null when Flight SQL is off
};

}  // namespace

std::unique_ptr<fl::FlightServerBase> MakeFlightService(FlightServiceDeps deps) {
  return std::make_unique<FlightService>(std::move(deps));
}

}  // namespace arrowport::flight
