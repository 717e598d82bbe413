// RestoreBackup (backup.h): `arrowport restore`, with no server.
#include <cstdio>
#include <filesystem>

#include "arrowport/query/backup.h"
#include "arrowport/query/backup_files.h"

namespace arrowport::query {

namespace {

bool Exists(const std::string& path) {
  std::error_code error;
  return std::filesystem::exists(std::filesystem::symlink_status(path, error));
}

// The target file and its WAL: an old WAL beside a restored file would be replayed into it.
arrow::Status CheckTarget(const std::string& db_path, bool force) {
  for (const std::string& path : {db_path, db_path + ".wal"}) {
    if (!Exists(path)) continue;
    if (!force) {
      return arrow::Status::AlreadyExists(
          "restore: '", path, "' exists; restore into a new path, or pass --force to "
          "replace it (stop any server using it first)");
    }
  }
  return arrow::Status::OK();
}

// The backup's folder in `store`: "" when `from` names it itself, else the newest complete.
arrow::Result<std::string> BackupFolder(objectstore::ObjectStore* store,
                                        const std::string& from) {
  auto own = store->Head(kBackupManifestFile);
  if (own.ok()) return std::string();
  ARROW_ASSIGN_OR_RAISE(auto ids, CompleteBackups(store));
  if (ids.empty()) {
    auto partial = store->Head(kBackupDatabaseFile);
    return arrow::Status::Invalid(
        "restore: ", from, partial.ok() ? " is a partial backup (no manifest.json: the "
                                          "backup did not finish); restore another one"
                                        : " holds no complete backup (no manifest.json)");
  }
  return ids.back() + "/";
}

}  // namespace

arrow::Result<BackupManifest> RestoreBackup(const std::string& from,
                                            const std::string& db_path, bool force,
                                            const objectstore::S3Settings& s3) {
  ARROW_RETURN_NOT_OK(CheckTarget(db_path, force));
  ARROW_ASSIGN_OR_RAISE(auto store, OpenBackupStore(from, s3, /*create=*/false));
  ARROW_ASSIGN_OR_RAISE(auto folder, BackupFolder(store.get(), from));
  ARROW_ASSIGN_OR_RAISE(auto text, store->Get(folder + kBackupManifestFile));
  auto parsed = BackupManifest::Parse(text->ToString());
  if (!parsed.ok()) {
    return parsed.status().WithMessage("restore: ", from, ": ", parsed.status().message());
  }
  BackupManifest manifest = std::move(*parsed);
  ARROW_ASSIGN_OR_RAISE(auto expected, manifest.File(kBackupDatabaseFile));
  const std::filesystem::path target(db_path);
  StagedFile staged((target.parent_path() /
                     ("." + target.filename().string() + ".restore.tmp")).string());
  std::filesystem::remove(staged.path());  // one a restore cut short left
  auto got = DownloadFile(store.get(), folder + kBackupDatabaseFile, staged.path());
  if (!got.ok()) {
    return got.status().WithMessage("restore: cannot read the backup's database file: ",
                                    got.status().message());
  }
  if (got->bytes != expected.bytes || got->sha256 != expected.sha256) {
    return arrow::Status::Invalid(
        "restore: the backup's ", kBackupDatabaseFile, " is damaged: ", got->bytes,
        " bytes with SHA-256 ", got->sha256, ", the manifest says ", expected.bytes,
        " bytes with SHA-256 ", expected.sha256, "; restore another backup");
  }
  ARROW_ASSIGN_OR_RAISE(auto contents, ReadFileContents(staged.path()));
  ARROW_RETURN_NOT_OK(CheckTables(manifest, contents.tables));
  ARROW_RETURN_NOT_OK(CheckTarget(db_path, force));
  std::error_code error;
  std::filesystem::remove(db_path + ".wal", error);
  std::filesystem::rename(staged.path(), db_path, error);
  if (error) {
    return arrow::Status::IOError("restore: cannot move the database into place at '",
                                  db_path, "': ", error.message());
  }
  staged.Keep();
  return manifest;
}

}  // namespace arrowport::query
