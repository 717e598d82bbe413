#include "arrowport/query/backup_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <map>
#include <set>
#include <string_view>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include "arrow/buffer.h"
#include "arrow/io/interfaces.h"
#include "arrowport/common/file_descriptor.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/common/text_util.h"
#include "arrowport/common/thread_cancellation.h"
#include "arrowport/objectstore/open_store.h"
#include "arrowport/storage/catalog/database_contents.h"

namespace arrowport::query {

namespace {

constexpr int64_t kChunkBytes = int64_t{8} << 20;

class Sha256 {
 public:
  Sha256() { crypto_hash_sha256_init(&state_); }
  void Update(const void* data, size_t size) {
    crypto_hash_sha256_update(&state_, static_cast<const unsigned char*>(data), size);
  }
  std::string HexDigest() {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&state_, digest);
    return HexText({reinterpret_cast<const char*>(digest), sizeof(digest)});
  }

 private:
  crypto_hash_sha256_state state_;
};

}  // namespace

arrow::Result<std::string> BackupStoreUrl(const std::string& destination) {
  if (destination.empty()) {
    return arrow::Status::Invalid("backup: no destination (a directory or s3://bucket/prefix)");
  }
  // A NUL cut the path short in the file system's calls (a folder of another name was
  // made); no control character names a destination anyone means.
  for (const unsigned char c : destination) {
    if (c < 0x20 || c == 0x7f) {
      return arrow::Status::Invalid("backup destination holds a control character (byte ",
                                    static_cast<int>(c), "): name a directory or "
                                    "s3://bucket/prefix");
    }
  }
  if (destination.rfind("s3://", 0) == 0 || destination.rfind("file://", 0) == 0) {
    return destination;
  }
  if (destination.find("://") != std::string::npos) {
    return arrow::Status::Invalid("backup destination '", destination,
                                  "': only a directory or s3://bucket/prefix");
  }
  std::error_code error;
  auto absolute = std::filesystem::absolute(destination, error);
  if (error) return arrow::Status::Invalid("backup destination '", destination, "': ",
                                           error.message());
  return "file://" + absolute.lexically_normal().string();
}

arrow::Result<BackupFile> UploadFile(const std::string& path, objectstore::ObjectStore* store,
                                     const std::string& key,
                                     const std::shared_ptr<CallCancellation>& cancellation) {
  ThreadCancellationScope obey_call(cancellation);
  FileDescriptor in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return FileError("cannot open", path);
  ARROW_ASSIGN_OR_RAISE(auto out, store->OpenUpload(key));
  BackupFile file{std::filesystem::path(key).filename().string(), 0, ""};
  Sha256 hash;
  std::vector<char> buffer(kChunkBytes);
  for (;;) {
    if (cancellation && cancellation->cancelled()) {
      (void)out->Abort();
      return cancellation->Explain(arrow::Status::Cancelled("backup cancelled"));
    }
    const ssize_t got = ::read(in.get(), buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return FileError("cannot read", path);
    if (got == 0) break;
    hash.Update(buffer.data(), static_cast<size_t>(got));
    auto written = out->Write(buffer.data(), got);
    if (!written.ok()) {
      (void)out->Abort();
      return written.WithMessage("backup: writing ", store->url(), "/", key, ": ",
                                 written.message());
    }
    file.bytes += got;
  }
  auto closed = out->Close();
  if (!closed.ok()) {
    return closed.WithMessage("backup: writing ", store->url(), "/", key, ": ",
                              closed.message());
  }
  file.sha256 = hash.HexDigest();
  return file;
}

arrow::Result<BackupFile> DownloadFile(objectstore::ObjectStore* store, const std::string& key,
                                       const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto in, store->OpenRead(key));
  ARROW_ASSIGN_OR_RAISE(const int64_t size, in->GetSize());
  FileDescriptor out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (out.get() < 0) return FileError("cannot create", path);
  StagedFile partial(path);
  BackupFile file{std::filesystem::path(key).filename().string(), 0, ""};
  Sha256 hash;
  while (file.bytes < size) {
    ARROW_ASSIGN_OR_RAISE(auto chunk,
                          in->ReadAt(file.bytes, std::min(kChunkBytes, size - file.bytes)));
    if (chunk->size() == 0) break;
    hash.Update(chunk->data(), static_cast<size_t>(chunk->size()));
    for (int64_t done = 0; done < chunk->size();) {
      const ssize_t put = ::write(out.get(), chunk->data() + done, chunk->size() - done);
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) return FileError("cannot write", path);
      done += put;
    }
    file.bytes += chunk->size();
  }
  if (::fsync(out.get()) != 0) return FileError("cannot sync", path);
  if (!out.Close()) return FileError("cannot close", path);
  partial.Keep();
  file.sha256 = hash.HexDigest();
  return file;
}

