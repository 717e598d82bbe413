#include "arrowport/flight/actions.h"

#include <nlohmann/json.hpp>

#include "arrowport/auth/access_policy.h"
#include "arrowport/common/memory_budget.h"
#include "arrowport/flight/call_runner.h"
#include "arrowport/flight/flight_service_deps.h"
#include "arrowport/flight/message_limits.h"
#include "arrowport/flight/progress_stream.h"
#include "arrowport/flight/query_progress.h"
#include "arrowport/flight/sql/session_registry.h"
#include "arrowport/flight/transfer.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/common/version.h"

namespace arrowport::flight {

namespace fl = arrow::flight;
using json = nlohmann::json;

namespace {

// A copy_from body with "progress": true (CopyFrom checks the body whole).
bool WantsProgress(const std::string& body) {
  auto doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  return doc.is_object() && doc.contains("progress") && doc["progress"].is_boolean() &&
         doc["progress"].get<bool>();
}

std::unique_ptr<fl::ResultStream> JsonResult(std::string body) {
  std::vector<fl::Result> results(1);
  results[0].body = arrow::Buffer::FromString(std::move(body));
  return std::make_unique<fl::SimpleResultStream>(std::move(results));
}

}  // namespace

std::vector<fl::ActionType> OurActions() {
  return {
      {"health", "Server status: {\"status\": \"ok\", ...}"},
      {"status", "What the status page shows: listeners, streams with live rates, tables, "
                 "active calls, recent errors (JSON)"},
      {"list_streams", "Configured and active streams with routing and live counters"},
      {"query_progress", "How far the caller's DoGet sent with the header "
                         "x-arrowport-progress-key: KEY has come, body {\"key\": KEY}: "
                         "{\"running\": true, \"percent\": 42.5, \"rows\": 0} (DuckDB's "
                         "estimate; null before it has one)"},
      {"checkpoint", "Flush DuckDB's WAL into the database file"},
      {"reload_config", "Re-read the configuration file; routing applies to new requests"},
      {"copy_from", "Pull a table, query or raw ticket from another Flight server into a "
                    "local table (admin; transfer.allowed_peers)"},
      {"copy_to", "Push a local table or query to another server's DoPut (admin; "
                  "transfer.allowed_peers)"},
      {"backup", "A consistent copy of the database with its manifest, body {\"to\": "
                 "\"PATH|s3://bucket/prefix\"} (admin; default backup.to)"},
  };
}

namespace {

// Changing the server, copying it out or reaching out of it: admins.
bool IsAdminAction(const std::string& type) {
  return type == "checkpoint" || type == "reload_config" || type == "copy_from" ||
         type == "copy_to" || type == "backup";
}

// The backup action: body {"to": "PATH|s3://bucket/prefix"} (empty or none: backup.to).
arrow::Status RunBackup(const FlightServiceDeps& deps, const fl::Action& action,
                        const CallContext& call, std::unique_ptr<fl::ResultStream>* result) {
  if (!deps.backup) return arrow::Status::NotImplemented("this server makes no backups");
  std::string to;
  const std::string body = action.body ? action.body->ToString() : "";
  if (!body.empty()) {
    auto doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object() || (doc.contains("to") && !doc["to"].is_string())) {
      return arrow::Status::Invalid(
          "backup: the body must be a JSON object {\"to\": \"PATH|s3://bucket/prefix\"}");
    }
    if (doc.contains("to")) to = doc["to"].get<std::string>();
  }
  ARROW_ASSIGN_OR_RAISE(auto summary, deps.backup(to, call.cancellation));
  *result = JsonResult(std::move(summary));
  return arrow::Status::OK();
}

// The health action's answer as `caller` may see it.
std::string HealthFor(const Principal* caller, std::string health,
                      const std::string& storage_without_details,
                      const std::string& lake_without_details) {
  if (caller == nullptr || caller->IsAdmin()) return health;
  auto doc = json::parse(health, nullptr, false);
  if (!doc.is_object()) return health;
  // The database file's path, and the checkpointer's last error (which names files),
  // name the server's own state on disk: admins only. A user limited to some tables or
  // streams sees no server-wide figures at all, as for /metrics and /status.
  doc.erase("database");
  if (doc.contains("checkpointer") && doc["checkpointer"].is_object()) {
    doc["checkpointer"].erase("last_error");
  }
  if (doc.contains("storage") && doc["storage"].is_object()) {
    doc["storage"] = json::parse(storage_without_details, nullptr, false);
  }
  // The lake's upkeep errors name stores (URLs, paths): the state and counts only.
  if (doc.contains("lake") && doc["lake"].is_object()) {
    auto lake = json::parse(lake_without_details, nullptr, false);
    if (lake.is_object()) {
      doc["lake"] = std::move(lake);
    } else {
      doc.erase("lake");
    }
  }
  if (!caller->tables.empty() || !caller->streams.empty()) {
    // The storage's state stays in `status`.
    for (const char* key :
         {"duckdb", "memory", "checkpointer", "flight_sql", "storage", "lake"}) {
      doc.erase(key);
    }
  }
  return doc.dump();
}

}  // namespace

