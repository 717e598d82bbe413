// RestoreBackup (backup.h): `arrowport restore`, with no server.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
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

// The PID of a process holding a lock on `path` (DuckDB's lock on its database file), or
// 0. F_GETLK asks without taking anything.
pid_t LockHolder(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  struct flock lock = {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  const pid_t holder = ::fcntl(fd, F_GETLK, &lock) == 0 && lock.l_type != F_UNLCK
                           ? lock.l_pid
                           : 0;
  ::close(fd);
  return holder;
}

// The target file and its WAL: an old WAL beside a restored file would be replayed into it.
// Even with --force, only regular files are replaced, and never a database a running
// server holds (a forced restore under one deleted its WAL: its acknowledged rows).
arrow::Status CheckTarget(const std::string& db_path, bool force) {
  for (const std::string& path : {db_path, db_path + ".wal"}) {
    if (!Exists(path)) continue;
    if (!force) {
      return arrow::Status::AlreadyExists(
          "restore: '", path, "' exists; restore into a new path, or pass --force to "
          "replace it (stop any server using it first)");
    }
    std::error_code error;
    if (!std::filesystem::is_regular_file(std::filesystem::symlink_status(path, error))) {
      return arrow::Status::Invalid("restore: '", path, "' is not a regular file (a "
                                    "directory, a device or a symlink): not replaced");
    }
  }
  if (Exists(db_path)) {
    if (const pid_t holder = LockHolder(db_path); holder != 0) {
      return arrow::Status::Invalid("restore: '", db_path, "' is in use (locked by PID ",
                                    holder, "): stop its server first");
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
  // The request ids a producer resends by: the file must hold exactly the manifest's.
  auto want = manifest.request_ids, have = contents.request_ids;
  std::sort(want.begin(), want.end());
  std::sort(have.begin(), have.end());
  if (want != have) {
    return arrow::Status::Invalid("restore: the backup's manifest lists ", want.size(),
                                  " request ids, its database holds ", have.size(),
                                  " others or more: the manifest was changed; restore "
                                  "another backup");
  }
  ARROW_RETURN_NOT_OK(CheckTarget(db_path, force));
  // The old WAL is set aside, not removed, until the file is in place: a rename that
  // fails leaves the database and its WAL as they were.
  std::error_code error;
  const std::string wal = db_path + ".wal", aside = db_path + ".wal.before-restore";
  const bool had_wal = Exists(wal);
  if (had_wal) {
    std::filesystem::rename(wal, aside, error);
    if (error) {
      return arrow::Status::IOError("restore: cannot set '", wal, "' aside: ",
                                    error.message());
    }
  }
  std::filesystem::rename(staged.path(), db_path, error);
  if (error) {
    std::error_code ignored;
    if (had_wal) std::filesystem::rename(aside, wal, ignored);
    return arrow::Status::IOError("restore: cannot move the database into place at '",
                                  db_path, "': ", error.message());
  }
  if (had_wal) std::filesystem::remove(aside, error);
  staged.Keep();
  return manifest;
}

}  // namespace arrowport::query
