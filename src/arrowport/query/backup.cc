#include "arrowport/query/backup.h"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <mutex>

#include "arrow/buffer.h"
#include "arrowport/common/iso_time.h"
#include "arrowport/common/version.h"
#include "arrowport/query/backup_files.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::query {

namespace {

// "20260101T120000.123Z": sorts by time, and names a backup's folder.
std::string BackupId(std::chrono::system_clock::time_point now) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[40];
  std::strftime(text, sizeof(text), "%Y%m%dT%H%M%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof(millis), ".%03dZ", static_cast<int>(ms % 1000));
  return std::string(text) + millis;
}

// The staging copy's name beside the database `db_path`; `id` "*" gives its pattern's
// prefix and suffix around it.
std::string StagingName(const std::filesystem::path& db_path, const std::string& id) {
  return "." + db_path.filename().string() + ".backup-" + id + ".tmp";
}

// Removes what a failed backup wrote (best effort: without a manifest it is partial).
void RemovePartial(objectstore::ObjectStore* store, const std::string& id) {
  (void)store->Delete(id + "/" + kBackupManifestFile);
  (void)store->Delete(id + "/" + kBackupDatabaseFile);
}

// Keeps the newest `keep` complete backups: the manifest goes first, so a backup whose
// removal stops half way is partial, never a damaged "complete" one.
arrow::Status KeepNewest(objectstore::ObjectStore* store, int keep) {
  if (keep <= 0) return arrow::Status::OK();
  ARROW_ASSIGN_OR_RAISE(auto ids, CompleteBackups(store));
  for (size_t i = 0; i + static_cast<size_t>(keep) < ids.size(); ++i) {
    ARROW_RETURN_NOT_OK(store->Delete(ids[i] + "/" + kBackupManifestFile));
    ARROW_RETURN_NOT_OK(store->Delete(ids[i] + "/" + kBackupDatabaseFile));
  }
  return arrow::Status::OK();
}

}  // namespace

struct BackupOperation::Impl {
  Impl(storage::Database* db, objectstore::S3Settings settings, LakeSnapshots lake_list,
       Logger* log)
      : database(db), s3(std::move(settings)), lakes(std::move(lake_list)), logger(log) {}
  storage::Database* database;
  objectstore::S3Settings s3;
  LakeSnapshots lakes;
  Logger* logger;
  std::mutex one_at_a_time;

  arrow::Result<BackupManifest> Run(const std::string& destination, int keep,
                                    const std::shared_ptr<CallCancellation>& cancellation);
};

BackupOperation::BackupOperation(storage::Database* database, objectstore::S3Settings s3,
                                 LakeSnapshots lakes, Logger* logger)
    : impl_(std::make_unique<Impl>(database, std::move(s3), std::move(lakes), logger)) {}

BackupOperation::~BackupOperation() = default;

void BackupOperation::RemoveStaleStaging() {
  std::lock_guard<std::mutex> lock(impl_->one_at_a_time);
  const std::filesystem::path db_path(impl_->database->path());
  if (impl_->database->path() == ":memory:") return;
  const std::string pattern = StagingName(db_path, "*");
  const std::string prefix = pattern.substr(0, pattern.find('*'));
  const std::string suffix = pattern.substr(pattern.find('*') + 1);
  // A relative --db ("x.duckdb") has its staging copies in the working directory.
  const auto dir = db_path.has_parent_path() ? db_path.parent_path() : ".";
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) ||
        !name.ends_with(suffix) || !entry.is_regular_file(error)) {
      continue;
    }
    std::error_code removed;
    std::filesystem::remove(entry.path(), removed);
    if (impl_->logger == nullptr) continue;
    if (removed) {
      impl_->logger->Warn("cannot remove a stale backup staging file",
                          {{"path", entry.path().string()}, {"error", removed.message()}});
    } else {
      impl_->logger->Info("removed a stale backup staging file (a backup cut short)",
                          {{"path", entry.path().string()}});
    }
  }
}

arrow::Result<BackupManifest> BackupOperation::Run(
    const std::string& destination, int keep,
    const std::shared_ptr<CallCancellation>& cancellation) {
  std::lock_guard<std::mutex> lock(impl_->one_at_a_time);
  return impl_->Run(destination, keep, cancellation);
}

arrow::Result<BackupManifest> BackupOperation::Impl::Run(
    const std::string& destination, int keep,
    const std::shared_ptr<CallCancellation>& cancellation) {
  ARROW_ASSIGN_OR_RAISE(auto store, OpenBackupStore(destination, s3, /*create=*/true));
  const auto now = std::chrono::system_clock::now();
  BackupManifest manifest;
  manifest.id = BackupId(now);
  ARROW_RETURN_NOT_OK(MakePrivateFolder(store->url(), manifest.id));
  manifest.created_at = IsoUtcTime(std::chrono::system_clock::to_time_t(now));
  manifest.server_version = arrowport::Version();
  // The copy beside the database: its tables are read from it (DuckDB opens local files).
  const std::filesystem::path db_path(database->path());
  StagedFile staged((db_path.parent_path() / StagingName(db_path, manifest.id)).string());
  // The lake's snapshots as of the checkpoint the copy is of.
  auto name_lakes = [&] {
    if (lakes) manifest.lake_tables = lakes();
  };
  ARROW_ASSIGN_OR_RAISE(const int64_t bytes,
                        database->CopyCheckpointed(staged.path(), cancellation, name_lakes));
  if (auto room = store->AvailableBytes(); room && *room < bytes) {
    return arrow::Status::IOError("backup: ", store->url(), " has ", *room >> 20,
                                  " MiB free, the database file is ", bytes >> 20, " MiB");
  }
  ARROW_ASSIGN_OR_RAISE(auto contents, ReadFileContents(staged.path()));
  manifest.duckdb_version = std::move(contents.duckdb_version);
  manifest.tables = std::move(contents.tables);
  manifest.request_ids = std::move(contents.request_ids);
  auto written = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto file,
                          UploadFile(staged.path(), store.get(),
                                     manifest.id + "/" + kBackupDatabaseFile, cancellation));
    manifest.files.push_back(std::move(file));
    if (cancellation && cancellation->cancelled()) return cancellation->reason();
    // Last: its presence is what makes the backup complete.
    return store->Put(manifest.id + "/" + kBackupManifestFile,
                      arrow::Buffer::FromString(manifest.ToJson()));
  }();
  if (!written.ok()) {
    RemovePartial(store.get(), manifest.id);
    return written;
  }
  // The backup is complete whatever clean-up and retention say: a removal that failed
  // is tried again after the next backup.
  auto partial = RemovePartialBackups(store.get(), manifest.id);
  if (logger != nullptr && partial.ok()) {
    for (const auto& id : *partial) {
      logger->Info("removed a partial backup (one cut short)",
                   {{"to", store->url()}, {"id", id}});
    }
  }
  (void)KeepNewest(store.get(), keep);
  return manifest;
}

}  // namespace arrowport::query
