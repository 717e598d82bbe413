#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/logger.h"
#include "arrowport/objectstore/object_store.h"
#include "arrowport/query/backup_manifest.h"

namespace arrowport::storage {
class Database;
}

namespace arrowport::query {

/// \brief One online backup of the server's database (docs/operations.md): the file as of
/// one checkpoint (storage::Database::CopyCheckpointed) copied to a staging file beside the
/// database, its tables, counts, checksums and request log read from that copy, then
/// `<id>/database.duckdb` and, last, `<id>/manifest.json` written to the destination (a
/// directory or an S3 prefix, through the object stores). A backup that fails leaves no
/// manifest, so no restore takes it for complete. Thread-safe; backups run one at a time.
class BackupOperation {
 public:
  /// The lake streams' snapshots as this server knows them now (empty: no lake).
  using LakeSnapshots = std::function<std::vector<BackupLakeTable>()>;

  /// `s3`: the server's S3 settings (its `s3` section and stop); `lakes` (may be empty)
  /// is asked at each backup's checkpoint; `logger` (may be null) hears what a backup
  /// cleans up. Outlived by `database` and `logger`.
  BackupOperation(storage::Database* database, objectstore::S3Settings s3,
                  LakeSnapshots lakes = {}, Logger* logger = nullptr);
  ~BackupOperation();

  /// Removes the staging copies (`.<db>.backup-<id>.tmp` beside the database) that a
  /// backup cut short by a crash or kill -9 left; at the server's start, before any
  /// backup (the database's lock says no other process stages for it). Logged.
  void RemoveStaleStaging();

  /// Runs one backup to `destination`, then removes the partial backups older than it
  /// there (a destination is one server's) and keeps the newest `keep` complete ones (0:
  /// all). Cancelled by `cancellation` (the call's, or the server's stop).
  arrow::Result<BackupManifest> Run(const std::string& destination, int keep,
                                    const std::shared_ptr<CallCancellation>& cancellation);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// \brief `arrowport restore`: the backup at `from` (a backup's folder, or a destination
/// whose newest complete backup is taken; a path or s3://) into a new database file
/// `db_path`: every file's SHA-256 checked, the database written beside `db_path` and
/// opened to compare its tables, counts and checksums with the manifest, then renamed
/// into place. Refuses a damaged or partial backup, and an existing `db_path` (or its
/// WAL) unless `force`.
arrow::Result<BackupManifest> RestoreBackup(const std::string& from,
                                            const std::string& db_path, bool force,
                                            const objectstore::S3Settings& s3);

}  // namespace arrowport::query
