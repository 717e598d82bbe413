#pragma once

#include <httplib.h>

namespace arrowport::http {

class GatewayContext;

/// POST /auth/token with `Authorization: Basic`: answers {"token": ..., "expires_at":
/// ...} (a bearer token for the later calls; expires_at in seconds since the epoch).
void HandleAuthToken(const GatewayContext& ctx, const httplib::Request& req,
                     httplib::Response& res);

}  // namespace arrowport::http
