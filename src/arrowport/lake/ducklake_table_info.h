#pragma once

// What a snapshot knows of a DuckLake table beside its files (Snapshot::ducklake), and
// which table a DuckLakeLog is: plain data, below both the log and the snapshot's checks.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "arrowport/lake/catalog_connection.h"

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

}  // namespace arrowport::lake
