#pragma once

// Internal to the backup (backup.cc, backup_restore.cc): streaming a file to and from an
// object store with its SHA-256, the store a destination names, the tables of a file.

#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrowport/common/call_cancellation.h"
#include "arrowport/common/staged_file.h"
#include "arrowport/objectstore/object_store.h"
#include "arrowport/query/backup_manifest.h"

namespace arrowport::query {

/// \brief The store URL a backup destination names: "s3://bucket/prefix" as it is, a
/// local path (absolute or relative) as "file:///abs/path". Invalid for other schemes.
arrow::Result<std::string> BackupStoreUrl(const std::string& destination);

/// Copies the local file `path` to `key` in `store`; returns its size and SHA-256.
arrow::Result<BackupFile> UploadFile(const std::string& path, objectstore::ObjectStore* store,
                                     const std::string& key,
                                     const std::shared_ptr<CallCancellation>& cancellation);

/// Copies `key` of `store` to the new local file `path` (removed on failure); returns its
/// size and SHA-256.
arrow::Result<BackupFile> DownloadFile(objectstore::ObjectStore* store, const std::string& key,
                                       const std::string& path);

/// The store a backup destination names (BackupStoreUrl), a local directory made if
/// missing when `create`.
/// Makes backup `id`'s folder in a directory destination the server's user's alone (0700)
/// before anything is written in it; nothing for S3.
arrow::Status MakePrivateFolder(const std::string& store_url, const std::string& id);

arrow::Result<std::shared_ptr<objectstore::ObjectStore>> OpenBackupStore(
    const std::string& destination, const objectstore::S3Settings& s3, bool create);

/// The ids of the complete backups in `store` (those with a manifest), oldest first.
arrow::Result<std::vector<std::string>> CompleteBackups(objectstore::ObjectStore* store);

/// Removes the backups in `store` without a manifest whose ids sort before `before`: cut
/// short by a crash or kill -9 of their server (its backups run one at a time, so none
/// of them is under way). A local destination's folder goes whole, with the temporary
/// file its upload was writing. Returns the ids removed.
arrow::Result<std::vector<std::string>> RemovePartialBackups(objectstore::ObjectStore* store,
                                                             const std::string& before);

/// What the database file at `path` holds, as the manifest names its tables.
struct FileContents {
  std::string duckdb_version;
  std::vector<BackupTable> tables;
  std::vector<std::string> request_ids;
};
arrow::Result<FileContents> ReadFileContents(const std::string& path);

}  // namespace arrowport::query
