#include "arrowport/query/backup_manifest.h"

#include <nlohmann/json.hpp>

#include <map>

namespace arrowport::query {

using json = nlohmann::json;

namespace {

constexpr const char* kFormat = "arrowport-backup/1";

bool IsSha256(const std::string& text) {
  return text.size() == 64 &&
         text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string TableName(const BackupTable& table) { return table.schema + "." + table.name; }

// The value of `key` in `doc` as T, or Invalid naming the key.
template <typename T>
arrow::Result<T> Field(const json& doc, const char* key, const char* where) {
  if (!doc.is_object() || !doc.contains(key)) {
    return arrow::Status::Invalid("backup manifest: ", where, " has no '", key, "'");
  }
  try {
    return doc.at(key).get<T>();
  } catch (const json::exception&) {
    return arrow::Status::Invalid("backup manifest: ", where, "'s '", key,
                                  "' has the wrong type");
  }
}

arrow::Result<std::vector<BackupFile>> ParseFiles(const json& doc) {
  std::vector<BackupFile> files;
  if (!doc.contains("files") || !doc["files"].is_array()) {
    return arrow::Status::Invalid("backup manifest: no 'files' list");
  }
  for (const auto& item : doc["files"]) {
    BackupFile file;
    ARROW_ASSIGN_OR_RAISE(file.name, Field<std::string>(item, "name", "a file"));
    ARROW_ASSIGN_OR_RAISE(file.bytes, Field<int64_t>(item, "bytes", "a file"));
    ARROW_ASSIGN_OR_RAISE(file.sha256, Field<std::string>(item, "sha256", "a file"));
    if (!IsSha256(file.sha256) || file.bytes < 0 || file.name.empty() ||
        file.name.find('/') != std::string::npos) {
      return arrow::Status::Invalid("backup manifest: file '", file.name,
                                    "' has a malformed name, size or sha256");
    }
    files.push_back(std::move(file));
  }
  return files;
}

arrow::Result<std::vector<BackupTable>> ParseTables(const json& doc) {
  std::vector<BackupTable> tables;
  if (!doc.contains("tables") || !doc["tables"].is_array()) {
    return arrow::Status::Invalid("backup manifest: no 'tables' list");
  }
  for (const auto& item : doc["tables"]) {
    BackupTable table;
    ARROW_ASSIGN_OR_RAISE(table.schema, Field<std::string>(item, "schema", "a table"));
    ARROW_ASSIGN_OR_RAISE(table.name, Field<std::string>(item, "name", "a table"));
    ARROW_ASSIGN_OR_RAISE(table.rows, Field<int64_t>(item, "rows", "a table"));
    ARROW_ASSIGN_OR_RAISE(table.checksum, Field<std::string>(item, "checksum", "a table"));
    tables.push_back(std::move(table));
  }
  return tables;
}

}  // namespace

std::string BackupManifest::ToJson() const {
  json doc = {{"format", kFormat},
              {"id", id},
              {"created_at", created_at},
              {"server_version", server_version},
              {"duckdb_version", duckdb_version}};
  // Not copied: the lake is its own backup; each table's snapshot is named.
  json lake_list = json::array();
  for (const auto& lake : lake_tables) {
    lake_list.push_back({{"stream", lake.stream},
                         {"table", lake.table},
                         {"url", lake.url},
                         {"version", lake.version >= 0 ? json(lake.version) : json(nullptr)}});
  }
  doc["lake_tables"] = std::move(lake_list);
  json file_list = json::array();
  for (const auto& file : files) {
    file_list.push_back({{"name", file.name}, {"bytes", file.bytes}, {"sha256", file.sha256}});
  }
  json table_list = json::array();
  for (const auto& table : tables) {
    table_list.push_back({{"schema", table.schema},
                          {"name", table.name},
                          {"rows", table.rows},
                          {"checksum", table.checksum}});
  }
  doc["files"] = std::move(file_list);
  doc["tables"] = std::move(table_list);
  doc["request_ids"] = request_ids;
  return doc.dump(1);
}

arrow::Result<BackupManifest> BackupManifest::Parse(const std::string& text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) {
    return arrow::Status::Invalid("backup manifest: not a JSON object (damaged?)");
  }
  ARROW_ASSIGN_OR_RAISE(auto format, Field<std::string>(doc, "format", "the manifest"));
  if (format != kFormat) {
    return arrow::Status::Invalid("backup manifest: format '", format, "' is not ",
                                  kFormat, " (a newer server's backup?)");
  }
  BackupManifest manifest;
  ARROW_ASSIGN_OR_RAISE(manifest.id, Field<std::string>(doc, "id", "the manifest"));
  ARROW_ASSIGN_OR_RAISE(manifest.created_at,
                        Field<std::string>(doc, "created_at", "the manifest"));
  ARROW_ASSIGN_OR_RAISE(manifest.server_version,
                        Field<std::string>(doc, "server_version", "the manifest"));
  ARROW_ASSIGN_OR_RAISE(manifest.duckdb_version,
                        Field<std::string>(doc, "duckdb_version", "the manifest"));
  ARROW_ASSIGN_OR_RAISE(manifest.files, ParseFiles(doc));
  ARROW_ASSIGN_OR_RAISE(manifest.tables, ParseTables(doc));
  ARROW_ASSIGN_OR_RAISE(manifest.request_ids,
                        Field<std::vector<std::string>>(doc, "request_ids", "the manifest"));
  ARROW_RETURN_NOT_OK(manifest.File(kBackupDatabaseFile).status());
  return manifest;
}

arrow::Result<BackupFile> BackupManifest::File(const std::string& name) const {
  for (const auto& file : files) {
    if (file.name == name) return file;
  }
  return arrow::Status::KeyError("backup manifest: no file '", name, "'");
}

arrow::Status CheckTables(const BackupManifest& manifest,
                          const std::vector<BackupTable>& found) {
  std::map<std::string, const BackupTable*> expected;
  for (const auto& table : manifest.tables) expected[TableName(table)] = &table;
  for (const auto& table : found) {
    auto it = expected.find(TableName(table));
    if (it == expected.end()) {
      return arrow::Status::Invalid("backup check: table ", TableName(table),
                                    " is in the database but not in the manifest");
    }
    if (it->second->rows != table.rows || it->second->checksum != table.checksum) {
      return arrow::Status::Invalid(
          "backup check: table ", TableName(table), " holds ", table.rows,
          " rows (checksum ", table.checksum, ") but the manifest says ", it->second->rows,
          " rows (checksum ", it->second->checksum, ")");
    }
    expected.erase(it);
  }
  if (!expected.empty()) {
    return arrow::Status::Invalid("backup check: table ", expected.begin()->first,
                                  " is in the manifest but not in the database");
  }
  return arrow::Status::OK();
}

}  // namespace arrowport::query
