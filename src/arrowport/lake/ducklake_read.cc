// A DuckLake table's snapshot read from its catalog (specification 1.0, "Queries:
// Reading"): the table and its folder, its columns (read from files by field id) and
// partitioning, its live files with their partition values and deleted rows, what
// Arrowport cannot read, and the rows DuckDB keeps in the catalog.

#include <set>

#include "arrow/type.h"
#include "arrowport/lake/delta_schema.h"
#include "arrowport/lake/ducklake_sql.h"
#include "arrowport/lake/ducklake_types.h"

namespace arrowport::lake {

namespace {

// A path as the catalog resolves it: relative ones under `base`.
std::string ResolvedPath(const CatalogValue& path, const CatalogValue& relative,
                         const std::string& base) {
  const std::string text = path.value_or("");
  return IsTrue(relative) ? base + text : text;
}

class SnapshotReader {
 public:
  SnapshotReader(CatalogConnection* catalog, const DuckLakeTableName& name,
                 const SealKey& key, Snapshot* snapshot)
      : catalog_(catalog), name_(name), key_(key), snapshot_(snapshot),
        info_(std::make_shared<DuckLakeTableInfo>()) {
    info_->catalog_file = catalog_->file_identity();
  }

  arrow::Status Read(int64_t at) {
    const int64_t from = snapshot_->ducklake ? snapshot_->ducklake->catalog_snapshot
                                             : snapshot_->version;
    ARROW_ASSIGN_OR_RAISE(auto latest,
                          catalog_->Query("SELECT max(snapshot_id) FROM ducklake_snapshot "
                                          "WHERE snapshot_id <= ?",
                                          {std::to_string(at)}));
    snapshot_->ducklake = info_;
    if (latest.empty() || !latest[0][0]) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(const int64_t s, ToInt(latest[0][0]));
    info_->catalog_snapshot = s;
    S_ = std::to_string(s);
    ARROW_ASSIGN_OR_RAISE(settings_, ReadSettings(catalog_));
    ARROW_RETURN_NOT_OK(ReadMarks(from));
    snapshot_->files.clear();
    snapshot_->tombstones.clear();
    snapshot_->schema = nullptr;
    snapshot_->metadata = Metadata{};
    snapshot_->protocol = Protocol{};
    snapshot_->version = -1;
    ARROW_ASSIGN_OR_RAISE(const bool found, ReadTable());
    if (!found) return arrow::Status::OK();
    CheckSeals();
    if (!info_->refused.empty()) return arrow::Status::OK();
    snapshot_->version = s;
    if (!settings_.writable_version.empty()) info_->unwritable = settings_.writable_version;
    ARROW_RETURN_NOT_OK(ReadColumns());
    ARROW_RETURN_NOT_OK(ReadPartitioning());
    ARROW_RETURN_NOT_OK(ReadFiles());
    ARROW_RETURN_NOT_OK(ReadPartitionValues());
    ARROW_RETURN_NOT_OK(ReadFileDeletes(catalog_, T_, S_, folder_, path_of_file_, info_.get()));
    ARROW_RETURN_NOT_OK(ReadInlinedRows(catalog_, info_.get(), T_, S_));
    return RenameInlinedColumns();
  }

 private:
  // Why neither reads nor writes go on (the first reason found).
  void RefuseBoth(const std::string& why) {
    if (info_->unreadable.empty()) info_->unreadable = why;
    if (info_->unwritable.empty()) info_->unwritable = why;
  }

  // The request ids committed since the snapshot read last (kept from it); their seals
  // are checked once the table's table_uuid is known (CheckSeals).
  arrow::Status ReadMarks(int64_t from) {
    ARROW_ASSIGN_OR_RAISE(
        auto marks,
        catalog_->Query("SELECT snapshot_id, commit_extra_info FROM ducklake_snapshot_changes "
                        "WHERE snapshot_id > ? AND snapshot_id <= ? AND commit_extra_info "
                        "LIKE '{\"arrowport\":%' ORDER BY snapshot_id",
                        {std::to_string(from), S_}));
    for (const auto& mark : marks) {
      auto parsed = ParseMarker(mark[1].value_or(""));
      if (!parsed || parsed->table != name_.schema + "." + name_.table) continue;
      if (!parsed->app_id.empty()) {
        ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(mark[0]));
        snapshot_->app_versions[parsed->app_id] = parsed->txn_version;
        marks_.emplace_back(id, std::move(*parsed));
      }
    }
    return arrow::Status::OK();
  }

