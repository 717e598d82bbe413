#pragma once

#include <httplib.h>

namespace arrowport::http {

class GatewayContext;

/// \brief Registers the metadata and probe routes on `server`: GET /healthz, /readyz,
/// /openapi.json, /streams, /tables and /tables/{name}/schema. `ctx` outlives the server.
void AddMetadataRoutes(const GatewayContext& ctx, httplib::Server& server);

}  // namespace arrowport::http
