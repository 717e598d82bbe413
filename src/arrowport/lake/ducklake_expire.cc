// DuckLakeLog's maintenance: snapshots expired and the files none of the rest names
// scheduled for deletion (specification 1.0, "Expire Snapshots"), then this table's
// scheduled files deleted after the grace period ("Cleanup of Old Files"); and the files
// vacuum must keep.

#include "arrowport/lake/ducklake_log.h"
#include "arrowport/lake/ducklake_sql.h"

namespace arrowport::lake {

namespace {

// Moves the files of `table` (data or delete files) that no snapshot names any more to
// ducklake_files_scheduled_for_deletion, their paths relative to the data path.
arrow::Result<int64_t> ScheduleUnnamed(CatalogConnection* catalog, const char* table,
                                       const char* id_column, const std::string& now) {
  ARROW_ASSIGN_OR_RAISE(
      auto gone,
      catalog->Query(std::string("SELECT f.") + id_column + ", f.path, f.path_is_relative, "
                     "f.table_id FROM " + table + " f WHERE f.end_snapshot IS NOT NULL AND NOT "
                     "EXISTS (SELECT 1 FROM ducklake_snapshot s WHERE s.snapshot_id >= "
                     "f.begin_snapshot AND s.snapshot_id < f.end_snapshot)"));
  for (const auto& file : gone) {
    // Its folder relative to the data path: the table's last schema and table paths.
    ARROW_ASSIGN_OR_RAISE(
        auto folders,
        catalog->Query("SELECT s.path, s.path_is_relative, t.path, t.path_is_relative FROM "
                       "ducklake_table t JOIN ducklake_schema s ON s.schema_id = t.schema_id "
                       "WHERE t.table_id = ? ORDER BY t.begin_snapshot DESC LIMIT 1",
                       {file[3]}));
    std::string path = file[1].value_or("");
    bool relative = IsTrue(file[2]);
    if (relative && !folders.empty()) {
      // The table's path is relative to its schema's, the schema's to the data path.
      const auto& f = folders[0];
      const bool table_relative = IsTrue(f[3]);
      path = (table_relative ? f[0].value_or("") : std::string()) + f[2].value_or("") + path;
      relative = table_relative && IsTrue(f[1]);
    }
    ARROW_RETURN_NOT_OK(catalog->Execute(
        "INSERT INTO ducklake_files_scheduled_for_deletion (data_file_id, path, "
        "path_is_relative, schedule_start) VALUES (?, ?, ?, ?)",
        {file[0], path, BoolParam(catalog, relative), now}).status());
    if (std::string(table) == "ducklake_data_file") {
      for (const char* stats : {"ducklake_file_column_stats", "ducklake_file_variant_stats",
                                "ducklake_file_partition_value"}) {
        ARROW_RETURN_NOT_OK(catalog->Execute(std::string("DELETE FROM ") + stats +
                                             " WHERE data_file_id = ?", {file[0]}).status());
      }
    }
    ARROW_RETURN_NOT_OK(catalog->Execute(std::string("DELETE FROM ") + table + " WHERE " +
                                         id_column + " = ?", {file[0]}).status());
  }
  return static_cast<int64_t>(gone.size());
}

// Expires the lake's snapshots older than `cutoff` (never the latest) and schedules the
// files no remaining snapshot names for deletion, in one transaction.
arrow::Status ExpireSnapshots(CatalogConnection* catalog, const std::string& cutoff,
                              const std::string& now, DuckLakeLog::Expired* expired) {
  ARROW_RETURN_NOT_OK(catalog->Begin());
  auto expire = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto latest, catalog->Query("SELECT max(snapshot_id) FROM "
                                                      "ducklake_snapshot"));
    if (latest.empty() || !latest[0][0]) return arrow::Status::OK();
    ARROW_ASSIGN_OR_RAISE(
        expired->snapshots,
        catalog->Execute("DELETE FROM ducklake_snapshot WHERE snapshot_time < ? AND "
                         "snapshot_id < ?",
                         {cutoff, latest[0][0]}));
    if (expired->snapshots == 0) return arrow::Status::OK();
    ARROW_RETURN_NOT_OK(catalog->Execute("DELETE FROM ducklake_snapshot_changes WHERE "
                                         "snapshot_id NOT IN (SELECT snapshot_id FROM "
                                         "ducklake_snapshot)").status());
    ARROW_ASSIGN_OR_RAISE(const int64_t data,
                          ScheduleUnnamed(catalog, "ducklake_data_file", "data_file_id", now));
    ARROW_ASSIGN_OR_RAISE(const int64_t deletes, ScheduleUnnamed(catalog, "ducklake_delete_file",
                                                                 "delete_file_id", now));
    expired->scheduled = data + deletes;
    return arrow::Status::OK();
  }();
  if (expire.ok()) expire = catalog->Commit();
  if (!expire.ok()) catalog->Rollback();
  return expire;
}

}  // namespace

