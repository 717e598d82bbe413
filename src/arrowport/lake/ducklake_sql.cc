#include "arrowport/lake/ducklake_sql.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace arrowport::lake {

std::string QuotedName(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

bool IsTrue(const CatalogValue& value) {
  if (!value) return false;
  return *value == "1" || *value == "t" || *value == "true" || *value == "TRUE";
}

arrow::Result<int64_t> ToInt(const CatalogValue& value) {
  if (!value) return arrow::Status::Invalid("the DuckLake catalog holds NULL for an integer");
  int64_t out = 0;
  const char* end = value->data() + value->size();
  auto [ptr, ec] = std::from_chars(value->data(), end, out);
  if (ec != std::errc() || ptr != end) {
    return arrow::Status::Invalid("the DuckLake catalog holds '", value->substr(0, 32),
                                  "' for an integer");
  }
  return out;
}

std::string Visible(const std::string& alias) {
  return "? >= " + alias + ".begin_snapshot AND (" + alias + ".end_snapshot IS NULL OR ? < " +
         alias + ".end_snapshot)";
}

CatalogValue BoolParam(const CatalogConnection* catalog, bool value) {
  if (std::string(catalog->dialect()) == "sqlite") return std::string(value ? "1" : "0");
  return std::string(value ? "true" : "false");
}

arrow::Result<CatalogSettings> ReadSettings(CatalogConnection* catalog) {
  ARROW_ASSIGN_OR_RAISE(auto rows, catalog->Query("SELECT \"key\", \"value\" FROM "
                                                  "ducklake_metadata WHERE \"scope\" IS NULL"));
  CatalogSettings settings;
  for (const auto& row : rows) {
    const std::string key = row[0].value_or(""), value = row[1].value_or("");
    if (key == "version") settings.version = value;
    if (key == "data_path") settings.data_path = value;
    if (key == "encrypted") settings.encrypted = value == "true";
  }
  if (!settings.data_path.empty() && settings.data_path.back() != '/') settings.data_path += '/';
  if (settings.version != "1.0") {
    settings.writable_version = "the DuckLake catalog is at format version '" +
                                settings.version +
                                "'; Arrowport writes version 1.0 only";
  }
  return settings;
}

std::string CatalogSettings::RefusalFor(const std::string& configured) const {
  if (data_path != configured) {
    return "the DuckLake's data path is '" + data_path +
           "' in its catalog, not the configured '" + configured + "'";
  }
  if (encrypted) return "the DuckLake encrypts its files, which Arrowport does not";
  return "";
}

std::string MarkerText(const CommitMarker& marker) {
  nlohmann::json inner = {{"table", marker.table}, {"txn_id", marker.txn_id}};
  if (!marker.app_id.empty()) {
    inner["app_id"] = marker.app_id;
    inner["txn_version"] = marker.txn_version;
    inner["rows"] = marker.rows;
    inner["batches"] = marker.batches;
  }
  if (!marker.seal.empty()) inner["seal"] = marker.seal;
  return nlohmann::json{{"arrowport", inner}}.dump();
}

std::optional<CommitMarker> ParseMarker(const std::string& text) {
  if (text.rfind("{\"arrowport\":", 0) != 0) return std::nullopt;
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("arrowport")) return std::nullopt;
  const auto& inner = parsed["arrowport"];
  if (!inner.is_object()) return std::nullopt;
  CommitMarker marker;
  auto text_of = [&](const char* key) {
    return inner.contains(key) && inner[key].is_string() ? inner[key].get<std::string>() : "";
  };
  auto int_of = [&](const char* key, int64_t fallback) {
    return inner.contains(key) && inner[key].is_number_integer() ? inner[key].get<int64_t>()
                                                                 : fallback;
  };
  marker.table = text_of("table");
  marker.txn_id = text_of("txn_id");
  marker.app_id = text_of("app_id");
  marker.txn_version = int_of("txn_version", -1);
  marker.rows = int_of("rows", 0);
  marker.batches = int_of("batches", 0);
  marker.seal = text_of("seal");
  return marker;
}

SealedFacts DuckLakeSealFacts(const CommitMarker& marker, int64_t snapshot,
                              const std::string& table_uuid, const DuckLakeTableName& name) {
  SealedFacts facts;
  facts.format = "ducklake";
  facts.table = table_uuid;
  // The data path tells one lake from another (the catalog's must equal it, or the table
  // is refused); the quoted names cannot run into each other.
  facts.location =
      name.data_path + '\n' + QuotedName(name.schema) + '.' + QuotedName(name.table);
  facts.snapshot = snapshot;
  facts.app_id = marker.app_id;
  facts.txn_version = marker.txn_version;
  facts.rows = marker.rows;
  facts.batches = marker.batches;
  return facts;
}

namespace {

// Whether `path` has a segment "..", "." or "" (a partition value's own dots are
// percent-free text inside a segment, e.g. "part=..%2Fx": fine).
bool LeavesFolder(const std::string& path) {
  size_t begin = 0;
  for (;;) {
    const size_t end = path.find('/', begin);
    const std::string segment = path.substr(begin, end == std::string::npos ? end : end - begin);
    if (segment.empty() || segment == "." || segment == "..") return true;
    if (end == std::string::npos) return false;
    begin = end + 1;
  }
}

}  // namespace

arrow::Result<std::string> DataFileKey(const std::string& path, bool relative,
                                       const std::string& table_folder) {
  if (relative) {
    if (path.empty() || path[0] == '/' || LeavesFolder(path)) {
      return arrow::Status::Invalid("a data file path '", path, "' leaves the table's folder");
    }
    return path;
  }
  if (path.rfind(table_folder, 0) != 0 || path.size() == table_folder.size() ||
      LeavesFolder(path.substr(table_folder.size()))) {
    return arrow::Status::Invalid("a data file '", path, "' lies outside the table's folder ",
                                  table_folder);
  }
  return path.substr(table_folder.size());
}

arrow::Result<bool> OnlyArrowportCommits(CatalogConnection* catalog) {
  ARROW_ASSIGN_OR_RAISE(auto foreign,
                        catalog->Query("SELECT count(*) FROM ducklake_snapshot_changes WHERE "
                                       "snapshot_id > 0 AND (commit_extra_info IS NULL OR "
                                       "commit_extra_info NOT LIKE '{\"arrowport\":%')"));
  return !foreign.empty() && foreign[0][0].value_or("1") == "0";
}

arrow::Result<bool> TableExists(CatalogConnection* catalog, const std::string& name) {
  const bool sqlite = std::string(catalog->dialect()) == "sqlite";
  ARROW_ASSIGN_OR_RAISE(
      auto rows, catalog->Query(sqlite ? "SELECT name FROM sqlite_master WHERE type = 'table' "
                                         "AND name = ?"
                                       : "SELECT to_regclass(?)::text",
                                {name}));
  return !rows.empty() && rows[0][0].has_value();
}

std::string SnapshotTimeNow(int64_t ago_ms) {
  const auto now = std::chrono::system_clock::now() - std::chrono::milliseconds(ago_ms);
  const int64_t micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  std::time_t t = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[64];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(micros % 1000000));
  return text;
}

}  // namespace arrowport::lake