  // Which of the marks read are Arrowport's: each seal checked against the snapshot the
  // mark is in, the table's table_uuid and the table as configured. A marker another
  // writer copied into its own commit is in another snapshot; one retargeted to another
  // table (its text and that table's table_uuid rewritten) names another table: neither
  // verifies. (Not bound to the snapshot's data
  // files: DuckDB's ducklake_merge_adjacent_files rewrites them, the merged file taking
  // the first snapshot's begin_snapshot and the others' rows deleted.)
  void CheckSeals() {
    for (auto& [snapshot, marker] : marks_) {
      const std::string& app = marker.app_id;
      if (!marker.seal.empty() &&
          key_.Verifies(DuckLakeSealFacts(marker, snapshot, snapshot_->metadata.id, name_),
                        marker.seal)) {
        snapshot_->sealed_txns[app] =
            SealedTxn{marker.txn_version, marker.rows, marker.batches, snapshot};
        snapshot_->unsealed_txns.erase(app);
      } else {
        snapshot_->unsealed_txns[app].commit = snapshot;
      }
    }
    marks_.clear();
  }

  // The table and its folder as the catalog resolves it; false: no such table.
  arrow::Result<bool> ReadTable() {
    ARROW_ASSIGN_OR_RAISE(
        auto tables,
        catalog_->Query("SELECT t.table_id, t.table_uuid, t.path, t.path_is_relative, s.path, "
                        "s.path_is_relative FROM ducklake_table t JOIN ducklake_schema s ON "
                        "s.schema_id = t.schema_id WHERE s.schema_name = ? AND t.table_name = ? "
                        "AND " + Visible("t") + " AND " + Visible("s"),
                        {name_.schema, name_.table, S_, S_, S_, S_}));
    if (tables.empty()) return false;
    const auto& table = tables[0];
    ARROW_ASSIGN_OR_RAISE(info_->table_id, ToInt(table[0]));
    T_ = std::to_string(info_->table_id);
    snapshot_->metadata.id = table[1].value_or("");
    folder_ = ResolvedPath(table[2], table[3],
                           ResolvedPath(table[4], table[5], settings_.data_path));
    const std::string expected = name_.data_path + name_.schema + "/" + name_.table + "/";
    // Refused: its files are elsewhere, nothing of it is read (or checked) here.
    info_->refused = settings_.RefusalFor(name_.data_path);
    if (info_->refused.empty() && folder_ != expected) {
      info_->refused = "the table's folder is '" + folder_ + "' in the catalog, not '" +
                       expected + "' where Arrowport reads and writes it";
    }
    return true;
  }

  // The live top-level columns in order, their ids and defaults for older files, and
  // every id the table used.
  arrow::Status ReadColumns() {
    ARROW_ASSIGN_OR_RAISE(
        auto columns,
        catalog_->Query("SELECT column_id, column_name, column_type, nulls_allowed, "
                        "parent_column, initial_default FROM ducklake_column c WHERE "
                        "table_id = ? AND " + Visible("c") + " ORDER BY column_order, column_id",
                        {T_, S_, S_}));
    arrow::FieldVector fields;
    for (const auto& column : columns) {
      if (column[4]) {  // a nested type's child
        RefuseBoth("it has nested columns, which Arrowport does not read or write yet");
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(column[0]));
      const std::string name = column[1].value_or("");
      const std::string type_name = column[2].value_or("");
      auto type = ArrowTypeOfDuckLake(type_name);
      if (!type.ok()) {
        RefuseBoth("column '" + name + "': " + type.status().message());
        continue;
      }
      if (!DuckLakeTypeName(**type, name).ok() || type_name == "uuid" || type_name == "json") {
        if (info_->unwritable.empty()) {
          info_->unwritable = "column '" + name + "' has type " + type_name +
                              ", which Arrowport does not write";
        }
      }
      // SQL NULL: no default; the text 'NULL' is a string default.
      if (column[5]) info_->initial_defaults[name] = *column[5];
      info_->column_ids[name] = id;
      names_by_id_[id] = name;
      fields.push_back(arrow::field(name, *type, !column[3] || IsTrue(column[3])));
    }
    snapshot_->schema = arrow::schema(std::move(fields));
    auto delta_schema = ToDeltaSchemaString(*snapshot_->schema);
    snapshot_->metadata.schema_string = delta_schema.ok() ? *delta_schema : "";
    return ReadColumnHistory();
  }

