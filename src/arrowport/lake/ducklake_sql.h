#pragma once

// Pieces of DuckLakeLog's catalog SQL shared by its reads and commits (internal to the
// lake layer).

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "arrow/result.h"
#include "arrowport/lake/catalog_connection.h"
#include "arrowport/lake/delta_log.h"
#include "arrowport/lake/ducklake_table_info.h"

namespace arrowport::lake {

/// `name` in double quotes, quotes inside doubled: a catalog identifier in SQL text, and
/// how changes_made names schemas and tables.
std::string QuotedName(const std::string& name);
/// A catalog boolean (SQLite 0/1, PostgreSQL t/f).
bool IsTrue(const CatalogValue& value);
/// A catalog integer; an error for NULL or text that is not one.
arrow::Result<int64_t> ToInt(const CatalogValue& value);
/// "? >= a.begin_snapshot AND (a.end_snapshot IS NULL OR ? < a.end_snapshot)": rows of
/// `alias` alive at the snapshot given twice as parameters.
std::string Visible(const std::string& alias);
/// A boolean parameter in the catalog's dialect.
CatalogValue BoolParam(const CatalogConnection* catalog, bool value);

/// The lake-wide settings of ducklake_metadata Arrowport heeds.
struct CatalogSettings {
  std::string version;
  std::string data_path;
  bool encrypted = false;
  /// Why the catalog is not written (its version is not 1.0); empty when it is.
  std::string writable_version;
  /// Why a table of this lake configured with `data_path` is refused for reads and writes
  /// (another data path, encrypted files); empty when it is not.
  std::string RefusalFor(const std::string& data_path) const;
};
arrow::Result<CatalogSettings> ReadSettings(CatalogConnection* catalog);

/// What an Arrowport commit records in ducklake_snapshot_changes.commit_extra_info: the
/// table, the commit's txn id (found when the answer to the commit was lost) and the
/// request id with its txn version and counts (exactly-once retries).
struct CommitMarker {
  std::string table;  ///< "schema.table"
  std::string txn_id;
  std::string app_id;
  int64_t txn_version = -1;
  int64_t rows = 0;
  int64_t batches = 0;
  /// The seal of the request id's commit (commit_seal.h: DuckLakeSealFacts); empty: none.
  std::string seal;
};
std::string MarkerText(const CommitMarker& marker);
std::optional<CommitMarker> ParseMarker(const std::string& text);

/// What the seal of `marker`, in snapshot `snapshot` of the table `name` whose table_uuid
/// is `table_uuid`, binds: the request id, its txn version and counts, that snapshot (the
/// catalog's primary key: no other commit has it) and the table: its table_uuid and, as
/// the server's config names it, its data_path and schema.table (not the marker's text,
/// nor the table_uuid alone, which another writer can give another table).
SealedFacts DuckLakeSealFacts(const CommitMarker& marker, int64_t snapshot,
                              const std::string& table_uuid, const DuckLakeTableName& name);

/// The rows DuckDB inlined into the catalog for table `table_id` that are alive at
/// snapshot `at`, into `info->inlined`.
arrow::Status ReadInlinedRows(CatalogConnection* catalog, DuckLakeTableInfo* info,
                              const std::string& table_id, const std::string& at);

/// The rows deleted at snapshot `at` from table `table_id`'s live data files
/// (`path_of_file`: data_file_id -> AddFile::path): their delete files (under
/// `table_folder`) and the positions inlined in the catalog, into `info->deletes`; what
/// Arrowport cannot apply goes to `info->unreadable`.
arrow::Status ReadFileDeletes(CatalogConnection* catalog, const std::string& table_id,
                              const std::string& at, const std::string& table_folder,
                              const std::map<int64_t, std::string>& path_of_file,
                              DuckLakeTableInfo* info);

/// A data file's path (relative to the table's folder, or absolute) as its key under the
/// table's folder `table_folder`; an error for one outside it.
arrow::Result<std::string> DataFileKey(const std::string& path, bool relative,
                                       const std::string& table_folder);

/// Whether every commit to the lake after its first snapshot carries Arrowport's marker
/// (no other tool has written it, as far as its unexpired snapshots tell).
arrow::Result<bool> OnlyArrowportCommits(CatalogConnection* catalog);

/// Whether the catalog has a table named `name` (a plain identifier).
arrow::Result<bool> TableExists(CatalogConnection* catalog, const std::string& name);

/// Reads the table `name` as of the catalog's latest snapshot up to `at` into `snapshot`
/// (whose request ids it keeps and extends; their seals checked with `key`); the
/// catalog's tables exist.
arrow::Status ReadDuckLakeSnapshot(CatalogConnection* catalog, const DuckLakeTableName& name,
                                   int64_t at, const SealKey& key, Snapshot* snapshot);

/// The snapshot time DuckDB writes: "2026-11-26 16:25:40.910773+00" (UTC), now or
/// `ago_ms` before.
std::string SnapshotTimeNow(int64_t ago_ms = 0);

}  // namespace arrowport::lake
