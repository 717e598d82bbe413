#pragma once

#include <httplib.h>

#include <string>

#include "arrow/result.h"
#include "arrowport/query/query_pipeline.h"

namespace arrowport::http {

class GatewayContext;

/// \brief Runs `request` and streams its result in the format negotiated from Accept or
/// ?format=, compressed per Accept-Encoding, with chunked encoding. The query is
/// prepared, bound and its first batch fetched before the status line, so such errors are
/// proper 4xx answers; a later error aborts the chunked body (the client sees an
/// incomplete transfer) and is logged.
void StreamResult(const GatewayContext& ctx, const httplib::Request& req,
                  httplib::Response& res, const query::QueryRequest& request);

/// The read of table `name` that GET /tables/{name}?columns=a,b&limit=N asks for.
arrow::Result<query::QueryRequest> TableRequest(const httplib::Request& req,
                                                const std::string& name);

}  // namespace arrowport::http
