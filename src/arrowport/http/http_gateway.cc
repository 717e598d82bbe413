#include "arrowport/http/backup_handler.h"
#include "arrowport/http/http_gateway.h"

#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <limits>
#include <optional>
#include <set>
#include <string>

#include "arrowport/common/logger.h"
#include "arrowport/http/auth_token_handler.h"
#include "arrowport/http/deadline_socket_stream.h"
#include "arrowport/http/gateway_context.h"
#include "arrowport/http/http_authorizer.h"
#include "arrowport/http/http_errors.h"
#include "arrowport/http/http_responses.h"
#include "arrowport/http/http_server.h"
#include "arrowport/http/ingest_handler.h"
#include "arrowport/http/metadata_handlers.h"
#include "arrowport/http/negotiation.h"
#include "arrowport/http/query_handler.h"
#include "arrowport/http/response_meter.h"
#include "arrowport/http/result_response.h"
#include "arrowport/http/seed_handler.h"
#include "arrowport/http/status_handlers.h"
#include "arrowport/metrics/server_metrics.h"

namespace arrowport::http {

namespace {

// "GET /tables/{}" for the route pattern R"(/tables/([^/]+))": the method label of a
// request, one per route (requests no route took share one).
// The request's method as a metrics label: any other than the standard ones is "OTHER"
// (each made-up method was a series of its own: 20,000 requests grew /metrics to 5 MiB).
std::string MethodLabel(const std::string& method) {
  static const std::set<std::string> kStandard = {"GET",     "HEAD",  "POST",  "PUT",
                                                  "DELETE",  "PATCH", "OPTIONS",
                                                  "CONNECT", "TRACE"};
  return kStandard.count(method) > 0 ? method : "OTHER";
}

std::string RouteLabel(const httplib::Request& req) {
  if (req.matched_route.empty()) return MethodLabel(req.method) + " (no route)";
  std::string route = req.matched_route;
  const std::string capture = "([^/]+)";
  for (auto at = route.find(capture); at != std::string::npos; at = route.find(capture)) {
    route.replace(at, capture.size(), "{}");
  }
  return req.method + " " + route;
}

}  // namespace

struct HttpGateway::Impl {
  Impl(HttpGatewayDeps deps, HttpServerOptions options)
      : context(std::move(deps)), server(options) {}

  // Declared before the server: its workers use the context until the server is gone.
  GatewayContext context;
  HttpServer server;
  int port = 0;
  bool reads_bodies = true;  // false on the metrics-only listener: no route reads one

  void Routes(HttpSurface surface) {
    reads_bodies = surface != HttpSurface::kMetricsOnly;
    AddMetricsRoute(context, server);
    if (surface == HttpSurface::kMetricsOnly) return Guards();
    AddStatusRoutes(context, server);
    AddMetadataRoutes(context, server);
    AddBackupRoute(context, server);
    auto read_table = [this](const httplib::Request& req, httplib::Response& res) {
      auto request = TableRequest(req, req.matches[1]);
      if (!request.ok()) return SendStatus(res, request.status());
      StreamResult(context, req, res, *request);
    };
    server.Get(R"(/tables/([^/]+))", read_table);
    server.Get(R"(/api/v1/arrow/bulk-read/([^/]+))", read_table);
    server.Post("/query", [this](const httplib::Request& req, httplib::Response& res,
                                 const httplib::ContentReader& content) {
      HandleQuery(context, req, res, content);
    });
    server.Post(R"(/ingest/([^/]+))", [this](const httplib::Request& req, httplib::Response& res,
                                             const httplib::ContentReader& content) {
      HandleIngest(context, req, res, content);
    });
    server.Post("/auth/token",
                [this](const httplib::Request& req, httplib::Response& res) {
                  HandleAuthToken(context, req, res);
                });
    server.Post(R"(/stream/([^/]+))", [this](const httplib::Request& req, httplib::Response& res,
                                             const httplib::ContentReader& content) {
      HandleSeedStream(context, req, res, content);
    });
    Guards();
  }

  // Request-wide handlers: Accept-Encoding moved aside, declared body lengths checked,
  // JSON bodies for the HTTP layer's own errors, no exception ever escapes.
  void Guards() {
    AnswerExpectations();
    GuardBeforeRouting();
    RecordOutcomes();
    AnswerErrorsAsJson();
  }

