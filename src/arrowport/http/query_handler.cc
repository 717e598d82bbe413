#include "arrowport/http/query_handler.h"

#include <nlohmann/json.hpp>

#include <chrono>

#include "arrowport/http/gateway_context.h"
#include "arrowport/http/http_responses.h"
#include "arrowport/http/negotiation.h"
#include "arrowport/http/request_body.h"
#include "arrowport/http/result_response.h"
#include "arrowport/query/query_pipeline.h"

namespace arrowport::http {

using json = nlohmann::json;

void HandleQuery(const GatewayContext& ctx, const httplib::Request& req,
                 httplib::Response& res, const httplib::ContentReader& content) {
  const auto start = std::chrono::steady_clock::now();
  const std::string type = MediaType(req.get_header_value("Content-Type"));
  query::QueryRequest request;
  const bool sql_text = type == "text/plain" || type == "application/sql" || type.empty();
  if (type != "application/json" && !sql_text) {
    return SendError(res, {415, "unsupported_media_type",
                           "POST /query takes application/json {\"sql\": ..., \"params\": "
                           "[...]} or text/plain SQL, not '" + type + "'"});
  }
  // SQL text has its own small limit, and what it holds is charged to the server's
  // budget (planning charges more: see Connection's kPlanBytesPerSqlByte).
  MemoryBudget::Reservation charge;
  if (ctx.deps().request_memory) {
    auto reserved = ctx.deps().request_memory->Reserve(0, "a /query body");
    if (reserved.ok()) charge = std::move(*reserved);
  }
  auto body = ReadBodyLimited(req, content, ctx.deps().max_query_bytes, "http.max_query_bytes",
                              ctx.deps().request_memory ? &charge : nullptr);
  if (!body.ok()) {
    ctx.Log(req, body.status(), start);
    return SendStatus(res, body.status());
  }
  if (type == "application/json") {
    auto doc = json::parse(*body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
      return SendError(res, {400, "invalid_json", "request body is not a JSON object"});
    }
    auto parsed = query::ParseTicket(*body);
    if (!parsed.ok()) return SendStatus(res, parsed.status());
    request = *parsed;
  } else {
    auto parsed = query::ParseTicket(*body);
    if (!parsed.ok() || !parsed->table.empty()) {
      return SendStatus(res, parsed.ok() ? arrow::Status::Invalid("expected SQL text")
                                         : parsed.status());
    }
    request = *parsed;
  }
  StreamResult(ctx, req, res, request);
}

}  // namespace arrowport::http
