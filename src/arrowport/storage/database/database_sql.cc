#include "arrowport/storage/database/database_sql.h"

#include <algorithm>

#include "arrowport/common/identifier.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/files/view_file_system.h"

namespace arrowport::storage {

namespace {

// DuckDB's reader for a file or glob, by its extension (Parquet when it has none).
const char* ReaderFor(const std::string& location) {
  auto ends_with = [&](const std::string& suffix) {
    return location.size() >= suffix.size() &&
           location.compare(location.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".csv") || ends_with(".csv.gz") || ends_with(".tsv")) return "read_csv";
  if (ends_with(".json") || ends_with(".jsonl") || ends_with(".ndjson")) {
    return "read_json";
  }
  return "read_parquet";
}

arrow::Status CreateFileView(Connection* conn, const std::string& name,
                             const std::vector<std::string>& locations, bool gated) {
  const char* reader = ReaderFor(locations.front());
  for (const auto& location : locations) {
    if (std::string(ReaderFor(location)) != reader) {
      return arrow::Status::Invalid("the files of one view must be of one format: '",
                                    locations.front(), "' is read with ", reader, ", '",
                                    location, "' with ", ReaderFor(location));
    }
  }
  auto path = [gated](const std::string& location) {
    return QuoteLiteral(gated ? ViewPathOf(location) : location);
  };
  // One location keeps DuckDB's plain form; several are a list (one scan, one schema).
  std::string argument = path(locations.front());
  if (locations.size() > 1) {
    argument = "[";
    for (const auto& location : locations) {
      argument += (argument.size() > 1 ? ", " : "") + path(location);
    }
    argument += "]";
  }
  return conn->Execute("CREATE OR REPLACE VIEW " + QuoteIdentifier(name) +
                       " AS SELECT * FROM " + reader + "(" + argument + ")");
}

}  // namespace

arrow::Status CreateFileViews(
    Connection* conn, const std::vector<std::pair<std::string, std::string>>& file_views,
    bool gated) {
  std::vector<std::pair<std::string, std::vector<std::string>>> views;  // in given order
  for (const auto& [name, location] : file_views) {
    auto same = std::find_if(views.begin(), views.end(),
                             [&name = name](const auto& view) { return view.first == name; });
    if (same == views.end()) {
      views.push_back({name, {location}});
    } else {
      same->second.push_back(location);
    }
  }
  for (const auto& [name, locations] : views) {
    auto st = CreateFileView(conn, name, locations, gated);
    if (st.ok()) continue;
    std::string quoted;
    for (const auto& location : locations) {
      quoted += (quoted.empty() ? "'" : ", '") + location + "'";
    }
    return st.WithMessage("views.", name, " (", quoted, "): ", st.message());
  }
  return arrow::Status::OK();
}

std::string LoadExtensionSql(const std::string& name) {
  return "LOAD " + QuoteIdentifier(name);
}

}  // namespace arrowport::storage
