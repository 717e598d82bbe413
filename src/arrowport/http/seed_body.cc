#include "arrowport/http/seed_body.h"

#include <nlohmann/json.hpp>

#include "arrow/buffer.h"
#include "arrow/io/memory.h"
#include "arrow/ipc/reader.h"
#include "arrow/util/base64.h"
#include "arrowport/common/identifier.h"
#include "arrowport/http/body_decode_reader.h"

namespace arrowport::http {

using json = nlohmann::json;

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
    if (cfg.contains("transform")) {
      if (!cfg["transform"].is_string()) {
        return arrow::Status::Invalid("config.transform must be SQL text over 'input'");
      }
      seed.request.transform = cfg["transform"].get<std::string>();
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

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> OpenSeedBatches(
    const SeedBody& seed, std::shared_ptr<CappedMemoryPool> pool, int64_t max_batch_bytes) {
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
    if (pool->refused()) return reader.status();
    return arrow::Status::Invalid("batch.data is not Arrow IPC: ", reader.status().message());
  }
  return std::make_shared<BodyDecodeReader>(*reader, nullptr, std::move(pool), max_batch_bytes);
}

}  // namespace arrowport::http
