// DuckLakeLog's commits: one catalog transaction adds the next snapshot with the table
// (when new), its new columns, the data files with their statistics and partition values,
// the table's statistics and the request id (specification 1.0, "Queries: Writing"),
// after checking that nothing committed since the plan's snapshot conflicts with it.

#include <algorithm>
#include <set>

#include "arrow/type.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/lake/delta_schema.h"
#include "arrowport/lake/ducklake_commit.h"
#include "arrowport/lake/ducklake_log.h"
#include "arrowport/lake/ducklake_sql.h"
#include "arrowport/lake/ducklake_types.h"
#include "arrowport/lake/lake_files.h"

namespace arrowport::lake {

arrow::Result<int64_t> DuckLakeLog::CommitAt(int64_t version, const CommitActions& commit) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto connected = Connect();
  if (!connected.ok()) {
    return WithErrorKind(connected.status(), ErrorKind::kStoreUnavailable);
  }
  CatalogConnection* catalog = *connected;
  // Whatever fails before COMMIT is rolled back: nothing landed. An error of COMMIT
  // itself (the connection lost) leaves the outcome to be read back (LakeTable::Resolve).
  auto not_landed = [&](const arrow::Status& st) {
    catalog->Rollback();
    if (st.IsAlreadyExists() || st.IsNotImplemented() || GetErrorKind(st) != nullptr) return st;
    if (st.IsIOError()) {
      return WithErrorKind(st.WithMessage(st.message(), " (nothing was committed)"),
                           ErrorKind::kStoreUnavailable);
    }
    return WithErrorKind(st, ErrorKind::kTableRefused);
  };
  auto begun = catalog->Begin();
  if (!begun.ok()) return not_landed(begun);
  auto landed = Commit(catalog, version, commit);
  if (!landed.ok()) return not_landed(landed.status());
  auto committed = catalog->Commit();
  if (!committed.ok()) {
    catalog->Rollback();
    if (committed.IsAlreadyExists()) return committed;
    return committed;  // IOError without a kind: the outcome is read back
  }
  return *landed;
}

