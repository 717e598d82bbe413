#pragma once

#include <httplib.h>

namespace arrowport::http {

class GatewayContext;

/// \brief POST /ingest/{stream}: the body (an Arrow IPC stream, possibly compressed) is
/// pumped through a bounded pipe into the ingest pipeline while it arrives, decoded from
/// a per-request capped memory pool; limits are counted after decompression. Replies
/// with the ingest summary, or the error with the per_batch batches already committed.
void HandleIngest(const GatewayContext& ctx, const httplib::Request& req,
                  httplib::Response& res, const httplib::ContentReader& content);

}  // namespace arrowport::http
