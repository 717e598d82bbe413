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
  auto lease = writes_.Take();
  if (!lease.ok()) return WithErrorKind(lease.status(), ErrorKind::kStoreUnavailable);
  CatalogConnection* catalog = lease->get();
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
  if (!begun.ok() && begun.IsIOError() && !catalog->healthy()) {
    // A connection the server dropped meanwhile (a restart, an idle kill): nothing was
    // sent yet, so one new connection is tried.
    auto again = lease->Reconnect();
    if (!again.ok()) return WithErrorKind(again, ErrorKind::kStoreUnavailable);
    catalog = lease->get();
    begun = catalog->Begin();
  }
  if (!begun.ok()) return not_landed(begun);
  auto landed = Commit(catalog, version, commit);
  if (!landed.ok()) return not_landed(landed.status());
  auto committed = catalog->Commit();
  if (!committed.ok()) {
    catalog->Rollback();
    // Another writer's snapshot id (AlreadyExists), or an IOError without a kind: the
    // outcome is read back.
    return committed;
  }
  return *landed;
}

namespace {

// One commit's catalog transaction, step by step (state shared by the steps): the next
// snapshot taken, conflicts checked, the table and its columns made or read, the data
// files added (CommitFiles), the snapshot's counters, changes and request id written.
class TableCommit {
 public:
  TableCommit(CatalogConnection* catalog, const DuckLakeTableName& name, int64_t version,
              const CommitActions& commit, const SealKey& key)
      : catalog_(catalog), name_(name), commit_(commit), key_(key), base_(version - 1) {}

  arrow::Result<int64_t> Run(bool initialized) {
    ARROW_RETURN_NOT_OK(TakeNextSnapshot(initialized));
    ARROW_RETURN_NOT_OK(FindTable());
    ARROW_RETURN_NOT_OK(CheckConflicts());
    if (table_id_ < 0) {
      ARROW_RETURN_NOT_OK(CreateTable());
    } else {
      ARROW_RETURN_NOT_OK(ReadTable());
    }
    ARROW_RETURN_NOT_OK(commit_.metadata ? AddColumns() : CheckColumnIds());
    FilesCommit files;
    files.catalog = catalog_;
    files.S = S_;
    files.L = L_;
    files.table_id = table_id_;
    files.live = std::move(live_);
    files.partition_id = partition_id_;
    files.partition_columns = std::move(partition_columns_);
    files.changes = std::move(changes_);
    files.next_file_id = next_file_id_;
    ARROW_RETURN_NOT_OK(CommitFiles(commit_, &files));
    changes_ = std::move(files.changes);
    next_file_id_ = files.next_file_id;
    ARROW_RETURN_NOT_OK(FinishSnapshot());
    return snapshot_id_;
  }

 private:
  // The catalog made when new; its settings checked; the next snapshot's row inserted
  // first: a writer racing for the same id waits here, then fails on the primary key
  // (the row's counters are set last, once known).
  arrow::Status TakeNextSnapshot(bool initialized) {
    if (!initialized) {
      if (base_ >= 0) {
        return TableRefused("the DuckLake catalog ", catalog_->name(),
                            " has no DuckLake tables any more");
      }
      ARROW_RETURN_NOT_OK(InitializeDuckLakeCatalog(catalog_, name_.data_path, now_));
    }
    ARROW_ASSIGN_OR_RAISE(const CatalogSettings settings, ReadSettings(catalog_));
    if (!settings.writable_version.empty()) {
      // As a snapshot read after the change says it (Snapshot::CheckWritable).
      return arrow::Status::NotImplemented("Arrowport does not write this DuckLake table: ",
                                           settings.writable_version);
    }
    if (const std::string why = settings.RefusalFor(name_.data_path); !why.empty()) {
      return TableRefused(why);
    }
    ARROW_ASSIGN_OR_RAISE(
        auto latest,
        catalog_->Query("SELECT snapshot_id, schema_version, next_catalog_id, next_file_id "
                        "FROM ducklake_snapshot WHERE snapshot_id = (SELECT max(snapshot_id) "
                        "FROM ducklake_snapshot)"));
    if (latest.empty()) return TableRefused("the DuckLake catalog has no snapshot");
    ARROW_ASSIGN_OR_RAISE(const int64_t latest_id, ToInt(latest[0][0]));
    ARROW_ASSIGN_OR_RAISE(schema_version_, ToInt(latest[0][1]));
    ARROW_ASSIGN_OR_RAISE(next_catalog_id_, ToInt(latest[0][2]));
    ARROW_ASSIGN_OR_RAISE(next_file_id_, ToInt(latest[0][3]));
    if (latest_id < base_) {
      return TableRefused("the DuckLake catalog's latest snapshot ", latest_id,
                          " is older than snapshot ", base_, " read before");
    }
    snapshot_id_ = latest_id + 1;
    S_ = std::to_string(snapshot_id_);
    L_ = std::to_string(latest_id);
    return catalog_->Execute(
        "INSERT INTO ducklake_snapshot (snapshot_id, snapshot_time, schema_version, "
        "next_catalog_id, next_file_id) VALUES (?, ?, ?, ?, ?)",
        {S_, now_, std::to_string(schema_version_), std::to_string(next_catalog_id_),
         std::to_string(next_file_id_)}).status();
  }

