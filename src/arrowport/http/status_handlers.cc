#include "arrowport/http/status_handlers.h"

#include "arrowport/auth/access_policy.h"
#include "arrowport/http/gateway_context.h"
#include "arrowport/http/http_authorizer.h"
#include "arrowport/http/http_responses.h"
#include "arrowport/metrics/registry.h"
#include "arrowport/metrics/server_metrics.h"

namespace arrowport::http {

namespace {

// The status summary for the caller of `res`, or an error already sent.
bool StatusFor(const GatewayContext& ctx, httplib::Response& res, std::string* json) {
  if (!ctx.deps().status_json) {
    SendError(res, {404, "not_found", "this listener has no status page"});
    return false;
  }
  auto status = ctx.deps().status_json(HttpAuthorizer::Caller(res).get());
  if (!status.ok()) {
    SendStatus(res, status.status());
    return false;
  }
  *json = std::move(*status);
  return true;
}

}  // namespace

void AddMetricsRoute(const GatewayContext& ctx, httplib::Server& server) {
  server.Get("/metrics", [&ctx](const httplib::Request&, httplib::Response& res) {
    auto* metrics = ctx.deps().metrics;
    if (metrics == nullptr) {
      return SendError(res, {404, "not_found", "metrics are off (metrics.enabled: false)"});
    }
    auto allowed = auth::AccessPolicy::ReadMetrics(HttpAuthorizer::Caller(res).get());
    if (!allowed.ok()) return SendStatus(res, allowed);
    res.status = 200;
    res.set_header("Cache-Control", "no-store");
    res.set_content(metrics->registry().Exposition(), metrics::kExpositionContentType);
  });
}

void AddStatusRoutes(const GatewayContext& ctx, httplib::Server& server) {
  server.Get("/status", [&ctx](const httplib::Request&, httplib::Response& res) {
    std::string json;
    if (!StatusFor(ctx, res, &json)) return;
    res.set_header("Cache-Control", "no-store");
    SendJson(res, 200, json);
  });
  server.Get("/", [&ctx](const httplib::Request&, httplib::Response& res) {
    std::string json;
    if (!StatusFor(ctx, res, &json)) return;
    res.status = 200;
    res.set_header("Cache-Control", "no-store");
    // Nothing but the page itself: inline script and style, data from this server only.
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src "
                   "'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
                   "form-action 'none'; frame-ancestors 'none'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_content(StatusPageHtml(json), "text/html; charset=utf-8");
  });
}

}  // namespace arrowport::http
