#pragma once

#include <httplib.h>

namespace arrowport::http {

class GatewayContext;

/// POST /query: JSON {"sql", "params"} or text/plain SQL, body read whole (capped,
/// counted after decompression), result streamed as negotiated.
void HandleQuery(const GatewayContext& ctx, const httplib::Request& req,
                 httplib::Response& res, const httplib::ContentReader& content);

}  // namespace arrowport::http
