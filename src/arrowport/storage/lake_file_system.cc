// A DuckDB file system reading `arrowport-lake://STORE/KEY` through Arrowport's object
// stores (a directory, S3), so DuckDB's own Parquet reader (parallel, with pruning) reads
// lake tables wherever they live: no httpfs extension, one set of credentials.
#include "arrowport/storage/lake_file_system.h"

#include <duckdb/common/exception.hpp>
#include <duckdb/common/file_opener.hpp>
#include <duckdb/common/file_system.hpp>
#include <duckdb/main/capi/capi_internal.hpp>
#include <duckdb/main/database.hpp>

#include <map>
#include <mutex>

#include "arrow/buffer.h"
#include "arrow/io/interfaces.h"
#include "arrowport/storage/duckdb_internals.h"

namespace arrowport::storage {

struct LakeStores::State {
  struct Entry {
    std::shared_ptr<objectstore::ObjectStore> store;
    std::shared_ptr<const std::set<std::string>> readable;
  };
  mutable std::mutex mutex;
  std::map<std::string, Entry> stores;
};

LakeStores::LakeStores() : state_(std::make_shared<State>()) {}

void LakeStores::Register(const std::string& name,
                          std::shared_ptr<objectstore::ObjectStore> store,
                          std::shared_ptr<const std::set<std::string>> readable_keys) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->stores[name] = {std::move(store), std::move(readable_keys)};
}

std::shared_ptr<objectstore::ObjectStore> LakeStores::Find(const std::string& name,
                                                           const std::string& key) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->stores.find(name);
  if (it == state_->stores.end() || !it->second.readable ||
      it->second.readable->count(key) == 0) {
    return nullptr;
  }
  return it->second.store;
}

std::string LakeStores::PathOf(const std::string& name, const std::string& key) {
  return std::string(kLakePathPrefix) + name + "/" + key;
}

namespace {

struct LakeFileHandle : public duckdb::FileHandle {
  LakeFileHandle(duckdb::FileSystem& fs, const std::string& path, duckdb::FileOpenFlags flags,
                 std::shared_ptr<arrow::io::RandomAccessFile> file, int64_t size)
      : duckdb::FileHandle(fs, path, flags), file(std::move(file)), size(size) {}
  void Close() override {
    if (file) (void)file->Close();
  }
  std::shared_ptr<arrow::io::RandomAccessFile> file;
  int64_t size;
  int64_t position = 0;
};

[[noreturn]] void Fail(const std::string& path, const arrow::Status& st) {
  throw duckdb::IOException("reading " + path + ": " + st.message());
}

class LakeFileSystem : public duckdb::FileSystem {
 public:
  explicit LakeFileSystem(LakeStores stores) : stores_(std::move(stores)) {}

  std::string GetName() const override { return "ArrowportLakeFileSystem"; }
  bool CanHandleFile(const std::string& path) override {
    return path.rfind(kLakePathPrefix, 0) == 0;
  }

  duckdb::unique_ptr<duckdb::FileHandle> OpenFile(
      const std::string& path, duckdb::FileOpenFlags flags,
      duckdb::optional_ptr<duckdb::FileOpener> opener) override {
    if (flags.OpenForWriting()) {
      throw duckdb::PermissionException("lake files are read-only through SQL: " + path);
    }
    auto [store, key] = Resolve(path);
    auto file = store->OpenRead(key);
    if (!file.ok()) {
      if (file.status().IsKeyError() && flags.ReturnNullIfNotExists()) return nullptr;
      Fail(path, file.status());
    }
    auto size = (*file)->GetSize();
    if (!size.ok()) Fail(path, size.status());
    return duckdb::make_uniq<LakeFileHandle>(*this, path, flags, std::move(*file), *size);
  }

  void Read(duckdb::FileHandle& handle, void* buffer, int64_t nr_bytes,
            duckdb::idx_t location) override {
    auto& h = handle.Cast<LakeFileHandle>();
    auto read = h.file->ReadAt(static_cast<int64_t>(location), nr_bytes, buffer);
    if (!read.ok()) Fail(h.path, read.status());
    if (*read != nr_bytes) {
      throw duckdb::IOException("reading " + h.path + ": short read at " +
                                std::to_string(location));
    }
  }
  int64_t Read(duckdb::FileHandle& handle, void* buffer, int64_t nr_bytes) override {
    auto& h = handle.Cast<LakeFileHandle>();
    const int64_t n = std::max<int64_t>(0, std::min(nr_bytes, h.size - h.position));
    if (n == 0) return 0;
    auto read = h.file->ReadAt(h.position, n, buffer);
    if (!read.ok()) Fail(h.path, read.status());
    h.position += *read;
    return *read;
  }
  int64_t GetFileSize(duckdb::FileHandle& handle) override {
    return handle.Cast<LakeFileHandle>().size;
  }
  duckdb::timestamp_t GetLastModifiedTime(duckdb::FileHandle& handle) override {
    // Data files are immutable (a key is never rewritten): any fixed time will do.
    return duckdb::timestamp_t(0);
  }
  duckdb::FileType GetFileType(duckdb::FileHandle&) override {
    return duckdb::FileType::FILE_TYPE_REGULAR;
  }
  void Seek(duckdb::FileHandle& handle, duckdb::idx_t location) override {
    handle.Cast<LakeFileHandle>().position = static_cast<int64_t>(location);
  }
  duckdb::idx_t SeekPosition(duckdb::FileHandle& handle) override {
    return static_cast<duckdb::idx_t>(handle.Cast<LakeFileHandle>().position);
  }
  bool CanSeek() override { return true; }
  bool OnDiskFile(duckdb::FileHandle&) override { return false; }
  bool FileExists(const std::string& filename,
                  duckdb::optional_ptr<duckdb::FileOpener>) override {
    try {
      auto [store, key] = Resolve(filename);
      return store->Head(key).ok();
    } catch (const duckdb::IOException&) {
      return false;
    }
  }
  duckdb::vector<duckdb::OpenFileInfo> Glob(const std::string& path,
                                            duckdb::FileOpener*) override {
    // Lake views list the files of a snapshot by name: no wildcards to expand.
    duckdb::vector<duckdb::OpenFileInfo> out;
    out.emplace_back(path);
    return out;
  }

 private:
  std::pair<std::shared_ptr<objectstore::ObjectStore>, std::string> Resolve(
      const std::string& path) {
    const std::string rest = path.substr(std::string(kLakePathPrefix).size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos) throw duckdb::IOException("not a lake file: " + path);
    std::string key = rest.substr(slash + 1);
    // Only the data files of served snapshots: SQL naming any other path (a log entry, a
    // removed file, something another writer put there) finds nothing.
    auto store = stores_.Find(rest.substr(0, slash), key);
    if (!store) throw duckdb::IOException("no such lake file: " + path);
    return {std::move(store), std::move(key)};
  }

  LakeStores stores_;
};

}  // namespace

void RegisterLakeFileSystem(duckdb_database database, const LakeStores& stores) {
  auto* wrapper = reinterpret_cast<duckdb::DatabaseWrapper*>(database);
  auto& fs = duckdb::FileSystem::GetFileSystem(*wrapper->database->instance);
  fs.RegisterSubSystem(duckdb::make_uniq<LakeFileSystem>(stores));
}

}  // namespace arrowport::storage