  // Before routing: the call's meter, Accept-Encoding moved aside, who is calling, and a
  // declared body length checked.
  void GuardBeforeRouting() {
    // A body declared larger than its route's limit is refused before it is read: ingest
    // streams up to http.max_body_bytes; bodies read whole (query, seed JSON) are capped
    // lower. Every body is also counted as it arrives, after decompression (HandleIngest,
    // ReadBodyLimited): a declared length says nothing about what a compressed body
    // inflates to, and chunked bodies declare none.
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      BeginMeter(req, res);
      // cpp-httplib owns the Request (a non-const local) but hands out const references;
      // this handler is the one place headers are rewritten (see kAcceptedEncodings, and
      // RefusedBodyCoding for Content-Encoding).
      auto& headers = const_cast<httplib::Request&>(req).headers;
      headers.erase(kAcceptedEncodings);
      headers.erase(kBodyCoding);
      std::string accepted;
      for (auto it = headers.find("Accept-Encoding"); it != headers.end();
           it = headers.find("Accept-Encoding")) {
        accepted += (accepted.empty() ? "" : ", ") + it->second;
        headers.erase(it);
      }
      if (!accepted.empty()) headers.emplace(kAcceptedEncodings, std::move(accepted));
      // A body framed as the server does not read it, before whoever is calling: the
      // connection ends with the answer (401's drain would read the body to its limit).
      if (RefusedTransferCoding(req, res)) return httplib::Server::HandlerResponse::Handled;
      // Every route but /healthz and /readyz: who is calling, before any body is read.
      if (!HttpAuthorizer::Authenticate(*context.deps().authenticator, req, res,
                                        context.deps().logger)) {
        return httplib::Server::HandlerResponse::Handled;
      }
      if (auto* meter = CallMeterOf(res)) {
        meter->SetUser(HttpAuthorizer::UserName(req));
        meter->SetTarget(req.path);  // the route is known once routed: see set_logger
      }
      if (RefusedBodyCoding(req, res)) return httplib::Server::HandlerResponse::Handled;
      if (RefusedUnreadBody(req, res) || RefusedDeclaredLength(req, res)) {
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
  }

  // Every request is one call in the metrics, from here to the end of its response (the
  // meter ends with the Response, after a streamed body); see set_logger below.
  void BeginMeter(const httplib::Request& req, httplib::Response& res) const {
    if (CallMeterOf(res) != nullptr) return;  // begun by AnswerExpectations
    if (auto* metrics = context.deps().metrics) {
      SetCallMeter(res, std::make_shared<metrics::CallMeter>(
                            metrics->BeginCall("http", MethodLabel(req.method), "-")));
    }
  }

  // A client that asks before it sends its body (Expect: 100-continue; curl asks for
  // bodies over 1 MiB) is told at once when the body would be refused unread for its
  // size or framing, by the header checks that need no caller: httplib answers 100
  // before routing, and the client then sent the body the 413 (or 501) refuses. The
  // connection closes with the answer. (Refusals that need the caller, or the route,
  // come after the 100 with a bounded drain: LimitDrain.)
  void AnswerExpectations() {
    server.set_expect_100_continue_handler(
        [this](const httplib::Request& req, httplib::Response& res) {
          constexpr int kContinue = 100;
          BeginMeter(req, res);  // the pre-routing handler keeps it for a request let on
          const bool refused = RefusedTransferCoding(req, res) ||
                               RefusedUnreadBody(req, res) || RefusedDeclaredLength(req, res);
          return refused ? res.status : kContinue;
        });
  }

  // The declared length when it is over what the request's route reads: its limit, or
  // 64 KiB on a route that reads no body (RefusedUnreadBody).
  std::optional<uint64_t> DeclaredOverLimit(const httplib::Request& req) const {
    if (!req.has_header("Content-Length")) return std::nullopt;
    const auto [limit, key] = BodyLimitFor(req);
    const uint64_t declared = req.get_header_value_u64("Content-Length", 0);
    if (declared <= static_cast<uint64_t>(limit)) return std::nullopt;
    return declared;
  }

  // The most a request's body may hold, and the key that sets it (null: the route reads
  // no body, and every route of the metrics-only listener reads none).
  std::pair<int64_t, const char*> BodyLimitFor(const httplib::Request& req) const {
    if (!reads_bodies) return {GatewayContext::kUnreadBodyBytes, nullptr};
    return context.BodyLimitFor(req.method, req.path);
  }

  // A body declared larger than its route's limit, on a route that reads one.
  bool RefusedDeclaredLength(const httplib::Request& req, httplib::Response& res) const {
    const auto [limit, key] = BodyLimitFor(req);
    const auto declared = DeclaredOverLimit(req);
    if (key == nullptr || !declared) return false;
    SendError(res, {413, "payload_too_large",
                    "request body of " + std::to_string(*declared) + " bytes exceeds " +
                        std::to_string(limit) + " bytes (" + key + ")"});
    // As its answer says (Connection: close): what was sent of it is read no further
    // than the drain after a refusal, and no request after it is served.
    EndUnreadBody();
    return true;
  }

  // httplib frames a body as chunked only for "Transfer-Encoding: chunked" exactly, and
  // read "gzip, chunked" as no body at all: a /query of nothing, an ingest of nothing.
  // RFC 9112 6.1: a transfer coding the server does not decode is answered 501, and the
  // connection closed, since where the body ends is unknown.
  static bool RefusedTransferCoding(const httplib::Request& req, httplib::Response& res) {
    auto readable = ReadableTransferCoding(req.headers);
    if (readable.ok()) return false;
    SendError(res, {501, "not_implemented", readable.message()});
    // Where its body ends is unknown: none of it is read as a request, whatever the
    // method (httplib drains bodies of POST, PUT, PATCH and DELETE only), and the
    // connection ends after the answer.
    EndUnreadBody(/*drain=*/0);
    return true;
  }

  // A body on a route that reads none (any but POST /query, /ingest/{stream} and
  // /stream/{stream}, and every route of the metrics-only listener) is read whole by
  // httplib before the handler, counted nowhere: one declared over 64 KiB is refused
  // unread and the connection closed; of a chunked one at most that much is read (past
  // it the read fails), and the connection closes after the answer.
  bool RefusedUnreadBody(const httplib::Request& req, httplib::Response& res) const {
    const auto [limit, key] = BodyLimitFor(req);
    if (key != nullptr) return false;
    if (req.has_header("Transfer-Encoding")) {
      EndUnreadBody(limit + 4096);  // the chunks' framing besides
      return false;
    }
    if (!DeclaredOverLimit(req)) return false;
    SendError(res, {413, "payload_too_large",
                    req.method + " " + req.path + " reads no request body: send none (at "
                    "most " + std::to_string(limit) + " bytes are read and ignored)"});
    EndUnreadBody(/*drain=*/0);
    return true;
  }

  // httplib picks a request body's decoder by substring ("gzip, zstd" is read as zstd,
  // any coding containing "br" as brotli) and fails the read of any other with a 415 that
  // no handler sees: a handler learns only that the body did not arrive, and answered it
  // as a hang-up. So the coding is settled here for every route, before any body is
  // read: one coding the server decodes, moved to kBodyCoding for ReadBody (httplib
  // decodes nothing: every route that reads a body reads it through ReadBody), or a 415.
  static bool RefusedBodyCoding(const httplib::Request& req, httplib::Response& res) {
    if (!req.has_header("Content-Encoding")) return false;
    // The coding is the body's (RFC 9110 8.4): a request without one has nothing to refuse.
    const bool has_body = req.has_header("Transfer-Encoding") ||
                          req.get_header_value_u64("Content-Length", 0) > 0;
    auto coding = has_body ? RequestBodyCoding(req.headers) : arrow::Result<std::string>("");
    if (!coding.ok()) {
      SendError(res, {415, "unsupported_media_type", coding.status().message()});
      return true;
    }
    // Moved aside as Accept-Encoding is (see GuardBeforeRouting): httplib never decodes.
    auto& headers = const_cast<httplib::Request&>(req).headers;
    headers.erase("Content-Encoding");
    if (!coding->empty()) headers.emplace(kBodyCoding, *coding);
    return false;
  }

  void RecordOutcomes() {
    // Called once the status and headers are final, before the body is written: the
    // route and the outcome; the meter records the call when the response has been sent.
    server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      auto* meter = CallMeterOf(res);
      if (meter == nullptr) {
        // A request refused before routing (unparsable: httplib answered it) is a call too.
        if (auto* metrics = context.deps().metrics; metrics != nullptr && res.status >= 400) {
          metrics->BeginCall("http", RouteLabel(req), "-").SetOutcome(
              std::to_string(res.status), "malformed request");
        }
        return;
      }
      meter->SetMethod(RouteLabel(req));
      // Its message came with SendError; the status is what the client gets.
      if (res.status >= 400) {
        meter->SetCode(std::to_string(res.status), httplib::status_message(res.status));
      }
    });
  }

