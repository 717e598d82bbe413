#include "arrowport/objectstore/local_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <climits>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <utility>

#include "arrow/buffer.h"
#include "arrow/io/file.h"
#include "arrowport/common/file_descriptor.h"
#include "arrowport/objectstore/local_file.h"

namespace arrowport::objectstore {

namespace {

std::string ParentOf(const std::string& path) { return path.substr(0, path.rfind('/')); }

int64_t ModifiedMs(const struct stat& info) {
  return int64_t{info.st_mtim.tv_sec} * 1000 + info.st_mtim.tv_nsec / 1000000;
}

/// Adds the files under `dir` (the directory of key prefix `key_dir`, "" or ending in
/// '/') whose keys start with `prefix` and sort after `start_after`.
void Walk(const std::string& dir, const std::string& key_dir, const std::string& prefix,
          const std::string& start_after, std::vector<ObjectInfo>* out) {
  DIR* stream = ::opendir(dir.c_str());
  if (stream == nullptr) return;  // gone (a concurrent Delete) or not a directory
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(stream)) {
    const std::string_view name(entry->d_name);
    if (name == "." || name == ".." || name.starts_with(kTempFilePrefix)) continue;
    names.emplace_back(name);
  }
  ::closedir(stream);
  for (const std::string& name : names) {
    const std::string key = key_dir + name;
    // Only keys that can still start with the prefix (which may end mid-name).
    const size_t common = std::min(key.size(), prefix.size());
    if (key.compare(0, common, prefix, 0, common) != 0) continue;
    struct stat info{};
    const std::string path = dir + "/" + name;
    if (::lstat(path.c_str(), &info) != 0) continue;  // deleted meanwhile
    // A symbolic link counts as what it points at, except that linked directories are
    // not walked (a link to an ancestor would never end).
    const bool link = S_ISLNK(info.st_mode);
    if (link && ::stat(path.c_str(), &info) != 0) continue;
    if (S_ISDIR(info.st_mode)) {
      if (link) continue;
      const std::string sub = key + "/";
      // Every key under `sub` starts with it: all sort before start_after when `sub`
      // does and start_after does not lead into it.
      if (!start_after.empty() && sub < start_after && !start_after.starts_with(sub)) {
        continue;
      }
      Walk(path, sub, prefix, start_after, out);
    } else if (S_ISREG(info.st_mode) && key.size() >= prefix.size() &&
               key > start_after) {
      out->push_back(
          ObjectInfo{key, static_cast<int64_t>(info.st_size), ModifiedMs(info)});
    }
  }
}

/// \brief OpenUpload's stream: writes a temporary file, committed by Close().
class LocalUpload final : public arrow::io::OutputStream {
 public:
  LocalUpload(TempFile file, std::string path)
      : file_(std::move(file)), path_(std::move(path)) {}

  arrow::Status Write(const void* data, int64_t nbytes) override {
    if (closed_) return arrow::Status::Invalid("write to a closed upload of ", path_);
    ARROW_RETURN_NOT_OK(file_.Write(data, nbytes));
    position_ += nbytes;
    return arrow::Status::OK();
  }
  arrow::Status Close() override {
    if (closed_) return arrow::Status::OK();
    closed_ = true;
    return file_.Commit(path_);
  }
  arrow::Status Abort() override {
    closed_ = true;
    file_.Discard();
    return arrow::Status::OK();
  }
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override { return position_; }

 private:
  TempFile file_;  // discarded on destruction unless committed
  std::string path_;
  int64_t position_ = 0;
  bool closed_ = false;
};

}  // namespace

arrow::Result<std::shared_ptr<LocalStore>> LocalStore::Make(const std::string& root) {
  if (root.empty() || root.front() != '/') {
    return arrow::Status::Invalid("local object store directory '", root,
                                  "' is not an absolute path");
  }
  std::string normal = std::filesystem::path(root).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  std::error_code error;
  std::filesystem::create_directories(normal, error);
  if (error) {
    return arrow::Status::IOError("cannot create object store directory ", normal, ": ",
                                  error.message());
  }
  if (!std::filesystem::is_directory(normal, error)) {
    return arrow::Status::IOError("object store path ", normal, " is not a directory");
  }
  if (normal == "/") {
    return arrow::Status::Invalid("refusing the file system root as an object store");
  }
  return std::shared_ptr<LocalStore>(new LocalStore(std::move(normal)));
}

arrow::Status LocalStore::NotFound(const std::string& key) const {
  return arrow::Status::KeyError("object '", key, "' not found in ", url());
}

arrow::Result<std::shared_ptr<arrow::Buffer>> LocalStore::ReadFile(const std::string& key,
                                                                   int64_t offset,
                                                                   int64_t length) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  if (offset < 0) return arrow::Status::Invalid("negative offset reading ", key);
  ARROW_RETURN_NOT_OK(CheckInsideRoot(key));
  const std::string path = PathOf(key);
  const FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return NotFound(key);
    return ErrnoError("open", path, errno);
  }
  struct stat info{};
  if (::fstat(file.get(), &info) != 0) return ErrnoError("stat", path, errno);
  if (!S_ISREG(info.st_mode)) return NotFound(key);
  const int64_t size = info.st_size;
  const int64_t start = std::min(offset, size);
  const int64_t want = length < 0 ? size - start : std::min(length, size - start);
  if (want > (int64_t{1} << 30)) {
    return arrow::Status::IOError("object '", key, "' of ", url(), " is larger than 1 GiB: "
                                  "read it in ranges");
  }
  ARROW_ASSIGN_OR_RAISE(std::unique_ptr<arrow::ResizableBuffer> buffer,
                        arrow::AllocateResizableBuffer(want));
  int64_t done = 0;
  while (done < want) {
    const ssize_t n = ::pread(file.get(), buffer->mutable_data() + done,
                              static_cast<size_t>(want - done), start + done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("read", path, errno);
    if (n == 0) break;  // shorter than it was a moment ago
    done += n;
  }
  ARROW_RETURN_NOT_OK(buffer->Resize(done));
  return std::shared_ptr<arrow::Buffer>(std::move(buffer));
}