arrow::Result<std::shared_ptr<objectstore::ObjectStore>> OpenBackupStore(
    const std::string& destination, const objectstore::S3Settings& s3, bool create) {
  ARROW_ASSIGN_OR_RAISE(auto url, BackupStoreUrl(destination));
  if (create && url.rfind("file://", 0) == 0) {
    // A file, a device: the caller's mistake, said as one (it answered 500 internal).
    std::error_code error;
    const auto status = std::filesystem::status(url.substr(7), error);
    if (!error && std::filesystem::exists(status) &&
        !std::filesystem::is_directory(status)) {
      return arrow::Status::Invalid("backup destination '", destination,
                                    "' is not a directory");
    }
  }
  if (!create && url.rfind("file://", 0) == 0) {
    std::error_code error;
    if (!std::filesystem::is_directory(url.substr(7), error)) {
      return arrow::Status::IOError("no backup at '", destination,
                                    "': not a directory");
    }
  }
  return objectstore::OpenObjectStore(url, s3);
}

arrow::Status MakePrivateFolder(const std::string& store_url, const std::string& id) {
  // A backup holds every table and the server's secrets (the lake commit key): in a
  // directory, its folder is the server's user's alone before anything is written in it
  // (the store writes files 0644, as a lake's are; the folder keeps others out).
  if (store_url.rfind("file://", 0) != 0) return arrow::Status::OK();
  const std::string folder = store_url.substr(7) + "/" + id;
  if (::mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST) {
    return arrow::Status::IOError("backup: cannot make '", folder, "': ", std::strerror(errno));
  }
  if (::chmod(folder.c_str(), 0700) != 0) {
    return arrow::Status::IOError("backup: cannot make '", folder, "' private: ",
                                  std::strerror(errno));
  }
  return arrow::Status::OK();
}

arrow::Result<std::vector<std::string>> CompleteBackups(objectstore::ObjectStore* store) {
  ARROW_ASSIGN_OR_RAISE(auto objects, store->List(""));
  std::vector<std::string> ids;
  const std::string suffix = std::string("/") + kBackupManifestFile;
  for (const auto& object : objects) {
    const std::string& key = object.key;
    if (key.size() > suffix.size() &&
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        key.find('/') == key.size() - suffix.size()) {
      ids.push_back(key.substr(0, key.size() - suffix.size()));
    }
  }
  std::sort(ids.begin(), ids.end());  // ids are UTC times: by name is by age
  return ids;
}

namespace {

// "20260101T120000.123Z" (backup.cc's BackupId): a folder a backup made.
bool IsBackupId(const std::string& name) {
  static constexpr std::string_view kShape = "ddddddddTdddddd.dddZ";  // d: a digit
  if (name.size() != kShape.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char want = kShape[i];
    if (want == 'd' ? !std::isdigit(static_cast<unsigned char>(name[i])) : name[i] != want) {
      return false;
    }
  }
  return true;
}

}  // namespace

arrow::Result<std::vector<std::string>> RemovePartialBackups(objectstore::ObjectStore* store,
                                                             const std::string& before) {
  std::vector<std::string> removed;
  const std::string url = store->url();
  if (url.rfind("file://", 0) == 0) {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(url.substr(7), error)) {
      const std::string id = entry.path().filename().string();
      if (!IsBackupId(id) || id >= before || !entry.is_directory(error) ||
          std::filesystem::exists(entry.path() / kBackupManifestFile, error)) {
        continue;
      }
      std::error_code gone;
      std::filesystem::remove_all(entry.path(), gone);
      if (!gone) removed.push_back(id);
    }
    if (error) return arrow::Status::IOError("cannot list ", url, ": ", error.message());
    return removed;
  }
  ARROW_ASSIGN_OR_RAISE(auto objects, store->List(""));
  std::map<std::string, std::vector<std::string>> keys_by_id;
  std::set<std::string> complete;
  for (const auto& object : objects) {
    const size_t slash = object.key.find('/');
    if (slash == std::string::npos) continue;
    const std::string id = object.key.substr(0, slash);
    if (!IsBackupId(id) || id >= before) continue;
    if (object.key.substr(slash + 1) == kBackupManifestFile) complete.insert(id);
    keys_by_id[id].push_back(object.key);
  }
  for (const auto& [id, keys] : keys_by_id) {
    if (complete.count(id) != 0) continue;
    for (const auto& key : keys) ARROW_RETURN_NOT_OK(store->Delete(key));
    removed.push_back(id);
  }
  return removed;
}

arrow::Result<FileContents> ReadFileContents(const std::string& path) {
  ARROW_ASSIGN_OR_RAISE(auto contents, storage::ReadDatabaseContents(path));
  FileContents out;
  out.duckdb_version = std::move(contents.duckdb_version);
  out.request_ids = std::move(contents.request_ids);
  for (auto& table : contents.tables) {
    out.tables.push_back({std::move(table.schema), std::move(table.name), table.rows,
                          std::move(table.checksum)});
  }
  return out;
}

}  // namespace arrowport::query