arrow::Result<int64_t> DuckLakeLog::Commit(CatalogConnection* catalog, int64_t version,
                                           const CommitActions& commit) {
  const std::string now = SnapshotTimeNow();
  const int64_t base = version - 1;  // the snapshot planned on; -1: the table did not exist
  ARROW_ASSIGN_OR_RAISE(const bool initialized, Initialized(catalog));
  if (!initialized) {
    if (base >= 0) {
      return TableRefused("the DuckLake catalog ", catalog->name(),
                          " has no DuckLake tables any more");
    }
    ARROW_RETURN_NOT_OK(InitializeDuckLakeCatalog(catalog, name_.data_path, now));
  }
  ARROW_ASSIGN_OR_RAISE(const CatalogSettings settings, ReadSettings(catalog));
  if (!settings.writable_version.empty()) {
    // As a snapshot read after the change says it (Snapshot::CheckWritable).
    return arrow::Status::NotImplemented("Arrowport does not write this DuckLake table: ",
                                         settings.writable_version);
  }
  if (settings.data_path != name_.data_path) {
    return TableRefused("the DuckLake's data path is '", settings.data_path,
                        "' in its catalog, not the configured '", name_.data_path, "'");
  }
  if (settings.encrypted) {
    return TableRefused("the DuckLake encrypts its files, which Arrowport does not");
  }
  ARROW_ASSIGN_OR_RAISE(
      auto latest_rows,
      catalog->Query("SELECT snapshot_id, schema_version, next_catalog_id, next_file_id FROM "
                     "ducklake_snapshot WHERE snapshot_id = (SELECT max(snapshot_id) FROM "
                     "ducklake_snapshot)"));
  if (latest_rows.empty()) return TableRefused("the DuckLake catalog has no snapshot");
  ARROW_ASSIGN_OR_RAISE(const int64_t latest, ToInt(latest_rows[0][0]));
  ARROW_ASSIGN_OR_RAISE(int64_t schema_version, ToInt(latest_rows[0][1]));
  ARROW_ASSIGN_OR_RAISE(int64_t next_catalog_id, ToInt(latest_rows[0][2]));
  ARROW_ASSIGN_OR_RAISE(int64_t next_file_id, ToInt(latest_rows[0][3]));
  if (latest < base) {
    return TableRefused("the DuckLake catalog's latest snapshot ", latest,
                        " is older than snapshot ", base, " read before");
  }
  const int64_t snapshot_id = latest + 1;
  const std::string S = std::to_string(snapshot_id), L = std::to_string(latest);
  // The snapshot row first: a writer racing for the same id waits here, then fails on
  // the primary key (its counters are set last, once known).
  ARROW_RETURN_NOT_OK(catalog->Execute(
      "INSERT INTO ducklake_snapshot (snapshot_id, snapshot_time, schema_version, "
      "next_catalog_id, next_file_id) VALUES (?, ?, ?, ?, ?)",
      {S, now, std::to_string(schema_version), std::to_string(next_catalog_id),
       std::to_string(next_file_id)}).status());
  std::vector<std::string> changes;
  // The schema and table as of the latest snapshot.
  ARROW_ASSIGN_OR_RAISE(auto schemas,
                        catalog->Query("SELECT schema_id FROM ducklake_schema s WHERE "
                                       "schema_name = ? AND " + Visible("s"),
                                       {name_.schema, L, L}));
  int64_t schema_id = -1, table_id = -1;
  bool created = false;  // the table is made by this commit
  if (!schemas.empty()) {
    ARROW_ASSIGN_OR_RAISE(schema_id, ToInt(schemas[0][0]));
    ARROW_ASSIGN_OR_RAISE(auto tables,
                          catalog->Query("SELECT table_id FROM ducklake_table t WHERE "
                                         "schema_id = ? AND table_name = ? AND " + Visible("t"),
                                         {std::to_string(schema_id), name_.table, L, L}));
    if (!tables.empty()) {
    ARROW_ASSIGN_OR_RAISE(table_id, ToInt(tables[0][0]));
  }
  }
  if (base < 0 && table_id >= 0) {
    return arrow::Status::AlreadyExists("the DuckLake table ", name_.schema, ".", name_.table,
                                        " was created by another writer meanwhile");
  }
  if (base >= 0) {
    if (table_id < 0) {
      return arrow::Status::AlreadyExists("the DuckLake table ", name_.schema, ".", name_.table,
                                          " was dropped by another writer meanwhile");
    }
    // What others committed since the plan's snapshot: appends go with ours; a change
    // of the table's columns, partitioning or rows, or the table made anew, does not.
    ARROW_ASSIGN_OR_RAISE(auto since,
                          catalog->Query("SELECT changes_made FROM ducklake_snapshot_changes "
                                         "WHERE snapshot_id > ? AND snapshot_id <= ?",
                                         {std::to_string(base), L}));
    const std::string T = std::to_string(table_id);
    const std::string created = QuotedName(name_.schema) + "." + QuotedName(name_.table);
    for (const auto& row : since) {
      for (const auto& [kind, value] : ParseChanges(row[0].value_or(""))) {
        const bool ours = value == T;
        if ((ours && (kind == "altered_table" || kind == "dropped_table" ||
                      kind == "deleted_from_table" || kind == "inlined_delete" ||
                      kind == "rewrite_delete" || kind == "merge_adjacent" ||
                      kind == "compacted_table")) ||
            (kind == "created_table" && value == created) ||
            (ours && !commit.removes.empty() &&
             (kind == "inserted_into_table" || kind == "inlined_insert"))) {
          return arrow::Status::AlreadyExists("another writer changed the DuckLake table ",
                                              name_.schema, ".", name_.table, " meanwhile (",
                                              kind, ")");
        }
      }
    }
  }
  // The table's columns as of now.
  std::map<std::string, LiveColumn> live;
  int64_t max_column_id = 0;
  int64_t partition_id = -1;
  std::vector<std::string> partition_columns;
  if (table_id < 0) {
    if (!commit.metadata) {
      return arrow::Status::Invalid("a first commit to the DuckLake table ", name_.table,
                                    " holds no schema");
    }
    if (schema_id < 0) {
      schema_id = next_catalog_id++;
      ARROW_RETURN_NOT_OK(catalog->Execute(
          "INSERT INTO ducklake_schema (schema_id, schema_uuid, begin_snapshot, end_snapshot, "
          "schema_name, path, path_is_relative) VALUES (?, ?, ?, NULL, ?, ?, ?)",
          {std::to_string(schema_id), NewUuid(), S, name_.schema, name_.schema + "/",
           BoolParam(catalog, true)}).status());
      changes.push_back("created_schema:" + QuotedName(name_.schema));
    }
    table_id = next_catalog_id++;
    created = true;
    ARROW_RETURN_NOT_OK(catalog->Execute(
        "INSERT INTO ducklake_table (table_id, table_uuid, begin_snapshot, end_snapshot, "
        "schema_id, table_name, path, path_is_relative) VALUES (?, ?, ?, NULL, ?, ?, ?, ?)",
        {std::to_string(table_id), NewUuid(), S, std::to_string(schema_id), name_.table,
         name_.table + "/", BoolParam(catalog, true)}).status());
    changes.push_back("created_table:" + QuotedName(name_.schema) + "." + QuotedName(name_.table));
    ARROW_RETURN_NOT_OK(catalog->Execute(
        "INSERT INTO ducklake_table_stats (table_id, record_count, next_row_id, "
        "file_size_bytes) VALUES (?, 0, 0, 0)",
        {std::to_string(table_id)}).status());
  } else {
    ARROW_ASSIGN_OR_RAISE(
        auto columns,
        catalog->Query("SELECT column_id, column_name, column_type, parent_column FROM "
                       "ducklake_column c WHERE table_id = ? AND " + Visible("c"),
                       {std::to_string(table_id), L, L}));
    for (const auto& column : columns) {
      if (column[3]) continue;
      ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(column[0]));
      ARROW_ASSIGN_OR_RAISE(auto type, ArrowTypeOfDuckLake(column[2].value_or("")));
      live[column[1].value_or("")] = LiveColumn{id, type};
    }
    ARROW_ASSIGN_OR_RAISE(auto most, catalog->Query("SELECT max(column_id) FROM ducklake_column "
                                                    "WHERE table_id = ?",
                                                    {std::to_string(table_id)}));
    if (!most.empty() && most[0][0]) {
    ARROW_ASSIGN_OR_RAISE(max_column_id, ToInt(most[0][0]));
  }
    ARROW_ASSIGN_OR_RAISE(
        auto parts,
        catalog->Query("SELECT i.partition_id, c.column_id FROM ducklake_partition_info i JOIN "
                       "ducklake_partition_column c ON c.partition_id = i.partition_id AND "
                       "c.table_id = i.table_id WHERE i.table_id = ? AND " + Visible("i") +
                       " ORDER BY c.partition_key_index",
                       {std::to_string(table_id), L, L}));
    for (const auto& part : parts) {
      ARROW_ASSIGN_OR_RAISE(partition_id, ToInt(part[0]));
      ARROW_ASSIGN_OR_RAISE(const int64_t column_id, ToInt(part[1]));
      for (const auto& [name, column] : live) {
        if (column.id == column_id) partition_columns.push_back(name);
      }
    }
  }
  // Columns: a new table's, or the ones this commit adds. Each must get the id its files
  // were written with.
  bool schema_changed = false;
  if (commit.metadata) {
    ARROW_ASSIGN_OR_RAISE(auto schema, FromDeltaSchemaString(commit.metadata->schema_string));
    for (const auto& field : schema->fields()) {
      auto planned = commit.column_ids.find(field->name());
      if (planned == commit.column_ids.end()) {
        return arrow::Status::Invalid("the commit names no field id for column '",
                                      field->name(), "'");
      }
      auto have = live.find(field->name());
      if (have != live.end()) {
        if (have->second.id != planned->second) {
          return RetryableConflict("another writer changed the columns of the DuckLake table ",
                                   name_.table, " meanwhile; nothing was committed");
        }
        continue;
      }
      if (planned->second != max_column_id + 1) {
        return RetryableConflict("another writer added columns to the DuckLake table ",
                                 name_.table, " meanwhile; nothing was committed");
      }
      ARROW_ASSIGN_OR_RAISE(const std::string type, DuckLakeTypeName(*field->type(), field->name()));
      max_column_id = planned->second;
      ARROW_RETURN_NOT_OK(catalog->Execute(
          "INSERT INTO ducklake_column (column_id, begin_snapshot, end_snapshot, table_id, "
          "column_order, column_name, column_type, initial_default, default_value, "
          "nulls_allowed, parent_column, default_value_type, default_value_dialect) VALUES "
          "(?, ?, NULL, ?, ?, ?, ?, NULL, 'NULL', ?, NULL, 'literal', 'duckdb')",
          {std::to_string(planned->second), S, std::to_string(table_id),
           std::to_string(planned->second), field->name(), type,
           BoolParam(catalog, field->nullable())}).status());
      live[field->name()] = LiveColumn{planned->second, field->type()};
      schema_changed = true;
    }
    if (created && !commit.metadata->partition_columns.empty()) {
      // A new table's partitioning (an existing one keeps its own: the plan checked it).
      partition_id = next_catalog_id++;
      ARROW_RETURN_NOT_OK(catalog->Execute(
          "INSERT INTO ducklake_partition_info (partition_id, table_id, begin_snapshot, "
          "end_snapshot) VALUES (?, ?, ?, NULL)",
          {std::to_string(partition_id), std::to_string(table_id), S}).status());
      int64_t index = 0;
      for (const auto& column : commit.metadata->partition_columns) {
        ARROW_RETURN_NOT_OK(catalog->Execute(
            "INSERT INTO ducklake_partition_column (partition_id, table_id, "
            "partition_key_index, column_id, \"transform\") VALUES (?, ?, ?, ?, 'identity')",
            {std::to_string(partition_id), std::to_string(table_id), std::to_string(index++),
             std::to_string(live[column].id)}).status());
      }
      partition_columns = commit.metadata->partition_columns;
    }
    if (schema_changed) {
      ++schema_version;
      ARROW_RETURN_NOT_OK(catalog->Execute(
          "INSERT INTO ducklake_schema_versions (begin_snapshot, schema_version, table_id) "
          "VALUES (?, ?, ?)",
          {S, std::to_string(schema_version), std::to_string(table_id)}).status());
      if (changes.empty()) changes.push_back("altered_table:" + std::to_string(table_id));
    }
  } else {
    for (const auto& [name, id] : commit.column_ids) {
      auto have = live.find(name);
      if (have == live.end() || have->second.id != id) {
        return RetryableConflict("another writer changed the columns of the DuckLake table ",
                                 name_.table, " meanwhile; nothing was committed");
      }
    }
  }
  FilesCommit files;
  files.catalog = catalog;
  files.S = S;
  files.L = L;
  files.table_id = table_id;
  files.live = std::move(live);
  files.partition_id = partition_id;
  files.partition_columns = std::move(partition_columns);
  files.changes = std::move(changes);
  files.next_file_id = next_file_id;
  ARROW_RETURN_NOT_OK(CommitFiles(commit, &files));
  changes = std::move(files.changes);
  next_file_id = files.next_file_id;
  // The snapshot's counters, what it changed, and the request id.
  ARROW_RETURN_NOT_OK(catalog->Execute(
      "UPDATE ducklake_snapshot SET schema_version = ?, next_catalog_id = ?, next_file_id = ? "
      "WHERE snapshot_id = ?",
      {std::to_string(schema_version), std::to_string(next_catalog_id),
       std::to_string(next_file_id), S}).status());
  CommitMarker marker;
  marker.table = name_.schema + "." + name_.table;
  marker.txn_id = commit.txn_id;
  if (!commit.txns.empty()) {
    marker.app_id = commit.txns.front().app_id;
    marker.txn_version = commit.txns.front().version;
    marker.rows = std::max<int64_t>(commit.output_rows, 0);
    marker.batches = std::max<int64_t>(commit.output_batches, 0);
  }
  std::string changes_made;
  for (const auto& change : changes) changes_made += (changes_made.empty() ? "" : ",") + change;
  if (changes_made.empty()) {
    // A commit of a request id alone (its batches were empty): a snapshot that changed
    // nothing of the table, which DuckDB's conflict checks know as an insert.
    changes_made = "inserted_into_table:" + std::to_string(table_id);
  }
  ARROW_RETURN_NOT_OK(catalog->Execute(
      "INSERT INTO ducklake_snapshot_changes (snapshot_id, changes_made, author, "
      "commit_message, commit_extra_info) VALUES (?, ?, 'arrowport', NULL, ?)",
      {S, changes_made, MarkerText(marker)}).status());
  return snapshot_id;
}

}  // namespace arrowport::lake
