#include "arrowport/ingest/ingest_request.h"

#include <nlohmann/json.hpp>

#include "arrowport/common/identifier.h"
#include "arrowport/common/json_util.h"

namespace arrowport::ingest {

const char* ToString(WriteMode mode) {
  switch (mode) {
    case WriteMode::kCreate: return "create";
    case WriteMode::kReplace: return "replace";
    default: return "append";
  }
}

arrow::Result<WriteMode> ParseWriteMode(const std::string& text) {
  if (text == "append") return WriteMode::kAppend;
  if (text == "create") return WriteMode::kCreate;
  if (text == "replace") return WriteMode::kReplace;
  return arrow::Status::Invalid("mode must be append, create or replace, got '", text, "'");
}

arrow::Result<IngestRequest> ParseRequestFields(const RequestFields& fields) {
  IngestRequest request;
  request.stream = fields.stream;
  request.table = fields.table;
  if (fields.mode) {
    ARROW_ASSIGN_OR_RAISE(request.mode, ParseWriteMode(*fields.mode));
  }
  if (fields.commit) {
    ARROW_ASSIGN_OR_RAISE(request.commit, config::ParseCommitMode(*fields.commit));
  }
  request.request_id = fields.request_id;
  request.transform = fields.transform;
  return request;
}

namespace {
arrow::Result<std::string> StringField(const nlohmann::json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::string();
  if (!it->is_string()) return arrow::Status::Invalid("descriptor field '", key, "' must be a string");
  return it->get<std::string>();
}
// A field whose empty (or null) value means "not given".
arrow::Result<std::optional<std::string>> OptionField(const nlohmann::json& doc,
                                                      const char* key) {
  ARROW_ASSIGN_OR_RAISE(auto text, StringField(doc, key));
  if (text.empty()) return std::optional<std::string>();
  return std::optional<std::string>(std::move(text));
}
}  // namespace

arrow::Status ValidateRequestId(const std::string& id) {
  if (id.empty() || id.size() > 200) {
    return arrow::Status::Invalid("request_id must have 1 to 200 characters");
  }
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) {
      return arrow::Status::Invalid("request_id must be printable ASCII without spaces");
    }
  }
  return arrow::Status::OK();
}

arrow::Result<IngestRequest> ParseDescriptor(bool is_path, const std::vector<std::string>& path,
                                             const std::string& cmd) {
  IngestRequest request;
  if (is_path) {
    if (path.empty() || path.size() > 2) {
      return arrow::Status::Invalid("descriptor path must be [stream] or [stream, table]");
    }
    request.stream = path[0];
    if (path.size() == 2) request.table = path[1];
  } else if (LooksLikeJsonObject(cmd)) {
    nlohmann::json doc = nlohmann::json::parse(cmd, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
      return arrow::Status::Invalid("descriptor command is not valid JSON");
    }
    static const char* kKnown[] = {"stream", "stream_name", "table", "mode", "commit",
                                   "request_id", "transform", "sealed"};
    for (const auto& item : doc.items()) {
      bool known = false;
      for (const char* k : kKnown) known = known || item.key() == k;
      if (!known) {
        return arrow::Status::Invalid("descriptor command: unknown field '", item.key(),
                                      "' (known: stream, stream_name, table, mode, commit, "
                                      "request_id, transform, sealed)");
      }
    }
    RequestFields fields;
    ARROW_ASSIGN_OR_RAISE(fields.stream, StringField(doc, "stream"));
    if (fields.stream.empty()) {
      ARROW_ASSIGN_OR_RAISE(fields.stream, StringField(doc, "stream_name"));
    }
    ARROW_ASSIGN_OR_RAISE(fields.table, StringField(doc, "table"));
    ARROW_ASSIGN_OR_RAISE(fields.mode, OptionField(doc, "mode"));
    ARROW_ASSIGN_OR_RAISE(fields.commit, OptionField(doc, "commit"));
    ARROW_ASSIGN_OR_RAISE(fields.request_id, StringField(doc, "request_id"));
    ARROW_ASSIGN_OR_RAISE(fields.transform, StringField(doc, "transform"));
    ARROW_ASSIGN_OR_RAISE(request, ParseRequestFields(fields));
    if (doc.contains("sealed")) {
      if (!doc["sealed"].is_boolean()) {
        return arrow::Status::Invalid("'sealed' must be true or false");
      }
      request.sealed = doc["sealed"].get<bool>();
    }
    if (request.stream.empty()) request.stream = request.table;
  } else {
    request.stream = cmd;
  }
  if (request.stream.empty()) {
    return arrow::Status::Invalid("descriptor names no stream (use PATH [stream] or CMD "
                                  "{\"stream\": ...})");
  }
  // A descriptor is refused for its bad names and id on its own (before the caller's
  // authorization); IngestPipeline::Begin checks them again, as every request's.
  ARROW_RETURN_NOT_OK(ValidateName("stream", request.stream));
  if (!request.table.empty()) ARROW_RETURN_NOT_OK(ValidateName("table", request.table));
  if (!request.request_id.empty()) ARROW_RETURN_NOT_OK(ValidateRequestId(request.request_id));
  return request;
}

}  // namespace arrowport::ingest