  // The schema and table as of the latest snapshot.
  arrow::Status FindTable() {
    ARROW_ASSIGN_OR_RAISE(auto schemas,
                          catalog_->Query("SELECT schema_id FROM ducklake_schema s WHERE "
                                          "schema_name = ? AND " + Visible("s"),
                                          {name_.schema, L_, L_}));
    if (schemas.empty()) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(schema_id_, ToInt(schemas[0][0]));
    ARROW_ASSIGN_OR_RAISE(
        auto tables,
        catalog_->Query("SELECT table_id, table_uuid FROM ducklake_table t WHERE "
                        "schema_id = ? AND table_name = ? AND " + Visible("t"),
                        {std::to_string(schema_id_), name_.table, L_, L_}));
    if (!tables.empty()) {
      ARROW_ASSIGN_OR_RAISE(table_id_, ToInt(tables[0][0]));
      table_uuid_ = tables[0][1].value_or("");
    }
    return arrow::Status::OK();
  }

  // What others committed since the plan's snapshot: appends go with ours; a change of
  // the table's columns, partitioning or rows, or the table made anew, does not (the
  // writer plans again on the newer snapshot).
  arrow::Status CheckConflicts() {
    if (base_ < 0) {
      if (table_id_ < 0) return arrow::Status::OK();
      return arrow::Status::AlreadyExists("the DuckLake table ", name_.schema, ".", name_.table,
                                          " was created by another writer meanwhile");
    }
    if (table_id_ < 0) {
      return arrow::Status::AlreadyExists("the DuckLake table ", name_.schema, ".", name_.table,
                                          " was dropped by another writer meanwhile");
    }
    ARROW_ASSIGN_OR_RAISE(auto since,
                          catalog_->Query("SELECT changes_made FROM ducklake_snapshot_changes "
                                          "WHERE snapshot_id > ? AND snapshot_id <= ?",
                                          {std::to_string(base_), L_}));
    const std::string T = std::to_string(table_id_);
    const std::string created = QuotedName(name_.schema) + "." + QuotedName(name_.table);
    for (const auto& row : since) {
      for (const auto& [kind, value] : ParseChanges(row[0].value_or(""))) {
        const bool ours = value == T;
        if ((ours && (kind == "altered_table" || kind == "dropped_table" ||
                      kind == "deleted_from_table" || kind == "inlined_delete" ||
                      kind == "rewrite_delete" || kind == "merge_adjacent" ||
                      kind == "compacted_table")) ||
            (kind == "created_table" && value == created) ||
            (ours && !commit_.removes.empty() &&
             (kind == "inserted_into_table" || kind == "inlined_insert"))) {
          return arrow::Status::AlreadyExists("another writer changed the DuckLake table ",
                                              name_.schema, ".", name_.table, " meanwhile (",
                                              kind, ")");
        }
      }
    }
    return arrow::Status::OK();
  }

  // A new table (and its schema when new), with its statistics row.
  arrow::Status CreateTable() {
    if (!commit_.metadata) {
      return arrow::Status::Invalid("a first commit to the DuckLake table ", name_.table,
                                    " holds no schema");
    }
    if (schema_id_ < 0) {
      schema_id_ = next_catalog_id_++;
      ARROW_RETURN_NOT_OK(catalog_->Execute(
          "INSERT INTO ducklake_schema (schema_id, schema_uuid, begin_snapshot, end_snapshot, "
          "schema_name, path, path_is_relative) VALUES (?, ?, ?, NULL, ?, ?, ?)",
          {std::to_string(schema_id_), NewUuid(), S_, name_.schema, name_.schema + "/",
           BoolParam(catalog_, true)}).status());
      changes_.push_back("created_schema:" + QuotedName(name_.schema));
    }
    table_id_ = next_catalog_id_++;
    table_uuid_ = NewUuid();
    created_ = true;
    ARROW_RETURN_NOT_OK(catalog_->Execute(
        "INSERT INTO ducklake_table (table_id, table_uuid, begin_snapshot, end_snapshot, "
        "schema_id, table_name, path, path_is_relative) VALUES (?, ?, ?, NULL, ?, ?, ?, ?)",
        {std::to_string(table_id_), table_uuid_, S_, std::to_string(schema_id_),
         name_.table,
         name_.table + "/", BoolParam(catalog_, true)}).status());
    changes_.push_back("created_table:" + QuotedName(name_.schema) + "." +
                       QuotedName(name_.table));
    return catalog_->Execute("INSERT INTO ducklake_table_stats (table_id, record_count, "
                             "next_row_id, file_size_bytes) VALUES (?, 0, 0, 0)",
                             {std::to_string(table_id_)}).status();
  }

