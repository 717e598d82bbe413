// DuckLakeLog's reads: a table's snapshot from the catalog tables (specification 1.0,
// "Queries: Reading"), and what LakeTable asks of a log besides commits.

#include "arrowport/lake/ducklake_log.h"

#include <charconv>
#include <set>

#include <nlohmann/json.hpp>

#include "arrow/type.h"
#include "arrow/util/key_value_metadata.h"
#include "arrowport/lake/delta_schema.h"
#include "arrowport/lake/ducklake_sql.h"
#include "arrowport/lake/ducklake_types.h"

namespace arrowport::lake {

namespace {

// The marker Arrowport's commits leave in ducklake_snapshot_changes.commit_extra_info.
constexpr const char* kMarkerPrefix = "{\"arrowport\":";

// A path as the catalog resolves it: relative ones under `base`.
std::string Resolve(const CatalogValue& path, const CatalogValue& relative,
                    const std::string& base) {
  const std::string text = path.value_or("");
  return IsTrue(relative) ? base + text : text;
}

}  // namespace

std::map<std::string, int64_t> PlannedColumnIds(const Snapshot& base,
                                                const arrow::Schema& table_schema) {
  std::map<std::string, int64_t> ids;
  int64_t next = base.ducklake ? base.ducklake->max_column_id + 1 : 1;
  if (base.version < 0) next = 1;
  for (const auto& field : table_schema.fields()) {
    if (base.version >= 0 && base.ducklake) {
      auto it = base.ducklake->column_ids.find(field->name());
      if (it != base.ducklake->column_ids.end()) {
        ids[field->name()] = it->second;
        continue;
      }
    }
    ids[field->name()] = next++;
  }
  return ids;
}

std::shared_ptr<arrow::Schema> WithFieldIds(const arrow::Schema& schema,
                                            const std::map<std::string, int64_t>& ids) {
  arrow::FieldVector fields;
  for (const auto& field : schema.fields()) {
    auto it = ids.find(field->name());
    if (it == ids.end()) {
      fields.push_back(field);
      continue;
    }
    fields.push_back(field->WithMetadata(
        arrow::key_value_metadata({"PARQUET:field_id"}, {std::to_string(it->second)})));
  }
  return arrow::schema(std::move(fields));
}

DuckLakeLog::DuckLakeLog(DuckLakeTableName name) : name_(std::move(name)) {}
DuckLakeLog::~DuckLakeLog() = default;

arrow::Result<CatalogConnection*> DuckLakeLog::Connect() {
  if (connection_ && !connection_->healthy()) connection_.reset();
  if (!connection_) {
    ARROW_ASSIGN_OR_RAISE(connection_, OpenCatalog(name_.catalog));
  }
  return connection_.get();
}

arrow::Result<bool> DuckLakeLog::Initialized(CatalogConnection* catalog) {
  const bool sqlite = std::string(catalog->dialect()) == "sqlite";
  ARROW_ASSIGN_OR_RAISE(
      auto rows,
      catalog->Query(sqlite ? "SELECT name FROM sqlite_master WHERE type = 'table' AND "
                              "name = 'ducklake_snapshot'"
                            : "SELECT to_regclass('ducklake_snapshot')::text"));
  return !rows.empty() && rows[0][0].has_value();
}

arrow::Status DuckLakeLog::ReadSnapshot(CatalogConnection* catalog, int64_t at,
                                        Snapshot* snapshot) {
  auto info = std::make_shared<DuckLakeTableInfo>();
  const int64_t from = snapshot->ducklake ? snapshot->ducklake->catalog_snapshot
                                          : snapshot->version;
  ARROW_ASSIGN_OR_RAISE(const bool initialized, Initialized(catalog));
  if (!initialized) {
    snapshot->ducklake = info;
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(auto latest,
                        catalog->Query("SELECT max(snapshot_id) FROM ducklake_snapshot "
                                       "WHERE snapshot_id <= ?",
                                       {std::to_string(at)}));
  if (latest.empty() || !latest[0][0]) {
    snapshot->ducklake = info;
    return arrow::Status::OK();
  }
  ARROW_ASSIGN_OR_RAISE(const int64_t s, ToInt(latest[0][0]));
  info->catalog_snapshot = s;
  ARROW_ASSIGN_OR_RAISE(const CatalogSettings settings, ReadSettings(catalog));
  const std::string S = std::to_string(s);
  // The table, and its folder as the catalog resolves it.
  ARROW_ASSIGN_OR_RAISE(
      auto tables,
      catalog->Query("SELECT t.table_id, t.table_uuid, t.path, t.path_is_relative, s.path, "
                     "s.path_is_relative FROM ducklake_table t JOIN ducklake_schema s ON "
                     "s.schema_id = t.schema_id WHERE s.schema_name = ? AND t.table_name = ? "
                     "AND " + Visible("t") + " AND " + Visible("s"),
                     {name_.schema, name_.table, S, S, S, S}));
  // Commits of request ids since the snapshot read last (kept from it).
  ARROW_ASSIGN_OR_RAISE(
      auto marks,
      catalog->Query("SELECT snapshot_id, commit_extra_info FROM ducklake_snapshot_changes "
                     "WHERE snapshot_id > ? AND snapshot_id <= ? AND commit_extra_info "
                     "LIKE '{\"arrowport\":%' ORDER BY snapshot_id",
                     {std::to_string(from), S}));
  for (const auto& mark : marks) {
    const auto parsed = ParseMarker(mark[1].value_or(""));
    if (!parsed || parsed->table != name_.schema + "." + name_.table) continue;
    if (!parsed->app_id.empty()) {
      snapshot->app_versions[parsed->app_id] = parsed->txn_version;
      snapshot->app_counts[parsed->app_id] = {parsed->rows, parsed->batches};
    }
  }
  snapshot->files.clear();
  snapshot->tombstones.clear();
  snapshot->schema = nullptr;
  snapshot->metadata = Metadata{};
  snapshot->protocol = Protocol{};
  snapshot->version = -1;
  if (tables.empty()) {
    snapshot->ducklake = info;
    return arrow::Status::OK();
  }
  const auto& table = tables[0];
  ARROW_ASSIGN_OR_RAISE(info->table_id, ToInt(table[0]));
  const std::string T = std::to_string(info->table_id);
  snapshot->version = s;
  snapshot->metadata.id = table[1].value_or("");
  const std::string folder = Resolve(table[2], table[3], Resolve(table[4], table[5],
                                                                 settings.data_path));
  const std::string expected = name_.data_path + name_.schema + "/" + name_.table + "/";
  auto refuse_both = [&](const std::string& why) {
    if (info->unreadable.empty()) info->unreadable = why;
    if (info->unwritable.empty()) info->unwritable = why;
  };
  auto refuse = [&](const std::string& why) {
    if (info->refused.empty()) info->refused = why;
  };
  if (settings.data_path != name_.data_path) {
    refuse("the DuckLake's data path is '" + settings.data_path +
                "' in its catalog, not the configured '" + name_.data_path + "'");
  } else if (folder != expected) {
    refuse("the table's folder is '" + folder + "' in the catalog, not '" + expected +
                "' where Arrowport reads and writes it");
  }
  if (settings.encrypted) refuse("the DuckLake encrypts its files, which Arrowport does not");
  if (!info->refused.empty()) {
    // Its files are elsewhere: nothing of it is read (or checked) here.
    snapshot->ducklake = info;
    return arrow::Status::OK();
  }
  if (!settings.writable_version.empty()) info->unwritable = settings.writable_version;
  // Columns: the live top-level ones, in order; every id the table ever used.
  ARROW_ASSIGN_OR_RAISE(
      auto columns,
      catalog->Query("SELECT column_id, column_name, column_type, nulls_allowed, parent_column "
                     "FROM ducklake_column WHERE table_id = ? AND " + Visible("ducklake_column") +
                     " ORDER BY column_order, column_id",
                     {T, S, S}));
  ARROW_ASSIGN_OR_RAISE(auto most, catalog->Query("SELECT max(column_id) FROM ducklake_column "
                                                  "WHERE table_id = ?", {T}));
  if (!most.empty() && most[0][0]) {
    ARROW_ASSIGN_OR_RAISE(info->max_column_id, ToInt(most[0][0]));
  }
  arrow::FieldVector fields;
  std::map<int64_t, std::string> names_by_id;
  for (const auto& column : columns) {
    if (column[4]) {  // a nested type's child
      refuse_both("it has nested columns, which Arrowport does not read or write yet");
      continue;
    }
    ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(column[0]));
    const std::string name = column[1].value_or("");
    auto type = ArrowTypeOfDuckLake(column[2].value_or(""));
    if (!type.ok()) {
      refuse_both("column '" + name + "': " + type.status().message());
      continue;
    }
    if (!DuckLakeTypeName(**type, name).ok()) {
      if (info->unwritable.empty()) {
        info->unwritable = "column '" + name + "' has type " + column[2].value_or("") +
                           ", which Arrowport does not write";
      }
    }
    info->column_ids[name] = id;
    names_by_id[id] = name;
    fields.push_back(arrow::field(name, *type, !column[3] || IsTrue(column[3])));
  }
  snapshot->schema = arrow::schema(std::move(fields));
  auto delta_schema = ToDeltaSchemaString(*snapshot->schema);
  snapshot->metadata.schema_string = delta_schema.ok() ? *delta_schema : "";
  // Partitioning: identity keys name their columns; any other transform is not written.
  ARROW_ASSIGN_OR_RAISE(
      auto keys,
      catalog->Query("SELECT c.column_id, c.\"transform\", i.partition_id FROM "
                     "ducklake_partition_info i JOIN "
                     "ducklake_partition_column c ON c.partition_id = i.partition_id AND "
                     "c.table_id = i.table_id WHERE i.table_id = ? AND " + Visible("i") +
                     " ORDER BY c.partition_key_index",
                     {T, S, S}));
  CatalogValue partition_id;  // the live partitioning's id (none: unpartitioned)
  for (const auto& key : keys) {
    partition_id = key[2];
    ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(key[0]));
    if (key[1].value_or("") != "identity" || names_by_id.count(id) == 0) {
      if (info->unwritable.empty()) {
        info->unwritable = "it is partitioned by " + key[1].value_or("?") +
                           "(...), and Arrowport writes identity partitions only";
      }
      continue;
    }
    snapshot->metadata.partition_columns.push_back(names_by_id[id]);
  }
  // The live data files, and their partition values under the live partitioning.
  ARROW_ASSIGN_OR_RAISE(
      auto files,
      catalog->Query("SELECT data_file_id, path, path_is_relative, record_count, "
                     "file_size_bytes, partition_id, row_id_start FROM ducklake_data_file "
                     "WHERE table_id = ? "
                     "AND " + Visible("ducklake_data_file") + " ORDER BY file_order, data_file_id",
                     {T, S, S}));
  std::map<int64_t, std::string> path_of_file;
  const auto& partitioning = snapshot->metadata.partition_columns;
  info->partition_values_complete = !partitioning.empty() && partitioning.size() == keys.size();
  for (const auto& file : files) {
    auto key = DataFileKey(file[1].value_or(""), IsTrue(file[2]), folder);
    if (!key.ok()) {
      refuse_both(key.status().message());
      continue;
    }
    AddFile add;
    add.path = PathOfKey(*key);
    ARROW_ASSIGN_OR_RAISE(add.num_records, ToInt(file[3]));
    ARROW_ASSIGN_OR_RAISE(add.size, ToInt(file[4]));
    if (file[6]) {
      ARROW_ASSIGN_OR_RAISE(add.row_id_start, ToInt(file[6]));
    }
    if (file[5] != partition_id) info->partition_values_complete = false;
    ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(file[0]));
    path_of_file[id] = add.path;
    snapshot->files[add.path] = std::move(add);
  }
  if (info->partition_values_complete) {
    ARROW_ASSIGN_OR_RAISE(
        auto values,
        catalog->Query("SELECT v.data_file_id, v.partition_key_index, v.partition_value FROM "
                       "ducklake_file_partition_value v JOIN ducklake_data_file f ON "
                       "f.data_file_id = v.data_file_id WHERE f.table_id = ? AND " +
                       Visible("f"),
                       {T, S, S}));
    for (const auto& value : values) {
      ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(value[0]));
      ARROW_ASSIGN_OR_RAISE(const int64_t index, ToInt(value[1]));
      auto file = path_of_file.find(id);
      if (file == path_of_file.end() || index < 0 ||
          index >= static_cast<int64_t>(partitioning.size())) {
        continue;
      }
      snapshot->files[file->second].partition_values[partitioning[index]] = value[2];
    }
    for (const auto& [path, add] : snapshot->files) {
      if (add.partition_values.size() != partitioning.size()) {
        info->partition_values_complete = false;
      }
    }
  }
  ARROW_ASSIGN_OR_RAISE(
      auto deletes,
      catalog->Query("SELECT count(*) FROM ducklake_delete_file WHERE table_id = ? AND " +
                     Visible("ducklake_delete_file"), {T, S, S}));
  if (!deletes.empty() && deletes[0][0].value_or("0") != "0") {
    info->unreadable = "rows of it were deleted (DuckLake delete files), which Arrowport "
                       "does not read yet";
  }
  ARROW_RETURN_NOT_OK(ReadInlinedRows(catalog, info.get(), T, S));
  snapshot->ducklake = info;
  return arrow::Status::OK();
}

