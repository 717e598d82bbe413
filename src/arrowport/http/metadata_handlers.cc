#include "arrowport/http/metadata_handlers.h"

#include <nlohmann/json.hpp>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrow/type.h"
#include "arrowport/auth/access_policy.h"
#include "arrowport/auth/authenticator.h"
#include "arrowport/common/identifier.h"
#include "arrowport/http/gateway_context.h"
#include "arrowport/http/http_authorizer.h"
#include "arrowport/http/http_responses.h"
#include "arrowport/http/openapi.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/query/query_pipeline.h"

namespace arrowport::http {

using json = nlohmann::json;

namespace {

// The storage's state as /healthz and /readyz show it: without paths or DuckDB's errors
// when authentication is on (anyone may call these two).
json StorageHealth(const GatewayContext& ctx) {
  if (!ctx.deps().storage_health) return json();
  const bool open = ctx.deps().authenticator == nullptr || !ctx.deps().authenticator->enabled();
  return json::parse(ctx.deps().storage_health(open), nullptr, false);
}

void Ready(const GatewayContext& ctx, httplib::Response& res) {
  query::QueryRequest probe;
  probe.sql = "SELECT 1";
  auto call = ctx.BeginCall(res, /*query=*/true);
  if (!call.ok()) return SendStatus(res, call.status());
  // The server's own probe: admitted like a call, not counted as a client's query.
  CallContext probing = (*call)->context();
  probing.protocol.clear();
  auto reader = ctx.deps().query->Execute(probe, probing);
  auto table = reader.ok() ? (*reader)->ToTable() : reader.status();
  const json storage = StorageHealth(ctx);
  if (!table.ok()) {
    // While the database is reopened (after DuckDB invalidated it) the probe is refused:
    // say so, with the storage's state.
    json body = {{"error", {{"code", "unavailable"}, {"message", table.status().message()}}}};
    if (!storage.is_null()) body["storage"] = storage;
    return SendJson(res, 503, body.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  json body = {{"status", "ready"}};
  if (!ctx.deps().readyz_warning.empty()) body["warning"] = ctx.deps().readyz_warning;
  if (!storage.is_null()) {
    body["storage"] = storage;
    // Ready for reads; writes wait for disk space (or a restart: the file is gone).
    const std::string state = storage.value("state", "");
    if (state == "disk_full" || state == "file_gone") {
      body["writes"] = storage.value("summary", "disk full");
    }
  }
  SendJson(res, 200, body.dump());
}

void ListTables(const GatewayContext& ctx, httplib::Response& res) {
  auto call = ctx.BeginCall(res, /*query=*/true);
  if (!call.ok()) return SendStatus(res, call.status());
  auto* query = ctx.deps().query;
  auto tables = query->ListTables();
  if (!tables.ok()) return SendStatus(res, tables.status());
  json out = json::array();
  for (const auto& t : *tables) {
    // A user limited to tables sees only those.
    if (!HttpAuthorizer::ReadTable(res, t.name).ok()) continue;
    query::QueryRequest request;
    request.table = t.name;
    json columns = json::array();
    auto schema = query->Describe(request, (*call)->context());
    if (schema.ok()) {
      for (const auto& f : (*schema)->fields()) {
        columns.push_back({{"name", f->name()}, {"type", f->type()->ToString()}});
      }
    }
    out.push_back({{"name", t.name}, {"kind", t.kind}, {"rows", t.estimated_rows},
                   {"columns", columns}});
  }
  SendJson(res, 200, json{{"tables", out}}.dump());
}

void TableSchema(const GatewayContext& ctx, const httplib::Request& req,
                 httplib::Response& res) {
  query::QueryRequest request;
  request.table = req.matches[1];
  auto valid = ValidateName("table", request.table);
  if (!valid.ok()) return SendStatus(res, valid);
  auto allowed = HttpAuthorizer::ReadTable(res, request.table);
  if (!allowed.ok()) return SendStatus(res, allowed);
  auto call = ctx.BeginCall(res, /*query=*/true);
  if (!call.ok()) return SendStatus(res, call.status());
  auto schema = ctx.deps().query->Describe(request, (*call)->context());
  if (!schema.ok()) return SendStatus(res, schema.status());
  json columns = json::array();
  for (const auto& f : (*schema)->fields()) {
    columns.push_back({{"name", f->name()}, {"type", f->type()->ToString()},
                       {"nullable", f->nullable()}});
  }
  SendJson(res, 200, json{{"name", request.table}, {"columns", columns}}.dump());
}

}  // namespace

void AddMetadataRoutes(const GatewayContext& ctx, httplib::Server& server) {
  server.Get("/healthz", [&ctx](const httplib::Request&, httplib::Response& res) {
    // Alive whatever the storage's state (the server reopens an invalidated database by
    // itself): the state is said, not made a failure.
    json body = {{"status", "ok"}};
    const json storage = StorageHealth(ctx);
    if (!storage.is_null()) body["storage"] = storage;
    // Lake tables whose upkeep fails (streams and errors only without authentication).
    if (ctx.deps().lake_health) {
      const bool open =
          ctx.deps().authenticator == nullptr || !ctx.deps().authenticator->enabled();
      const std::string lake = ctx.deps().lake_health(open);
      auto parsed = json::parse(lake, nullptr, false);
      if (parsed.is_object()) body["lake"] = std::move(parsed);
    }
    if (ctx.deps().backup_health) {
      const bool open =
          ctx.deps().authenticator == nullptr || !ctx.deps().authenticator->enabled();
      auto backup = json::parse(ctx.deps().backup_health(open), nullptr, false);
      if (backup.is_object()) body["backup"] = std::move(backup);
    }
    SendJson(res, 200, body.dump(-1, ' ', false, json::error_handler_t::replace));
  });
  server.Get("/readyz",
             [&ctx](const httplib::Request&, httplib::Response& res) { Ready(ctx, res); });
  server.Get("/openapi.json", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, 200, OpenApiDocument());
  });
  server.Get("/streams", [&ctx](const httplib::Request&, httplib::Response& res) {
    const auto caller = HttpAuthorizer::Caller(res);
    // A user limited to some tables or streams sees those streams only.
    auto shown = [&caller](const std::string& stream, const std::string& table) {
      return auth::AccessPolicy::SeesStream(caller.get(), stream, table);
    };
    const bool admin = caller == nullptr || caller->IsAdmin();
    SendJson(res, 200, ingest::StreamsJson(*ctx.deps().router, admin, shown));
  });
  server.Get("/tables",
             [&ctx](const httplib::Request&, httplib::Response& res) { ListTables(ctx, res); });
  server.Get(R"(/tables/([^/]+)/schema)",
             [&ctx](const httplib::Request& req, httplib::Response& res) {
               TableSchema(ctx, req, res);
             });
}

}  // namespace arrowport::http