  // Whether a column was renamed, or a name given to another column since (dropped and
  // added again): files read by field id, but rows inlined under older names need them
  // mapped (RenameInlinedColumns).
  arrow::Status ReadColumnHistory() {
    ARROW_ASSIGN_OR_RAISE(auto history,
                          catalog_->Query("SELECT column_id, column_name FROM ducklake_column "
                                          "WHERE table_id = ? AND parent_column IS NULL",
                                          {T_}));
    std::map<std::string, std::set<std::string>> names_of_id, ids_of_name;
    for (const auto& row : history) {
      names_of_id[row[0].value_or("")].insert(row[1].value_or(""));
      ids_of_name[row[1].value_or("")].insert(row[0].value_or(""));
      info_->max_column_id = std::max(info_->max_column_id, ToInt(row[0]).ValueOr(0));
    }
    for (const auto& [name, ids] : ids_of_name) {
      if (ids.size() > 1 || names_of_id[*ids.begin()].size() > 1) renamed_ = true;
    }
    return arrow::Status::OK();
  }

  // Identity keys name their columns; any other transform is read, not written.
  arrow::Status ReadPartitioning() {
    ARROW_ASSIGN_OR_RAISE(
        auto keys,
        catalog_->Query("SELECT c.column_id, c.\"transform\", i.partition_id FROM "
                        "ducklake_partition_info i JOIN ducklake_partition_column c ON "
                        "c.partition_id = i.partition_id AND c.table_id = i.table_id WHERE "
                        "i.table_id = ? AND " + Visible("i") + " ORDER BY c.partition_key_index",
                        {T_, S_, S_}));
    key_count_ = keys.size();
    for (const auto& key : keys) {
      partition_id_ = key[2];
      ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(key[0]));
      if (key[1].value_or("") != "identity" || names_by_id_.count(id) == 0) {
        if (info_->unwritable.empty()) {
          info_->unwritable = "it is partitioned by " + key[1].value_or("?") +
                              "(...), and Arrowport writes identity partitions only";
        }
        continue;
      }
      snapshot_->metadata.partition_columns.push_back(names_by_id_[id]);
    }
    return arrow::Status::OK();
  }

