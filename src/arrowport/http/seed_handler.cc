#include "arrowport/http/seed_handler.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "arrow/buffer.h"
#include "arrow/io/memory.h"
#include "arrow/ipc/reader.h"
#include "arrow/record_batch.h"
#include "arrow/util/base64.h"
#include "arrowport/common/capped_memory_pool.h"
#include "arrowport/common/identifier.h"
#include "arrowport/http/body_decode_reader.h"
#include "arrowport/http/gateway_context.h"
#include "arrowport/http/http_authorizer.h"
#include "arrowport/http/http_responses.h"
#include "arrowport/http/request_body.h"
#include "arrowport/ingest/ingest_pipeline.h"

namespace arrowport::http {

using json = nlohmann::json;

namespace {

// What a seed JSON body carries, decoded from base64.
struct SeedBody {
  ingest::IngestRequest request;
  std::string data;          // a whole IPC stream, or batch messages without the schema
  std::string schema_bytes;  // the schema message, when given apart
};

arrow::Result<SeedBody> ParseSeedBody(const std::string& stream, const std::string& body) {
  auto doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return arrow::Status::Invalid("request body is not a JSON object");
  }
  SeedBody seed;
  seed.request.stream = stream;
  seed.request.protocol = "http-json";
  if (doc.contains("config") && doc["config"].is_object()) {
    const auto& cfg = doc["config"];
    if (cfg.contains("target_table") && cfg["target_table"].is_string()) {
      seed.request.table = cfg["target_table"].get<std::string>();
      ARROW_RETURN_NOT_OK(ValidateName("table", seed.request.table));
    }
  }
  if (!doc.contains("batch") || !doc["batch"].is_object() ||
      !doc["batch"].contains("data") || !doc["batch"]["data"].is_string()) {
    return arrow::Status::Invalid("body needs batch.data (base64 Arrow IPC)");
  }
  const auto& batch = doc["batch"];
  auto data = arrow::util::base64_decode(batch["data"].get<std::string>());
  if (!data.ok()) return arrow::Status::Invalid("batch.data is not valid base64");
  seed.data = std::move(*data);
  if (batch.contains("arrow_schema") && batch["arrow_schema"].is_string()) {
    auto schema = arrow::util::base64_decode(batch["arrow_schema"].get<std::string>());
    if (!schema.ok()) return arrow::Status::Invalid("batch.arrow_schema is not valid base64");
    seed.schema_bytes = std::move(*schema);
  }
  return seed;
}

arrow::Result<ingest::IngestResult> IngestSeed(const GatewayContext& ctx,
                                               const httplib::Response& res,
                                               const std::string& stream,
                                               const httplib::ContentReader& content) {
  const auto& deps = ctx.deps();
  ARROW_RETURN_NOT_OK(ValidateName("stream", stream));
  // The stream before the body is read; the target table the body names after.
  ARROW_RETURN_NOT_OK(HttpAuthorizer::WriteStream(res, stream, ""));
  ARROW_ASSIGN_OR_RAISE(auto call, ctx.BeginCall(res, /*query=*/false));
  ARROW_ASSIGN_OR_RAISE(auto body,
                        ReadBodyLimited(content, ctx.WholeBodyLimit(), "http.max_body_bytes"));
  ARROW_ASSIGN_OR_RAISE(auto seed, ParseSeedBody(stream, body));
  ARROW_RETURN_NOT_OK(HttpAuthorizer::WriteStream(res, stream, seed.request.table));
  // Decoding allocates what the sender declares: the pool bounds it.
  auto pool = std::make_shared<CappedMemoryPool>(
      arrow::default_memory_pool(), 2 * deps.max_batch_bytes,
      "limits.max_batch_bytes (" + std::to_string(deps.max_batch_bytes) + ")");
  auto open = [&pool](std::string bytes) {
    std::shared_ptr<arrow::Buffer> buffer = arrow::Buffer::FromString(std::move(bytes));
    auto options = arrow::ipc::IpcReadOptions::Defaults();
    options.memory_pool = pool.get();
    return arrow::ipc::RecordBatchStreamReader::Open(
        std::make_shared<arrow::io::BufferReader>(buffer), options);
  };
  // batch.data is either a whole IPC stream or record batch messages that need the
  // schema message in front.
  auto reader = open(seed.data);
  if (!reader.ok() && !seed.schema_bytes.empty()) reader = open(seed.schema_bytes + seed.data);
  if (!reader.ok()) {
    return arrow::Status::Invalid("batch.data is not Arrow IPC: ", reader.status().message());
  }
  auto decoded = std::make_shared<BodyDecodeReader>(*reader, nullptr, pool, deps.max_batch_bytes);
  return deps.ingest->Ingest(seed.request, decoded, {}, call->context());
}

}  // namespace

void HandleSeedStream(const GatewayContext& ctx, const httplib::Request& req,
                      httplib::Response& res, const httplib::ContentReader& content) {
  const auto start = std::chrono::steady_clock::now();
  const std::string stream = req.matches[1];
  auto result = IngestSeed(ctx, res, stream, content);
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