  // An existing table's live columns, the ids it used, and its partitioning.
  arrow::Status ReadTable() {
    const std::string T = std::to_string(table_id_);
    ARROW_ASSIGN_OR_RAISE(
        auto columns,
        catalog_->Query("SELECT column_id, column_name, column_type, parent_column FROM "
                        "ducklake_column c WHERE table_id = ? AND " + Visible("c"),
                        {T, L_, L_}));
    for (const auto& column : columns) {
      if (column[3]) continue;
      ARROW_ASSIGN_OR_RAISE(const int64_t id, ToInt(column[0]));
      ARROW_ASSIGN_OR_RAISE(auto type, ArrowTypeOfDuckLake(column[2].value_or("")));
      live_[column[1].value_or("")] = LiveColumn{id, type};
    }
    ARROW_ASSIGN_OR_RAISE(auto most, catalog_->Query("SELECT max(column_id) FROM "
                                                     "ducklake_column WHERE table_id = ?", {T}));
    if (!most.empty() && most[0][0]) {
      ARROW_ASSIGN_OR_RAISE(max_column_id_, ToInt(most[0][0]));
    }
    ARROW_ASSIGN_OR_RAISE(
        auto parts,
        catalog_->Query("SELECT i.partition_id, c.column_id FROM ducklake_partition_info i "
                        "JOIN ducklake_partition_column c ON c.partition_id = i.partition_id "
                        "AND c.table_id = i.table_id WHERE i.table_id = ? AND " + Visible("i") +
                        " ORDER BY c.partition_key_index",
                        {T, L_, L_}));
    for (const auto& part : parts) {
      ARROW_ASSIGN_OR_RAISE(partition_id_, ToInt(part[0]));
      ARROW_ASSIGN_OR_RAISE(const int64_t column_id, ToInt(part[1]));
      for (const auto& [name, column] : live_) {
        if (column.id == column_id) partition_columns_.push_back(name);
      }
    }
    return arrow::Status::OK();
  }

  // A new table's columns, or the ones this commit adds: each gets the id its files were
  // written with (another writer's columns meanwhile: a retryable conflict).
  arrow::Status AddColumns() {
    ARROW_ASSIGN_OR_RAISE(auto schema, FromDeltaSchemaString(commit_.metadata->schema_string));
    bool changed = false;
    for (const auto& field : schema->fields()) {
      auto planned = commit_.column_ids.find(field->name());
      if (planned == commit_.column_ids.end()) {
        return arrow::Status::Invalid("the commit names no field id for column '",
                                      field->name(), "'");
      }
      auto have = live_.find(field->name());
      if (have != live_.end()) {
        if (have->second.id != planned->second) return ColumnsChanged();
        continue;
      }
      if (planned->second != max_column_id_ + 1) return ColumnsChanged();
      ARROW_ASSIGN_OR_RAISE(const std::string type,
                            DuckLakeTypeName(*field->type(), field->name()));
      max_column_id_ = planned->second;
      ARROW_RETURN_NOT_OK(catalog_->Execute(
          "INSERT INTO ducklake_column (column_id, begin_snapshot, end_snapshot, table_id, "
          "column_order, column_name, column_type, initial_default, default_value, "
          "nulls_allowed, parent_column, default_value_type, default_value_dialect) VALUES "
          "(?, ?, NULL, ?, ?, ?, ?, NULL, 'NULL', ?, NULL, 'literal', 'duckdb')",
          {std::to_string(planned->second), S_, std::to_string(table_id_),
           std::to_string(planned->second), field->name(), type,
           BoolParam(catalog_, field->nullable())}).status());
      live_[field->name()] = LiveColumn{planned->second, field->type()};
      changed = true;
    }
    if (created_) ARROW_RETURN_NOT_OK(CreatePartitioning());
    if (!changed) return arrow::Status::OK();
    ++schema_version_;
    if (changes_.empty()) changes_.push_back("altered_table:" + std::to_string(table_id_));
    return catalog_->Execute("INSERT INTO ducklake_schema_versions (begin_snapshot, "
                             "schema_version, table_id) VALUES (?, ?, ?)",
                             {S_, std::to_string(schema_version_),
                              std::to_string(table_id_)}).status();
  }