  // Errors raised by the HTTP layer itself (unknown route, limits) get JSON bodies too,
  // and no exception escapes a handler.
  void AnswerErrorsAsJson() {
    server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      HttpError error{res.status, "error", httplib::status_message(res.status)};
      if (res.status == 404) error = {404, "not_found", "no route for " + req.method + " " + req.path};
      // httplib refuses a request with both Transfer-Encoding and Content-Length before
      // routing (400): one whose transfer coding the server does not read says that.
      if (auto framing = ReadableTransferCoding(req.headers); !framing.ok()) {
        error = {501, "not_implemented", framing.message()};
      }
      if (res.status == 413) error = {413, "payload_too_large", "request body is too large"};
      if (res.status == 415) {
        error = {415, "unsupported_media_type",
                 "unsupported Content-Encoding: a request body takes gzip or zstd"};
      }
      SendError(res, error);
    });
    server.set_exception_handler([this](const httplib::Request& req, httplib::Response& res,
                                        std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      context.deps().logger->Error("handler exception", {{"path", req.path}, {"error", what}});
      SendError(res, {500, "internal", what});
    });
  }
};

HttpGateway::HttpGateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpGateway::~HttpGateway() { Stop(std::chrono::system_clock::now()); }
int HttpGateway::port() const { return impl_->port; }
size_t HttpGateway::open_connections() const { return impl_->server.connections().size(); }