arrow::Status RunAction(const FlightServiceDeps& deps, const fl::Action& action,
                        CallScope& scope, CallRecord* record,
                        std::unique_ptr<fl::ResultStream>* result,
                        QueryProgressRegistry* progress) {
  const CallContext& call = scope.context;
  const std::string& type = action.type;
  // Listing and health any role; changing the server or reaching out of it: admins.
  if (IsAdminAction(type)) {
    ARROW_RETURN_NOT_OK(auth::AccessPolicy::RequireRole(call.principal.get(), Role::kAdmin,
                                                        "run action " + type));
  }
  if (type == "health") {
    ARROW_ASSIGN_OR_RAISE(auto health, HealthJson(deps));
    *result = JsonResult(HealthFor(
        call.principal.get(), std::move(health),
        deps.database.StorageSummaryJson(),
        deps.lake_health ? deps.lake_health(/*with_details=*/false) : std::string()));
    return arrow::Status::OK();
  }
  if (type == "status") {
    if (!deps.status_json) return arrow::Status::NotImplemented("no status report");
    ARROW_ASSIGN_OR_RAISE(auto status, deps.status_json(call.principal.get()));
    *result = JsonResult(std::move(status));
    return arrow::Status::OK();
  }
  if (type == "query_progress") {
    const std::string user = call.principal ? call.principal->user : "";
    const std::string body = action.body ? action.body->ToString() : "";
    ARROW_ASSIGN_OR_RAISE(auto answer, progress->Answer(user, body));
    *result = JsonResult(std::move(answer));
    return arrow::Status::OK();
  }
  if (type == "checkpoint") {
    ARROW_RETURN_NOT_OK(deps.database.Checkpoint());
    *result = JsonResult(R"({"status": "ok"})");
    return arrow::Status::OK();
  }
  if (type == "backup") return RunBackup(deps, action, call, result);
  if (type == "list_streams") {
    const Principal* principal = call.principal.get();
    *result = JsonResult(ingest::StreamsJson(
        *deps.router, principal == nullptr || principal->IsAdmin(),
        [principal](const std::string& stream, const std::string& table) {
          return auth::AccessPolicy::SeesStream(principal, stream, table);
        }));
    return arrow::Status::OK();
  }
  if (type == "reload_config") {
    if (!deps.reload_config) return arrow::Status::Invalid("server has no config file to reload");
    ARROW_RETURN_NOT_OK(deps.reload_config());
    *result = JsonResult(R"({"status": "ok"})");
    return arrow::Status::OK();
  }
  if (type == "copy_from" || type == "copy_to") {
    if (deps.transfer == nullptr) return arrow::Status::NotImplemented("no transfer policy");
    const std::string body = action.body ? action.body->ToString() : "";
    TransferDeps transfer{deps.ingest, deps.query, deps.transfer,
                          MaxReceiveMessageSize(deps.max_batch_bytes),
                          deps.query_timeout_s, deps.watchdog};
    if (type == "copy_from" && WantsProgress(body)) {
      // The copy runs on beside its result stream, which reports the rows received.
      record->outcome = "streaming";
      *result = std::make_unique<ProgressResultStream>(
          std::move(scope), [transfer, body](const CallContext& copying) {
            CallRecord fields;  // the call's log line was written when the stream began
            return CopyFrom(transfer, body, copying, &fields);
          });
      return arrow::Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(auto summary, type == "copy_from"
                                            ? CopyFrom(transfer, body, call, record)
                                            : CopyTo(transfer, body, call, record));
    *result = JsonResult(std::move(summary));
    return arrow::Status::OK();
  }
  return arrow::Status::NotImplemented("unknown action '", type,
                                       "' (known: health, status, list_streams, checkpoint, "
                                       "reload_config, copy_from, copy_to, backup)");
}

arrow::Result<std::string> HealthJson(const FlightServiceDeps& deps) {
  const query::DatabaseReport report = deps.database.Report();
  json storage = json::parse(report.storage_json, nullptr, false);
  json memory = {{"duckdb_held", report.duckdb_held}, {"duckdb_budget", report.duckdb_budget}};
  if (deps.request_memory) {
    memory["requests_held"] = deps.request_memory->used();
    memory["requests_peak"] = deps.request_memory->peak();
    memory["requests_budget"] = deps.request_memory->capacity();
  }
  json flight_sql = json::object();
  if (deps.sql_sessions) {
    flight_sql = {{"open_statements", deps.sql_sessions->open_statements()},
                  {"open_transactions", deps.sql_sessions->open_transactions()}};
  }
  json duckdb = nullptr;
  if (report.settings) {
    duckdb = {{"threads", report.settings->threads},
              {"memory_limit", report.settings->memory_limit},
              {"external_access", report.settings->external_access}};
  }
  json out = {{"status", report.state},
              {"database", report.path},
              {"version", arrowport::Version()},
              {"duckdb", duckdb},
              {"memory", memory},
              {"checkpointer",
               {{"failures_in_a_row", report.checkpoint_failures_in_a_row},
                {"last_error", report.checkpoint_last_error}}},
              {"storage", storage},
              {"flight_sql", flight_sql}};
  // Lake upkeep that fails (a full store, one that errs) is said here, not only logged.
  const std::string lake =
      deps.lake_health ? deps.lake_health(/*with_details=*/true) : std::string();
  auto parsed = json::parse(lake, nullptr, false);
  if (parsed.is_object()) out["lake"] = std::move(parsed);
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace arrowport::flight