  // The live data files (a file of an older partitioning leaves the values incomplete).
  arrow::Status ReadFiles() {
    ARROW_ASSIGN_OR_RAISE(
        auto files,
        catalog_->Query("SELECT data_file_id, path, path_is_relative, record_count, "
                        "file_size_bytes, partition_id, row_id_start, partial_max, mapping_id "
                        "FROM ducklake_data_file f WHERE table_id = ? AND " + Visible("f") +
                        " ORDER BY file_order, data_file_id",
                        {T_, S_, S_}));
    const auto& partitioning = snapshot_->metadata.partition_columns;
    info_->partition_values_complete =
        !partitioning.empty() && partitioning.size() == key_count_;
    for (const auto& file : files) {
      auto key = DataFileKey(file[1].value_or(""), IsTrue(file[2]), folder_);
      if (!key.ok()) {
        RefuseBoth(key.status().message());
        continue;
      }
      // A merged file holds rows of several snapshots: all of them are visible from its
      // newest on (older snapshots are not read).
      if (file[7] && ToInt(file[7]).ValueOr(INT64_MAX) > info_->catalog_snapshot) {
        RefuseRead("its file " + file[1].value_or("") + " holds rows of snapshots up to " +
                   file[7].value_or("") + ", newer than the snapshot read (" + S_ +
                   "): read it again");
      }
      if (file[8]) {
        RefuseRead("it has files added without field ids (ducklake_add_data_files), which "
                   "Arrowport does not read");
      }
      AddFile add;
      add.path = PathOfKey(*key);
      ARROW_ASSIGN_OR_RAISE(add.num_records, ToInt(file[3]));
      ARROW_ASSIGN_OR_RAISE(add.size, ToInt(file[4]));
      if (file[6]) {
        ARROW_ASSIGN_OR_RAISE(add.row_id_start, ToInt(file[6]));
      }
      if (file[5] != partition_id_) info_->partition_values_complete = false;
      ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(file[0]));
      path_of_file_[id] = add.path;
      snapshot_->files[add.path] = std::move(add);
    }
    return arrow::Status::OK();
  }

  arrow::Status ReadPartitionValues() {
    if (!info_->partition_values_complete) return arrow::Status::OK();
    const auto& partitioning = snapshot_->metadata.partition_columns;
    ARROW_ASSIGN_OR_RAISE(
        auto values,
        catalog_->Query("SELECT v.data_file_id, v.partition_key_index, v.partition_value FROM "
                        "ducklake_file_partition_value v JOIN ducklake_data_file f ON "
                        "f.data_file_id = v.data_file_id WHERE f.table_id = ? AND " +
                        Visible("f"),
                        {T_, S_, S_}));
    for (const auto& value : values) {
      ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(value[0]));
      ARROW_ASSIGN_OR_RAISE(const int64_t index, ToInt(value[1]));
      auto file = path_of_file_.find(id);
      if (file == path_of_file_.end() || index < 0 ||
          index >= static_cast<int64_t>(partitioning.size())) {
        continue;
      }
      snapshot_->files[file->second].partition_values[partitioning[index]] = value[2];
    }
    for (const auto& [path, add] : snapshot_->files) {
      if (add.partition_values.size() != partitioning.size()) {
        info_->partition_values_complete = false;
      }
    }
    return arrow::Status::OK();
  }

  // Rows inlined under a schema version whose columns had other names: each name as of
  // that version (the table's columns since its last change up to it), by its column id,
  // becomes the column's name now (a column dropped since is left out).
  arrow::Status RenameInlinedColumns() {
    if (!renamed_) return arrow::Status::OK();
    for (auto& block : info_->inlined) {
      ARROW_ASSIGN_OR_RAISE(
          auto began,
          catalog_->Query("SELECT max(begin_snapshot) FROM ducklake_schema_versions WHERE "
                          "table_id = ? AND schema_version <= ?",
                          {T_, std::to_string(block.schema_version)}));
      if (began.empty() || !began[0][0]) {
        // No row for it (a catalog migrated from an older format): the table's columns
        // as it was created, as DuckDB falls back to.
        ARROW_ASSIGN_OR_RAISE(began, catalog_->Query("SELECT min(begin_snapshot) FROM "
                                                     "ducklake_table WHERE table_id = ?",
                                                     {T_}));
      }
      if (began.empty() || !began[0][0]) {
        RefuseRead("its rows inlined under schema version " +
                   std::to_string(block.schema_version) + " name columns the catalog no "
                   "longer describes (CALL ducklake_flush_inlined_data to write them out)");
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(
          auto columns,
          catalog_->Query("SELECT column_id, column_name FROM ducklake_column c WHERE "
                          "table_id = ? AND parent_column IS NULL AND " + Visible("c"),
                          {T_, *began[0][0], *began[0][0]}));
      std::map<std::string, int64_t> id_of_name;
      for (const auto& column : columns) {
        ARROW_ASSIGN_OR_RAISE(id_of_name[column[1].value_or("")], ToInt(column[0]));
      }
      for (auto& name : block.columns) {
        auto id = id_of_name.find(name);
        auto now = id == id_of_name.end() ? names_by_id_.end() : names_by_id_.find(id->second);
        name = now == names_by_id_.end() ? std::string() : now->second;
      }
    }
    return arrow::Status::OK();
  }

  // Why its rows are not read (appends go on): the first reason found.
  void RefuseRead(const std::string& why) {
    if (info_->unreadable_rows.empty()) info_->unreadable_rows = why;
  }

  CatalogConnection* const catalog_;
  const DuckLakeTableName& name_;
  const SealKey& key_;
  Snapshot* const snapshot_;
  const std::shared_ptr<DuckLakeTableInfo> info_;
  CatalogSettings settings_;
  std::string S_, T_, folder_;
  std::map<int64_t, std::string> names_by_id_;
  CatalogValue partition_id_;  // the live partitioning's (none: unpartitioned)
  size_t key_count_ = 0;
  bool renamed_ = false;
  std::map<int64_t, std::string> path_of_file_;
  std::vector<std::pair<int64_t, CommitMarker>> marks_;  // by snapshot, ascending
};

}  // namespace

arrow::Status ReadDuckLakeSnapshot(CatalogConnection* catalog, const DuckLakeTableName& name,
                                   int64_t at, const SealKey& key, Snapshot* snapshot) {
  return SnapshotReader(catalog, name, key, snapshot).Read(at);
}

}  // namespace arrowport::lake
