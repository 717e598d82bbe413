#include "arrowport/config/config.h"

#include <algorithm>

// The Config's own vocabulary; reading YAML into a Config is config_yaml.cc's, each
// section's keys their section's (auth_section.cc, lake_section.cc, ...).
namespace arrowport::config {

const char* ToString(CommitMode mode) {
  return mode == CommitMode::kPerBatch ? "per_batch" : "per_request";
}

const char* ToString(SchemaPolicy policy) {
  switch (policy) {
    case SchemaPolicy::kAddColumns: return "add_columns";
    case SchemaPolicy::kIgnoreExtra: return "ignore_extra";
    default: return "strict";
  }
}

arrow::Result<CommitMode> ParseCommitMode(const std::string& text) {
  if (text == "per_request") return CommitMode::kPerRequest;
  if (text == "per_batch") return CommitMode::kPerBatch;
  return arrow::Status::Invalid("commit must be per_request or per_batch, got '", text, "'");
}

arrow::Result<SchemaPolicy> ParseSchemaPolicy(const std::string& text) {
  if (text == "strict") return SchemaPolicy::kStrict;
  if (text == "add_columns") return SchemaPolicy::kAddColumns;
  if (text == "ignore_extra") return SchemaPolicy::kIgnoreExtra;
  return arrow::Status::Invalid(
      "schema_policy must be strict, add_columns or ignore_extra, got '", text, "'");
}

bool FoldedNameLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(
      a.begin(), a.end(), b.begin(), b.end(), [](unsigned char x, unsigned char y) {
        const auto fold = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
        return fold(x) < fold(y);
      });
}

StreamConfig RouteFor(const Config& config, const std::string& stream) {
  // DuckDB's names ignore case, so "EVENTS" writes the table of the configured stream
  // "events": it takes that stream's routing too (it skipped its transform, its schema
  // policy and its lake sink). At most one configured name folds alike (ParseNode).
  auto it = config.streams.find(stream);
  StreamConfig route;
  if (it != config.streams.end()) {
    route = it->second;
    if (route.target_table.empty()) route.target_table = it->first;
  } else {
    route.chunk_size = config.default_chunk_size;
    route.target_table = stream;
  }
  return route;
}

}  // namespace arrowport::config
