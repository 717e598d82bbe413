#pragma once

#include <httplib.h>

#include <string>

namespace arrowport::http {

class GatewayContext;

/// GET /metrics: the metrics registry in the Prometheus text format (404 when metrics are
/// off). Authenticated like every route but /healthz and /readyz.
void AddMetricsRoute(const GatewayContext& ctx, httplib::Server& server);

/// GET /status (the status summary as JSON, for the CLI and the page's refreshes) and
/// GET / (the status page: one self-contained HTML document, its first data inline).
void AddStatusRoutes(const GatewayContext& ctx, httplib::Server& server);

/// The status page with `status_json` (GET /status's body) as its first data. The page
/// loads nothing from elsewhere and refreshes itself from GET /status.
std::string StatusPageHtml(const std::string& status_json);

}  // namespace arrowport::http
