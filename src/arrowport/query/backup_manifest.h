#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arrow/result.h"

namespace arrowport::query {

/// The name a backup's database file has beside its manifest.
inline constexpr const char* kBackupDatabaseFile = "database.duckdb";
/// The manifest's name: written last, so a backup without it is partial.
inline constexpr const char* kBackupManifestFile = "manifest.json";

/// One file of a backup, as its manifest names it.
struct BackupFile {
  std::string name;
  int64_t bytes = 0;
  std::string sha256;  ///< lower-case hex
};

/// One table of the backed-up database: rows and the order-independent checksum
/// (storage::TableContents).
struct BackupTable {
  std::string schema;
  std::string name;
  int64_t rows = 0;
  std::string checksum;
  bool operator==(const BackupTable&) const = default;
};

/// One lake table's snapshot at the backup's instant: named, not copied (the lake is its
/// own backup, with its own versions); restore ignores it.
struct BackupLakeTable {
  std::string stream;
  std::string table;  ///< the view SQL reads it by
  std::string url;
  int64_t version = -1;  ///< -1: none published yet (written as null)
  bool operator==(const BackupLakeTable&) const = default;
};

/// \brief What a backup holds and proves (docs/operations.md): written as manifest.json
/// beside the files once they are complete.
struct BackupManifest {
  std::string id;              ///< "20260101T120000Z": the backup's folder name
  std::string created_at;      ///< ISO 8601 UTC: the checkpoint the copy is of
  std::string server_version;  ///< arrowport::Version()
  std::string duckdb_version;
  std::vector<BackupFile> files;
  std::vector<BackupTable> tables;
  /// The request log's keys in the copy ("<id>[ batch <n>] to <table>"): the requests
  /// committed up to the backup's instant; a producer resends the others.
  std::vector<std::string> request_ids;
  /// The lake streams' snapshots when the copy was taken (not parsed back: restore needs
  /// none of them).
  std::vector<BackupLakeTable> lake_tables;

  std::string ToJson() const;
  /// Parses and checks a manifest's text: Invalid naming what is missing or malformed.
  static arrow::Result<BackupManifest> Parse(const std::string& text);
  /// The file named `name`, or KeyError.
  arrow::Result<BackupFile> File(const std::string& name) const;
};

/// OK when `found` (what a database file holds) is exactly the manifest's tables, rows
/// and checksums; else Invalid naming the first difference.
arrow::Status CheckTables(const BackupManifest& manifest,
                          const std::vector<BackupTable>& found);

}  // namespace arrowport::query
