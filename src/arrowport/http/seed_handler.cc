#include "arrowport/http/seed_handler.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "arrow/record_batch.h"
#include "arrowport/common/capped_memory_pool.h"
#include "arrowport/common/identifier.h"
#include "arrowport/http/gateway_context.h"
#include "arrowport/http/http_authorizer.h"
#include "arrowport/http/http_responses.h"
#include "arrowport/http/request_body.h"
#include "arrowport/http/seed_body.h"
#include "arrowport/ingest/ingest_pipeline.h"

namespace arrowport::http {

using json = nlohmann::json;

namespace {

arrow::Result<ingest::IngestResult> IngestSeed(const GatewayContext& ctx,
                                               const httplib::Request& req,
                                               const httplib::Response& res,
                                               const std::string& stream,
                                               const httplib::ContentReader& content) {
  const auto& deps = ctx.deps();
  ARROW_RETURN_NOT_OK(ValidateName("stream", stream));
  // The stream before the body is read; the target table the body names after.
  ARROW_RETURN_NOT_OK(HttpAuthorizer::WriteStream(res, stream, ""));
  ARROW_ASSIGN_OR_RAISE(auto call, ctx.BeginCall(res, /*query=*/false));
  MemoryBudget::Reservation charge;
  if (deps.request_memory) {
    ARROW_ASSIGN_OR_RAISE(charge, deps.request_memory->Reserve(0, "a seed JSON body"));
  }
  ARROW_ASSIGN_OR_RAISE(auto body,
                        ReadBodyLimited(req, content, ctx.WholeBodyLimit(), "http.max_body_bytes",
                                        deps.request_memory ? &charge : nullptr));
  ARROW_ASSIGN_OR_RAISE(auto seed, ParseSeedBody(stream, std::move(body)));
  ARROW_ASSIGN_OR_RAISE(auto run, deps.ingest->Begin(std::move(seed.request)));
  ARROW_RETURN_NOT_OK(HttpAuthorizer::WriteStream(res, stream, run.request().table));
  // Decoding allocates what the sender declares: the pool bounds it.
  auto pool = std::make_shared<CappedMemoryPool>(
      arrow::default_memory_pool(), 2 * deps.max_batch_bytes,
      "limits.max_batch_bytes (" + std::to_string(deps.max_batch_bytes) + ")",
      deps.request_memory);
  ARROW_ASSIGN_OR_RAISE(auto decoded, OpenSeedBatches(seed, pool, deps.max_batch_bytes));
  return deps.ingest->Ingest(std::move(run), decoded, {}, call->context());
}

}  // namespace

void HandleSeedStream(const GatewayContext& ctx, const httplib::Request& req,
                      httplib::Response& res, const httplib::ContentReader& content) {
  const auto start = std::chrono::steady_clock::now();
  const std::string stream = req.matches[1];
  auto result = IngestSeed(ctx, req, res, stream, content);
  if (!result.ok()) {
    ctx.Log(req, result.status(), start, {{"stream", stream}});
    return SendStatus(res, result.status());
  }
  ctx.Log(req, arrow::Status::OK(), start,
          {{"stream", stream}, {"rows", std::to_string(result->rows)}});
  SendJson(res, 200,
           json{{"status", "success"},
                {"stream", stream},
                {"rows_processed", result->rows},
                {"message", "Processed " + std::to_string(result->rows) + " rows into " +
                                result->table}}
               .dump());
}

}  // namespace arrowport::http