arrow::Result<std::shared_ptr<arrow::Buffer>> LocalStore::Get(const std::string& key) {
  return ReadFile(key, 0, -1);
}

arrow::Result<std::shared_ptr<arrow::Buffer>> LocalStore::GetRange(const std::string& key,
                                                                   int64_t offset,
                                                                   int64_t length) {
  if (length < 0) return arrow::Status::Invalid("negative length reading ", key);
  return ReadFile(key, offset, length);
}

arrow::Result<ObjectInfo> LocalStore::Head(const std::string& key) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  const std::string path = PathOf(key);
  struct stat info{};
  if (::stat(path.c_str(), &info) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return NotFound(key);
    return ErrnoError("stat", path, errno);
  }
  if (!S_ISREG(info.st_mode)) return NotFound(key);
  return ObjectInfo{key, static_cast<int64_t>(info.st_size), ModifiedMs(info)};
}

arrow::Result<std::vector<ObjectInfo>> LocalStore::List(const std::string& prefix,
                                                        const std::string& start_after) {
  ARROW_RETURN_NOT_OK(ValidatePrefix(prefix));
  const size_t slash = prefix.rfind('/');
  const std::string key_dir =
      slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
  std::string dir = root_;
  if (!key_dir.empty()) dir += "/" + key_dir.substr(0, key_dir.size() - 1);
  std::vector<ObjectInfo> objects;
  Walk(dir, key_dir, prefix, start_after, &objects);
  std::sort(objects.begin(), objects.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return objects;
}

arrow::Status LocalStore::Put(const std::string& key,
                              std::shared_ptr<arrow::Buffer> data) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  const std::string path = PathOf(key);
  ARROW_ASSIGN_OR_RAISE(TempFile file, TempFile::Create(ParentOf(path)));
  ARROW_RETURN_NOT_OK(file.Write(data->data(), data->size()));
  return file.Commit(path);
}

arrow::Status LocalStore::PutIfAbsent(const std::string& key,
                                      std::shared_ptr<arrow::Buffer> data) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  const std::string path = PathOf(key);
  ARROW_ASSIGN_OR_RAISE(TempFile file, TempFile::Create(ParentOf(path)));
  ARROW_RETURN_NOT_OK(file.Write(data->data(), data->size()));
  return file.CommitIfAbsent(path, key);
}

arrow::Status LocalStore::Delete(const std::string& key) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  std::string path = PathOf(key);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return arrow::Status::OK();
    return ErrnoError("delete", path, errno);
  }
  // S3 has no directories: an emptied one would only block a later object of its name.
  // rmdir refuses non-empty directories, so a concurrent writer's directory survives.
  for (path = ParentOf(path); path.size() > root_.size(); path = ParentOf(path)) {
    if (::rmdir(path.c_str()) != 0) break;
  }
  return SyncDirectory(path);  // the deepest directory left
}

arrow::Result<std::shared_ptr<arrow::io::OutputStream>> LocalStore::OpenUpload(
    const std::string& key) {
  ARROW_RETURN_NOT_OK(ValidateKey(key));
  std::string path = PathOf(key);
  ARROW_ASSIGN_OR_RAISE(TempFile file, TempFile::Create(ParentOf(path)));
  return std::make_shared<LocalUpload>(std::move(file), std::move(path));
}

std::optional<int64_t> LocalStore::AvailableBytes() const {
  struct statvfs info {};
  if (::statvfs(root_.c_str(), &info) != 0) return std::nullopt;
  return static_cast<int64_t>(info.f_bavail) * static_cast<int64_t>(info.f_frsize);
}

arrow::Status LocalStore::CheckInsideRoot(const std::string& key) const {
  // A symbolic link placed in the table (by anyone who can write there) must not make
  // the server read files outside it.
  char resolved[PATH_MAX];
  const std::string path = PathOf(key);
  if (::realpath(path.c_str(), resolved) == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) return NotFound(key);
    return ErrnoError("realpath", path, errno);
  }
  char root[PATH_MAX];
  if (::realpath(root_.c_str(), root) == nullptr) return ErrnoError("realpath", root_, errno);
  const std::string inside = std::string(root) + "/";
  if (std::string(resolved).rfind(inside, 0) != 0) {
    // Invalid, not IOError: the key's content is at fault, not the store's health.
    return arrow::Status::Invalid("object '", key, "' of ", url(),
                                  " resolves outside the store's directory (a symbolic link)");
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<arrow::io::RandomAccessFile>> LocalStore::OpenRead(
    const std::string& key) {
  ARROW_RETURN_NOT_OK(Head(key).status());
  ARROW_RETURN_NOT_OK(CheckInsideRoot(key));
  const std::string path = PathOf(key);
  auto file = arrow::io::ReadableFile::Open(path);
  // Deleted between the check and the open.
  if (!file.ok() && ::access(path.c_str(), F_OK) != 0) return NotFound(key);
  ARROW_ASSIGN_OR_RAISE(auto readable, std::move(file));
  return std::shared_ptr<arrow::io::RandomAccessFile>(std::move(readable));
}

}  // namespace arrowport::objectstore
