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
#include "arrowport/objectstore/object_store.h"

namespace arrowport::lake {

/// Where a table sits in its DuckLake catalog, as of one catalog snapshot
/// (Snapshot::ducklake).
struct DuckLakeTableInfo {
  int64_t catalog_snapshot = -1;  ///< the catalog's latest snapshot when this was read
  /// The catalog file it was read from (CatalogConnection::file_identity; empty for
  /// PostgreSQL): a snapshot of another file is of another log (Snapshot::SameLog).
  std::string catalog_file;
  int64_t table_id = -1;          ///< -1: no such table at that snapshot
  std::map<std::string, int64_t> column_ids;  ///< live top-level column -> column_id
  int64_t max_column_id = 0;      ///< over every version of the table's columns
  /// Why the table is refused for reads and writes (its catalog disagrees with the
  /// config: another data path, the table's folder elsewhere, encrypted files).
  std::string refused;
  /// Why Arrowport does not write this table (empty: it does): a partition transform
  /// other than identity, a nested column, a type it does not write.
  std::string unwritable;
  /// Why Arrowport neither reads nor writes it (empty: it may): a column type it cannot
  /// read, a file path leaving the table's folder.
  std::string unreadable;
  /// Why its rows are not read, though appends go on (empty: they are read): files added
  /// without field ids, deletes it cannot apply (Puffin files, too many inlined).
  std::string unreadable_rows;
  /// The rows deleted from one live data file: its delete file (a path like
  /// AddFile::path; empty: none) and the positions inlined in the catalog.
  struct FileDeletes {
    std::string delete_file;
    /// A partial delete file (deletes of several snapshots, each row marked): only its
    /// rows of snapshots up to this one apply (-1: all of them).
    int64_t up_to_snapshot = -1;
    std::vector<int64_t> positions;
  };
  /// By data file path: rows another writer deleted or updated. Reads leave them out;
  /// upkeep merges no file of a table that has any (a merged file would bring them back).
  std::map<std::string, FileDeletes> deletes;
  /// A column added after files were written: its value in those files (text, as the
  /// catalog's initial_default holds it), by column name.
  std::map<std::string, std::string> initial_defaults;
  /// Whether every live file states a value for each key of the table's (identity)
  /// partitioning: reads then take the partition columns from the values and skip the
  /// files a filter on them rules out, as for Delta.
  bool partition_values_complete = false;
  /// Rows DuckDB keeps in the catalog itself (data inlining), visible at this snapshot:
  /// one entry per inlined-data table, each row's values as text in `columns` order.
  struct InlinedRows {
    int64_t schema_version = -1;       ///< the table's columns were those of this version
    std::vector<std::string> columns;  ///< the table's column names the values are of
    std::vector<CatalogRow> rows;
  };
  std::vector<InlinedRows> inlined;
};

/// Which DuckLake table a log is: the catalog, the lake's data path ("/abs/dir/" or
/// "s3://bucket/prefix/"), the schema and table names.
struct DuckLakeTableName {
  std::string catalog;
  std::string data_path;
  std::string schema;
  std::string table;
};

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