arrow::Result<DuckLakeLog::Expired> DuckLakeLog::Expire(objectstore::ObjectStore* store,
                                                        int64_t older_than_ms) {
  Expired expired;
  const std::string cutoff = SnapshotTimeNow(older_than_ms), now = SnapshotTimeNow();
  std::vector<CatalogRow> due;
  {
    ARROW_ASSIGN_OR_RAISE(auto lease, writes_.Take());
    CatalogConnection* catalog = lease.get();
    ARROW_ASSIGN_OR_RAISE(const bool initialized, Initialized(catalog));
    if (!initialized) return expired;
    ARROW_ASSIGN_OR_RAISE(const CatalogSettings settings, ReadSettings(catalog));
    // Only a catalog Arrowport writes (format 1.0, its data path) is maintained here.
    if (!settings.writable_version.empty() || settings.data_path != name_.data_path) {
      return expired;
    }
    // Looked at first, outside a transaction: a write transaction every upkeep round
    // would lock a SQLite catalog against other writers (DuckDB's commits fail on it).
    ARROW_ASSIGN_OR_RAISE(auto old,
                          catalog->Query("SELECT count(*) FROM ducklake_snapshot WHERE "
                                         "snapshot_time < ? AND snapshot_id < (SELECT "
                                         "max(snapshot_id) FROM ducklake_snapshot)",
                                         {cutoff}));
    if (!old.empty() && old[0][0].value_or("0") != "0") {
      ARROW_RETURN_NOT_OK(ExpireSnapshots(catalog, cutoff, now, &expired));
    }
    ARROW_ASSIGN_OR_RAISE(due, catalog->Query("SELECT data_file_id, path FROM "
                                              "ducklake_files_scheduled_for_deletion WHERE "
                                              "schedule_start < ? AND path_is_relative = ?",
                                              {cutoff, BoolParam(catalog, true)}));
  }
  // This table's scheduled files past the grace period: deleted from the store without
  // the catalog's lease (commits go on meanwhile), then from the schedule (a crash
  // between leaves a row whose file is gone: deleted again, harmlessly).
  const std::string prefix = name_.schema + "/" + name_.table + "/";
  std::vector<CatalogRow> deleted_files;
  for (const auto& file : due) {
    const std::string path = file[1].value_or("");
    if (path.rfind(prefix, 0) != 0) continue;  // another table's
    // A row that names no file of this folder (forged, or another tool's form) is left
    // alone: it must not stop the rest of upkeep.
    auto key = DataFileKey(path.substr(prefix.size()), /*relative=*/true, "");
    if (!key.ok()) continue;
    auto deleted = store->Delete(*key);  // gone already: OK
    if (deleted.IsInvalid()) continue;
    ARROW_RETURN_NOT_OK(deleted);
    deleted_files.push_back(file);
  }
  if (deleted_files.empty()) return expired;
  ARROW_ASSIGN_OR_RAISE(auto lease, writes_.Take());
  for (const auto& file : deleted_files) {
    ARROW_RETURN_NOT_OK(lease.get()->Execute("DELETE FROM ducklake_files_scheduled_for_deletion "
                                             "WHERE data_file_id = ? AND path = ?",
                                             {file[0], file[1]}).status());
    ++expired.deleted;
  }
  return expired;
}

arrow::Result<bool> DuckLakeLog::OnlyArrowportWrites() {
  ARROW_ASSIGN_OR_RAISE(auto lease, reads_.Take());
  CatalogConnection* catalog = lease.get();
  return OnlyArrowportCommits(catalog);
}

arrow::Result<std::vector<std::string>> DuckLakeLog::AllFilePaths() {
  ARROW_ASSIGN_OR_RAISE(auto lease, reads_.Take());
  CatalogConnection* catalog = lease.get();
  ARROW_ASSIGN_OR_RAISE(const bool initialized, Initialized(catalog));
  std::vector<std::string> paths;
  if (!initialized) return paths;
  const std::string folder = name_.data_path + name_.schema + "/" + name_.table + "/";
  for (const char* table : {"ducklake_data_file", "ducklake_delete_file"}) {
    ARROW_ASSIGN_OR_RAISE(
        auto rows,
        catalog->Query(std::string("SELECT f.path, f.path_is_relative FROM ") + table +
                       " f JOIN ducklake_table t ON t.table_id = f.table_id JOIN "
                       "ducklake_schema s ON s.schema_id = t.schema_id WHERE s.schema_name = ? "
                       "AND t.table_name = ?",
                       {name_.schema, name_.table}));
    for (const auto& row : rows) {
      auto key = DataFileKey(row[0].value_or(""), IsTrue(row[1]), folder);
      if (key.ok()) paths.push_back(*key);
    }
  }
  // Files DuckDB scheduled for deletion stay DuckDB's to delete.
  ARROW_ASSIGN_OR_RAISE(auto scheduled,
                        catalog->Query("SELECT path, path_is_relative FROM "
                                       "ducklake_files_scheduled_for_deletion"));
  for (const auto& row : scheduled) {
    auto key = DataFileKey(row[0].value_or(""), IsTrue(row[1]),
                       IsTrue(row[1]) ? std::string() : folder);
    if (!IsTrue(row[1])) {
      if (key.ok()) paths.push_back(*key);
      continue;
    }
    const std::string relative = row[0].value_or("");
    const std::string prefix = name_.schema + "/" + name_.table + "/";
    if (relative.rfind(prefix, 0) == 0) paths.push_back(relative.substr(prefix.size()));
  }
  return paths;
}

}  // namespace arrowport::lake
