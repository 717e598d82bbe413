#include "arrowport/http/seed_body.h"

#include <simdjson.h>
#include <simdutf.h>

#include <cstring>
#include <string_view>

#include "arrow/buffer.h"
#include "arrow/io/memory.h"
#include "arrow/ipc/reader.h"
#include "arrowport/common/identifier.h"
#include "arrowport/http/body_decode_reader.h"

namespace arrowport::http {

namespace {

namespace od = simdjson::ondemand;

arrow::Status NotJson(simdjson::error_code error) {
  return arrow::Status::Invalid("request body is not a JSON object: ",
                                simdjson::error_message(error));
}

// A JSON string value's text without copying it: base64 has no escapes, so the raw token
// between its quotes is the text. One with an escape ("\/") is unescaped instead.
arrow::Result<std::string_view> StringText(od::value value, const char* what) {
  od::json_type type;
  if (value.type().get(type) != simdjson::SUCCESS || type != od::json_type::string) {
    return arrow::Status::Invalid(what, " must be a string");
  }
  std::string_view token = value.raw_json_token();
  while (!token.empty() && (token.back() == ' ' || token.back() == '\n' ||
                            token.back() == '\r' || token.back() == '\t')) {
    token.remove_suffix(1);
  }
  if (token.size() < 2 || token.front() != '"' || token.back() != '"') {
    return arrow::Status::Invalid(what, " is not a JSON string");
  }
  token = token.substr(1, token.size() - 2);
  if (token.find('\\') == std::string_view::npos) return token;
  std::string_view unescaped;
  if (value.get_string().get(unescaped) != simdjson::SUCCESS) {
    return arrow::Status::Invalid(what, " is not a JSON string");
  }
  return unescaped;
}

// Base64 decoded once, by simdutf, straight into the buffer the IPC reader reads.
arrow::Result<std::shared_ptr<arrow::Buffer>> DecodeBase64(std::string_view text,
                                                           const char* what) {
  const size_t most = simdutf::maximal_binary_length_from_base64(text.data(), text.size());
  ARROW_ASSIGN_OR_RAISE(auto buffer, arrow::AllocateResizableBuffer(static_cast<int64_t>(most)));
  const auto decoded = simdutf::base64_to_binary(
      text.data(), text.size(), reinterpret_cast<char*>(buffer->mutable_data()));
  if (decoded.error != simdutf::error_code::SUCCESS) {
    return arrow::Status::Invalid(what, " is not valid base64");
  }
  ARROW_RETURN_NOT_OK(buffer->Resize(static_cast<int64_t>(decoded.count), false));
  return std::shared_ptr<arrow::Buffer>(std::move(buffer));
}

arrow::Status ReadConfig(od::value value, ingest::IngestRequest* request) {
  od::object config;
  if (value.get_object().get(config) != simdjson::SUCCESS) return arrow::Status::OK();
  for (auto field : config) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) return NotJson(field.error());
    if (key == "target_table") {
      std::string_view table;
      if (field.value().get_string().get(table) != simdjson::SUCCESS) continue;
      request->table = std::string(table);
      ARROW_RETURN_NOT_OK(ValidateName("table", request->table));
    } else if (key == "transform") {
      std::string_view sql;
      if (field.value().get_string().get(sql) != simdjson::SUCCESS) {
        return arrow::Status::Invalid("config.transform must be SQL text over 'input'");
      }
      request->transform = std::string(sql);
    }
  }
  return arrow::Status::OK();
}

arrow::Status ReadBatch(od::value value, SeedBody* seed) {
  od::object batch;
  if (value.get_object().get(batch) != simdjson::SUCCESS) {
    return arrow::Status::Invalid("body needs batch.data (base64 Arrow IPC)");
  }
  for (auto field : batch) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) return NotJson(field.error());
    if (key == "data") {
      auto text = StringText(field.value(), "batch.data");
      if (!text.ok()) return arrow::Status::Invalid("body needs batch.data (base64 Arrow IPC)");
      ARROW_ASSIGN_OR_RAISE(seed->data, DecodeBase64(*text, "batch.data"));
    } else if (key == "arrow_schema") {
      auto text = StringText(field.value(), "batch.arrow_schema");
      if (!text.ok()) continue;  // not a string: ignored, as the seed does
      ARROW_ASSIGN_OR_RAISE(seed->schema, DecodeBase64(*text, "batch.arrow_schema"));
    }
  }
  if (seed->data == nullptr) return arrow::Status::Invalid("body needs batch.data (base64 Arrow IPC)");
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<SeedBody> ParseSeedBody(const std::string& stream, std::string body) {
  SeedBody seed;
  seed.request.stream = stream;
  seed.request.protocol = "http-json";
  od::parser parser;
  od::document doc;
  // simdjson reads a few bytes past the end: room for them, the text unchanged.
  auto error = parser.iterate(simdjson::pad_with_reserve(body)).get(doc);
  if (error != simdjson::SUCCESS) return NotJson(error);
  od::object root;
  if ((error = doc.get_object().get(root)) != simdjson::SUCCESS) return NotJson(error);
  bool has_batch = false;
  for (auto field : root) {
    std::string_view key;
    if ((error = field.unescaped_key().get(key)) != simdjson::SUCCESS) return NotJson(error);
    if (key == "config") {
      ARROW_RETURN_NOT_OK(ReadConfig(field.value(), &seed.request));
    } else if (key == "batch") {
      has_batch = true;
      ARROW_RETURN_NOT_OK(ReadBatch(field.value(), &seed));
    }
  }
  if (!doc.at_end()) return arrow::Status::Invalid("request body has text after its JSON object");
  if (!has_batch) return arrow::Status::Invalid("body needs batch.data (base64 Arrow IPC)");
  return seed;
}

arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> OpenSeedBatches(
    const SeedBody& seed, std::shared_ptr<CappedMemoryPool> pool, int64_t max_batch_bytes) {
  auto open = [&pool](std::shared_ptr<arrow::Buffer> buffer) {
    auto options = arrow::ipc::IpcReadOptions::Defaults();
    options.memory_pool = pool.get();
    return arrow::ipc::RecordBatchStreamReader::Open(
        std::make_shared<arrow::io::BufferReader>(std::move(buffer)), options);
  };
  // batch.data is either a whole IPC stream or record batch messages that need the
  // schema message in front.
  auto reader = open(seed.data);
  if (!reader.ok() && seed.schema != nullptr) {
    ARROW_ASSIGN_OR_RAISE(auto joined,
                          arrow::AllocateBuffer(seed.schema->size() + seed.data->size()));
    std::memcpy(joined->mutable_data(), seed.schema->data(), seed.schema->size());
    std::memcpy(joined->mutable_data() + seed.schema->size(), seed.data->data(),
                seed.data->size());
    reader = open(std::move(joined));
  }
  if (!reader.ok()) {
    if (pool->refused()) return reader.status();
    return arrow::Status::Invalid("batch.data is not Arrow IPC: ", reader.status().message());
  }
  return std::make_shared<BodyDecodeReader>(*reader, nullptr, std::move(pool), max_batch_bytes);
}

}  // namespace arrowport::http
