#pragma once

#include <httplib.h>

namespace arrowport::http {

class GatewayContext;

/// \brief POST /stream/{stream}: the seed Arrowport's JSON endpoint (config.target_table,
/// batch.arrow_schema and batch.data as base64 Arrow IPC), body read whole and capped;
/// the batches go through the same ingest pipeline as every other protocol.
void HandleSeedStream(const GatewayContext& ctx, const httplib::Request& req,
                      httplib::Response& res, const httplib::ContentReader& content);

}  // namespace arrowport::http