arrow::Status DuckLakeLog::Update(Snapshot* snapshot,
                                  std::vector<std::pair<int64_t, CommitActions>>* applied,
                                  int64_t up_to) {
  std::lock_guard<std::mutex> lock(mutex_);
  ARROW_ASSIGN_OR_RAISE(CatalogConnection * catalog, Connect());
  const int64_t from = snapshot->ducklake ? snapshot->ducklake->catalog_snapshot
                                          : snapshot->version;
  auto st = ReadSnapshot(catalog, up_to, snapshot);
  if (!st.ok() || applied == nullptr || !snapshot->ducklake) return st;
  // What happened since `from` (the conflict checks of a lost race, the search for a
  // commit whose answer was lost): each of our commits with its txn id, and the files
  // other commits added to this table.
  const int64_t to = snapshot->ducklake->catalog_snapshot;
  if (to <= from) return st;
  ARROW_ASSIGN_OR_RAISE(
      auto marks,
      catalog->Query("SELECT snapshot_id, commit_extra_info FROM ducklake_snapshot_changes "
                     "WHERE snapshot_id > ? AND snapshot_id <= ? ORDER BY snapshot_id",
                     {std::to_string(from), std::to_string(to)}));
  for (const auto& mark : marks) {
    ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(mark[0]));
    CommitActions commit;
    if (auto parsed = ParseMarker(mark[1].value_or(""))) {
      commit.txn_id = parsed->txn_id;
      if (!parsed->app_id.empty()) commit.txns.push_back({parsed->app_id, parsed->txn_version, 0});
    }
    applied->emplace_back(id, std::move(commit));
  }
  if (snapshot->ducklake->table_id >= 0) {
    ARROW_ASSIGN_OR_RAISE(
        auto added,
        catalog->Query("SELECT begin_snapshot, path FROM ducklake_data_file WHERE table_id = ? "
                       "AND begin_snapshot > ? AND begin_snapshot <= ? AND path_is_relative "
                       "IS NOT NULL",
                       {std::to_string(snapshot->ducklake->table_id), std::to_string(from),
                        std::to_string(to)}));
    for (const auto& row : added) {
      ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(row[0]));
      for (auto& [version, commit] : *applied) {
        if (version != id) continue;
        AddFile add;
        add.path = PathOfKey(row[1].value_or(""));
        commit.adds.push_back(std::move(add));
      }
    }
  }
  return st;
}

