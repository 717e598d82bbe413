#pragma once

// A DuckLake table (specification 1.0) as a TableLog: snapshots read from its catalog's
// tables, commits made as one catalog transaction each.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "arrow/result.h"
#include "arrowport/lake/catalog_connection.h"
#include "arrowport/lake/delta_log.h"
#include "arrowport/lake/ducklake_table_info.h"
#include "arrowport/objectstore/object_store.h"

namespace arrowport::lake {

/// The Parquet field ids a request writes `table_schema` with on `base`: a column the
/// table has keeps its column_id; new columns get the next free ids, in order.
std::map<std::string, int64_t> PlannedColumnIds(const Snapshot& base,
                                                const arrow::Schema& table_schema);

/// `schema` with each field's Parquet field id (`ids` by name).
std::shared_ptr<arrow::Schema> WithFieldIds(const arrow::Schema& schema,
                                            const std::map<std::string, int64_t>& ids);

/// Creates the catalog's tables and its first snapshot (schema "main") in `catalog`, in
/// the caller's transaction; `now` is the snapshot's time as text.
arrow::Status InitializeDuckLakeCatalog(CatalogConnection* catalog, const std::string& data_path,
                                        const std::string& now);

/// \brief One DuckLake table's log. Versions are the catalog's snapshot ids; the table
/// exists from the snapshot that created it (before: version -1, "no table yet"). A
/// commit is one catalog transaction that adds the next snapshot, after checking that
/// nothing since the snapshot it was planned on conflicts (the table dropped, altered or
/// deleted from): otherwise AlreadyExists, and the writer plans again on the newer
/// snapshot. Appends of other writers do not conflict: the commit lands after them. Two
/// catalog connections: one for reads, one for commits and upkeep. Request ids are
/// sealed with `key` (null: a random key of its own; commit_seal.h).
class DuckLakeLog final : public TableLog {
 public:
  explicit DuckLakeLog(DuckLakeTableName name,
                       std::shared_ptr<const SealKey> key = nullptr);
  ~DuckLakeLog() override;

  arrow::Status Update(Snapshot* snapshot,
                       std::vector<std::pair<int64_t, CommitActions>>* applied = nullptr,
                       int64_t up_to = INT64_MAX) override;
  /// A catalog replaced at its path since the last Update counts as newer, whatever its
  /// snapshot ids: Update then reads it from nothing.
  arrow::Result<bool> HasNewer(int64_t version) override;
  /// `version` + 1 at least when the catalog was replaced since the last Update.
  arrow::Result<int64_t> NewestVersion(int64_t version) override;
  /// Commits at the catalog's next snapshot id, which may be after `version` (appends of
  /// other writers in between); returns it.
  arrow::Result<int64_t> CommitAt(int64_t version, const CommitActions& commit) override;
  /// Reads the snapshot back from the catalog (its ids are the catalog's).
  arrow::Status Landed(Snapshot* snapshot, const CommitActions& commit,
                       int64_t version) override;
  /// Nothing here: the seal binds the snapshot the commit takes, known inside its catalog
  /// transaction (sealed there).
  void Seal(const Snapshot& base, CommitActions* commit) const override {}
  /// A DuckLake has no checkpoints: every snapshot's seals are read with it.
  arrow::Result<CheckpointedTxn> FindSealedTxn(const std::string& app_id,
                                               int64_t checkpoint_version,
                                               const std::string& table) override;
  const char* format() const override { return "DuckLake"; }
  bool version_taken_once() const override { return false; }

  /// What Expire did.
  struct Expired {
    int64_t snapshots = 0;   ///< expired
    int64_t scheduled = 0;   ///< files no snapshot names any more, scheduled for deletion
    int64_t deleted = 0;     ///< scheduled files of this table deleted from `store`
  };
  /// \brief The specification's maintenance, as DuckDB's ducklake_expire_snapshots and
  /// ducklake_cleanup_old_files do it: the lake's snapshots older than `older_than_ms`
  /// expire (never the latest), the files no remaining snapshot names leave the catalog
  /// for ducklake_files_scheduled_for_deletion, in one transaction; then this table's
  /// files scheduled longer than `older_than_ms` ago are deleted from `store` (its folder).
  arrow::Result<Expired> Expire(objectstore::ObjectStore* store, int64_t older_than_ms);

  /// Whether every commit to the lake after its first snapshot is Arrowport's: only then
  /// does upkeep merge files (another tool's deletes and merges follow its own rules).
  arrow::Result<bool> OnlyArrowportWrites();

  /// Every data file path (relative to the table's folder) any snapshot of the table
  /// names: what vacuum must keep.
  arrow::Result<std::vector<std::string>> AllFilePaths();

  const DuckLakeTableName& name() const { return name_; }

 private:
  // Whether the catalog's tables exist yet.
  arrow::Result<bool> Initialized(CatalogConnection* catalog);
  arrow::Status ReadSnapshot(CatalogConnection* catalog, int64_t at, Snapshot* snapshot);
  // Update's reads (in its read transaction).
  arrow::Status ReadChanges(CatalogConnection* catalog, Snapshot* snapshot,
                            std::vector<std::pair<int64_t, CommitActions>>* applied,
                            int64_t up_to);
  arrow::Result<int64_t> Commit(CatalogConnection* catalog, int64_t version,
                                const CommitActions& commit);

  // Whether the read lane's catalog is another file than the one Update last read whole
  // (a SQLite catalog replaced at its path): until it is read, it counts as newer.
  bool CatalogReplaced(const CatalogConnection& catalog);

  const DuckLakeTableName name_;
  const std::shared_ptr<const SealKey> key_;
  // Reads of snapshots on one connection, commits and upkeep on another: a read never
  // waits behind a commit that waits for a locked SQLite file.
  CatalogLane reads_;
  CatalogLane writes_;
  std::mutex read_file_mutex_;  // guards read_file_
  // The catalog file the last successful Update read ("" before the first).
  std::string read_file_;
};

}  // namespace arrowport::lake