  // A new table's partitioning (an existing one keeps its own: the plan checked it).
  arrow::Status CreatePartitioning() {
    if (commit_.metadata->partition_columns.empty()) return arrow::Status::OK();
    partition_id_ = next_catalog_id_++;
    ARROW_RETURN_NOT_OK(catalog_->Execute(
        "INSERT INTO ducklake_partition_info (partition_id, table_id, begin_snapshot, "
        "end_snapshot) VALUES (?, ?, ?, NULL)",
        {std::to_string(partition_id_), std::to_string(table_id_), S_}).status());
    int64_t index = 0;
    for (const auto& column : commit_.metadata->partition_columns) {
      ARROW_RETURN_NOT_OK(catalog_->Execute(
          "INSERT INTO ducklake_partition_column (partition_id, table_id, "
          "partition_key_index, column_id, \"transform\") VALUES (?, ?, ?, ?, 'identity')",
          {std::to_string(partition_id_), std::to_string(table_id_), std::to_string(index++),
           std::to_string(live_[column].id)}).status());
    }
    partition_columns_ = commit_.metadata->partition_columns;
    return arrow::Status::OK();
  }

  // A commit without a schema: its files' field ids are still the table's columns.
  arrow::Status CheckColumnIds() {
    for (const auto& [name, id] : commit_.column_ids) {
      auto have = live_.find(name);
      if (have == live_.end() || have->second.id != id) return ColumnsChanged();
    }
    return arrow::Status::OK();
  }

  arrow::Status ColumnsChanged() const {
    return RetryableConflict("another writer changed the columns of the DuckLake table ",
                             name_.table, " meanwhile; nothing was committed");
  }

  // The snapshot's counters, what it changed, and the request id.
  arrow::Status FinishSnapshot() {
    ARROW_RETURN_NOT_OK(catalog_->Execute(
        "UPDATE ducklake_snapshot SET schema_version = ?, next_catalog_id = ?, next_file_id = ? "
        "WHERE snapshot_id = ?",
        {std::to_string(schema_version_), std::to_string(next_catalog_id_),
         std::to_string(next_file_id_), S_}).status());
    CommitMarker marker;
    marker.table = name_.schema + "." + name_.table;
    marker.txn_id = commit_.txn_id;
    if (!commit_.txns.empty()) {
      marker.app_id = commit_.txns.front().app_id;
      marker.txn_version = commit_.txns.front().version;
      marker.rows = std::max<int64_t>(commit_.output_rows, 0);
      marker.batches = std::max<int64_t>(commit_.output_batches, 0);
      // Bound to this snapshot and table (a reader checks it: CheckSeals in
      // ducklake_read.cc).
      marker.seal = key_.Seal(DuckLakeSealFacts(marker, snapshot_id_, table_uuid_, name_));
    }
    std::string changes_made;
    for (const auto& change : changes_) {
      changes_made += (changes_made.empty() ? "" : ",") + change;
    }
    if (changes_made.empty()) {
      // A commit of a request id alone (its batches were empty): a snapshot that changed
      // nothing of the table, which DuckDB's conflict checks know as an insert.
      changes_made = "inserted_into_table:" + std::to_string(table_id_);
    }
    return catalog_->Execute(
        "INSERT INTO ducklake_snapshot_changes (snapshot_id, changes_made, author, "
        "commit_message, commit_extra_info) VALUES (?, ?, 'arrowport', NULL, ?)",
        {S_, changes_made, MarkerText(marker)}).status();
  }

  CatalogConnection* const catalog_;
  const DuckLakeTableName& name_;
  const CommitActions& commit_;
  const SealKey& key_;
  const int64_t base_;  // the snapshot planned on; -1: the table did not exist
  const std::string now_ = SnapshotTimeNow();
  int64_t snapshot_id_ = -1, schema_version_ = 0, next_catalog_id_ = 0, next_file_id_ = 0;
  std::string S_, L_;  // the new snapshot's id and the latest before it, as parameters
  int64_t schema_id_ = -1, table_id_ = -1;
  std::string table_uuid_;
  bool created_ = false;  // the table is made by this commit
  std::vector<std::string> changes_;
  std::map<std::string, LiveColumn> live_;
  int64_t max_column_id_ = 0;
  int64_t partition_id_ = -1;
  std::vector<std::string> partition_columns_;
};

}  // namespace

arrow::Result<int64_t> DuckLakeLog::Commit(CatalogConnection* catalog, int64_t version,
                                           const CommitActions& commit) {
  ARROW_ASSIGN_OR_RAISE(const bool initialized, Initialized(catalog));
  return TableCommit(catalog, name_, version, commit, *key_).Run(initialized);
}

}  // namespace arrowport::lake