arrow::Result<bool> DuckLakeLog::HasNewer(int64_t version) {
  ARROW_ASSIGN_OR_RAISE(const int64_t newest, NewestVersion(version));
  return newest > version;
}

arrow::Result<int64_t> DuckLakeLog::NewestVersion(int64_t version) {
  std::lock_guard<std::mutex> lock(mutex_);
  ARROW_ASSIGN_OR_RAISE(CatalogConnection * catalog, Connect());
  ARROW_ASSIGN_OR_RAISE(const bool initialized, Initialized(catalog));
  if (!initialized) return version;
  ARROW_ASSIGN_OR_RAISE(auto rows, catalog->Query("SELECT max(snapshot_id) FROM ducklake_snapshot"));
  if (rows.empty() || !rows[0][0]) return version;
  ARROW_ASSIGN_OR_RAISE(const int64_t newest, ToInt(rows[0][0]));
  return std::max(newest, version);
}

arrow::Status DuckLakeLog::Landed(Snapshot* snapshot, const CommitActions& commit,
                                  int64_t version) {
  return Update(snapshot, nullptr, version);
}

arrow::Result<std::optional<std::pair<int64_t, int64_t>>> DuckLakeLog::FindTxnCounts(
    const std::string& app_id, int64_t txn_version, int64_t checkpoint_version) {
  // Every snapshot's counts are read with it (app_counts): nothing more to find.
  return std::nullopt;
}

}  // namespace arrowport::lake