uint64_t HttpGateway::connections_refused_per_address() const {
  return impl_->server.connections().refused_per_address();
}

void HttpGateway::Stop(std::chrono::system_clock::time_point deadline,
                       std::chrono::milliseconds answer_window) {
  impl_->server.Stop(deadline, answer_window);
}

namespace {

HttpServerOptions ServerOptions(const HttpGatewayDeps& deps) {
  HttpServerOptions options;
  options.max_connections = static_cast<size_t>(std::max(deps.max_connections, 1));
  options.max_connections_per_address =
      static_cast<size_t>(std::max<int64_t>(deps.max_connections_per_address, 0));
  options.timeouts.header = std::chrono::seconds(deps.header_timeout_s);
  options.timeouts.read = std::chrono::seconds(deps.read_timeout_s);
  // 0 (off): a year stands for no limit in the socket's waits.
  options.timeouts.write = std::chrono::seconds(
      deps.write_stall_timeout_s > 0 ? deps.write_stall_timeout_s : int64_t{365} * 86400);
  options.timeouts.keep_alive = std::chrono::seconds(5);
  options.keep_alive_max_count = 1000;
  options.tls = deps.tls;
  options.logger = deps.logger;
  if (deps.metrics) options.refused = &deps.metrics->http_connections_refused();
  return options;
}

}  // namespace

arrow::Result<std::unique_ptr<HttpGateway>> HttpGateway::Start(HttpGatewayDeps deps,
                                                               const std::string& host, int port,
                                                               HttpSurface surface) {
  const HttpServerOptions options = ServerOptions(deps);
  auto impl = std::make_unique<Impl>(std::move(deps), options);
  auto& server = impl->server;
  // Limits are enforced by the handlers, counted on decompressed bytes: cpp-httplib's
  // own limit would end a body with a bare 413 the handler cannot explain. (It also
  // bounds the drain of an unread body; HttpServer limits that drain after a refusal.)
  server.set_payload_max_length(std::numeric_limits<size_t>::max());
  // SO_REUSEADDR only: a port already in use must fail here, not be shared.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&yes), sizeof(yes));
  });
  impl->Routes(surface);
  ARROW_ASSIGN_OR_RAISE(impl->port, server.BindAndServe(host, port));
  return std::unique_ptr<HttpGateway>(new HttpGateway(std::move(impl)));
}

}  // namespace arrowport::http
