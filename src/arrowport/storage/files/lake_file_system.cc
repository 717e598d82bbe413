// A DuckDB file system reading `arrowport-lake://STORE/NUMBER` (a data file the server
// serves) through Arrowport's object stores (a directory, S3), so DuckDB's own Parquet
// reader (parallel, with pruning) reads lake tables wherever they live: no httpfs
// extension, one set of credentials. And the scalar functions lake views read partition
// values and refusals with.
#include "arrowport/storage/files/lake_file_system.h"

#include <duckdb/common/exception.hpp>
#include <duckdb/common/file_opener.hpp>
#include <duckdb/common/file_system.hpp>
#include <duckdb/main/capi/capi_internal.hpp>
#include <duckdb/main/client_context.hpp>
#include <duckdb/main/database.hpp>

#include <charconv>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "arrow/buffer.h"
#include "arrow/io/interfaces.h"
#include "arrowport/common/thread_cancellation.h"
#include "arrowport/storage/core/duckdb_internals.h"

namespace arrowport::storage {

struct LakeStores::State {
  // What SQL may read of one store, by number (each map and its inverse).
  struct Entry {
    std::shared_ptr<objectstore::ObjectStore> store;
    std::map<std::string, int64_t> file_numbers;
    std::map<int64_t, std::string> files;
    std::map<std::string, int64_t> sizes;  // by key, as the logs give them
    std::map<std::string, std::string> identities;  // by key, as the logs give them
    std::map<std::string, int64_t> value_numbers;
    std::map<int64_t, std::string> values;
    std::optional<std::string> refusal;
  };
  mutable std::mutex mutex;
  std::map<std::string, Entry> stores;
  // The next number given: from the clock at start, so a view left in the database file
  // by an earlier run (until its stream is published again) finds none of its numbers.
  int64_t next_number = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();

  // Keeps the numbers of `wanted` already given, numbers the new ones, drops the rest.
  void Renumber(const std::set<std::string>& wanted, std::map<std::string, int64_t>* numbers,
                std::map<int64_t, std::string>* by_number) {
    std::map<std::string, int64_t> kept;
    std::map<int64_t, std::string> kept_by_number;
    for (const auto& text : wanted) {
      auto it = numbers->find(text);
      const int64_t number = it != numbers->end() ? it->second : next_number++;
      kept.emplace(text, number);
      kept_by_number.emplace(number, text);
    }
    *numbers = std::move(kept);
    *by_number = std::move(kept_by_number);
  }
};

LakeStores::LakeStores() : state_(std::make_shared<State>()) {}

void LakeStores::Register(const std::string& name,
                          std::shared_ptr<objectstore::ObjectStore> store,
                          const LakeServed& served) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  State::Entry& entry = state_->stores[name];
  entry.store = std::move(store);
  for (const auto& [key, identity] : served.identities) {
    auto known = entry.identities.find(key);
    if (known != entry.identities.end() && known->second != identity) {
      entry.file_numbers.erase(key);  // a new number below
    }
  }
  state_->Renumber(served.keys, &entry.file_numbers, &entry.files);
  entry.sizes = served.sizes;
  entry.identities = served.identities;
  state_->Renumber(served.values, &entry.value_numbers, &entry.values);
  entry.refusal.reset();
}

void LakeStores::Refuse(const std::string& name, const std::string& reason) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->stores[name].refusal = reason;
}

std::optional<int64_t> LakeStores::FileNumber(const std::string& name,
                                              const std::string& key) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->stores.find(name);
  if (it == state_->stores.end()) return std::nullopt;
  auto found = it->second.file_numbers.find(key);
  if (found == it->second.file_numbers.end()) return std::nullopt;
  return found->second;
}

std::optional<int64_t> LakeStores::ValueNumber(const std::string& name,
                                               const std::string& value) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->stores.find(name);
  if (it == state_->stores.end()) return std::nullopt;
  auto found = it->second.value_numbers.find(value);
  if (found == it->second.value_numbers.end()) return std::nullopt;
  return found->second;
}

arrow::Status LakeStores::Refusal(const std::string& name) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->stores.find(name);
  if (it != state_->stores.end() && it->second.refusal) {
    return arrow::Status::Invalid(*it->second.refusal);
  }
  return arrow::Status::OK();
}

arrow::Result<LakeServedFile> LakeStores::File(const std::string& name, int64_t number) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->stores.find(name);
  if (it == state_->stores.end()) return arrow::Status::KeyError("no such lake store");
  if (it->second.refusal) return arrow::Status::Invalid(*it->second.refusal);
  auto found = it->second.files.find(number);
  if (found == it->second.files.end() || !it->second.store) {
    return arrow::Status::KeyError("not a served file of the lake table (read the table "
                                   "again)");
  }
  auto size = it->second.sizes.find(found->second);
  return LakeServedFile{it->second.store, found->second,
                        size == it->second.sizes.end() ? -1 : size->second};
}

arrow::Result<std::string> LakeStores::Value(const std::string& name, int64_t number) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  auto it = state_->stores.find(name);
  if (it == state_->stores.end()) return arrow::Status::KeyError("no such lake store");
  if (it->second.refusal) return arrow::Status::Invalid(*it->second.refusal);
  auto found = it->second.values.find(number);
  if (found == it->second.values.end()) {
    return arrow::Status::KeyError("not a served partition value of the lake table (read "
                                   "the table again)");
  }
  return found->second;
}

std::string LakeStores::PathOf(const std::string& name, int64_t number) {
  return std::string(kLakePathPrefix) + name + "/" + std::to_string(number);
}

namespace {

// Store requests made on this thread for a query of `context` (null: none known) end when
// that query is interrupted, unless the thread obeys a call of its own already: DuckDB's
// worker threads know nothing of the call, and its interrupt reaches no read that waits
// on a store which stopped answering.
class ObeyQuery {
 public:
  explicit ObeyQuery(duckdb::ClientContext* context) {
    if (context != nullptr && ThreadCancellation::Current().cancellation == nullptr) {
      scope_.emplace(ThreadCancellation{
          nullptr, std::nullopt, [context] { return context->IsInterrupted(); }});
    }
  }

 private:
  std::optional<ThreadCancellationScope> scope_;
};

struct LakeFileHandle : public duckdb::FileHandle {
  LakeFileHandle(duckdb::FileSystem& fs, const std::string& path, duckdb::FileOpenFlags flags,
                 std::shared_ptr<arrow::io::RandomAccessFile> file, int64_t size,
                 duckdb::ClientContext* context)
      : duckdb::FileHandle(fs, path, flags),
        file(std::move(file)),
        size(size),
        context(context) {}
  void Close() override {
    if (file) (void)file->Close();
  }
  std::shared_ptr<arrow::io::RandomAccessFile> file;
  int64_t size;
  int64_t position = 0;
  // The client context of the connection whose statement opened it (null: none known):
  // only that connection's statements read it (a reader made to bind one may serve its
  // run; DuckDB caches bytes and metadata across connections, never a handle), and the
  // context outlives them.
  duckdb::ClientContext* context;
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
    const LakeServedFile served = Resolve(path);
    duckdb::ClientContext* context = duckdb::FileOpener::TryGetClientContext(opener).get();
    ObeyQuery obey(context);
    // A size the log gives spares S3 a HEAD per file each time a view is bound.
    auto file = served.size >= 0 ? served.store->OpenReadOfSize(served.key, served.size)
                                 : served.store->OpenRead(served.key);
    if (!file.ok()) {
      if (file.status().IsKeyError() && flags.ReturnNullIfNotExists()) return nullptr;
      Fail(path, file.status());
    }
    auto size = (*file)->GetSize();
    if (!size.ok()) Fail(path, size.status());
    return duckdb::make_uniq<LakeFileHandle>(*this, path, flags, std::move(*file), *size,
                                             context);
  }

  void Read(duckdb::FileHandle& handle, void* buffer, int64_t nr_bytes,
            duckdb::idx_t location) override {
    auto& h = handle.Cast<LakeFileHandle>();
    ObeyQuery obey(h.context);
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
    ObeyQuery obey(h.context);
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
                  duckdb::optional_ptr<duckdb::FileOpener> opener) override {
    try {
      const LakeServedFile served = Resolve(filename);
      ObeyQuery obey(duckdb::FileOpener::TryGetClientContext(opener).get());
      return served.store->Head(served.key).ok();
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
  LakeServedFile Resolve(const std::string& path) {
    const std::string rest = path.substr(std::string(kLakePathPrefix).size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos) throw duckdb::IOException("not a lake file: " + path);
    // Only the data files of served snapshots, by the number the server gave them: SQL
    // naming any other path (a log entry, a removed file, something another writer put
    // there) finds nothing.
    const std::string digits = rest.substr(slash + 1);
    int64_t number = 0;
    const auto [end, error] =
        std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) {
      throw duckdb::IOException("no such lake file: " + path);
    }
    auto file = stores_.File(rest.substr(0, slash), number);
    if (!file.ok()) {
      if (file.status().IsKeyError()) throw duckdb::IOException("no such lake file: " + path);
      throw duckdb::IOException(file.status().message());
    }
    return std::move(*file);
  }

  LakeStores stores_;
};

}  // namespace

void RegisterLakeFileSystem(duckdb_database database, const LakeStores& stores) {
  auto* wrapper = reinterpret_cast<duckdb::DatabaseWrapper*>(database);
  auto& fs = duckdb::FileSystem::GetFileSystem(*wrapper->database->instance);
  fs.RegisterSubSystem(duckdb::make_uniq<LakeFileSystem>(stores));
}

namespace {

// The C API hands each function its LakeStores (a copy sharing the registry).
LakeStores& StoresOf(duckdb_function_info info) {
  return *static_cast<LakeStores*>(duckdb_scalar_function_get_extra_info(info));
}

std::string TextAt(duckdb_vector vector, idx_t row) {
  auto* strings = static_cast<duckdb_string_t*>(duckdb_vector_get_data(vector));
  return std::string(duckdb_string_t_data(&strings[row]), duckdb_string_t_length(strings[row]));
}

bool ValidAt(duckdb_vector vector, idx_t row) {
  return duckdb_validity_row_is_valid(duckdb_vector_get_validity(vector), row);
}

void SetNull(duckdb_vector output, idx_t row) {
  duckdb_vector_ensure_validity_writable(output);
  duckdb_validity_set_row_invalid(duckdb_vector_get_validity(output), row);
}

// arrowport_lake_value(store, number): a served partition value, any bytes.
void LakeValue(duckdb_function_info info, duckdb_data_chunk input, duckdb_vector output) {
  const idx_t rows = duckdb_data_chunk_get_size(input);
  duckdb_vector names = duckdb_data_chunk_get_vector(input, 0);
  duckdb_vector numbers = duckdb_data_chunk_get_vector(input, 1);
  const auto* number_data = static_cast<const int64_t*>(duckdb_vector_get_data(numbers));
  for (idx_t row = 0; row < rows; ++row) {
    if (!ValidAt(names, row) || !ValidAt(numbers, row)) {
      SetNull(output, row);
      continue;
    }
    auto value = StoresOf(info).Value(TextAt(names, row), number_data[row]);
    if (!value.ok()) {
      duckdb_scalar_function_set_error(info, value.status().message().c_str());
      return;
    }
    duckdb_vector_assign_string_element_len(output, row, value->data(), value->size());
  }
}

// arrowport_lake_refusal(store): fails with the reason the store is refused; NULL when it
// is not (any more).
void LakeRefusal(duckdb_function_info info, duckdb_data_chunk input, duckdb_vector output) {
  const idx_t rows = duckdb_data_chunk_get_size(input);
  duckdb_vector names = duckdb_data_chunk_get_vector(input, 0);
  for (idx_t row = 0; row < rows; ++row) {
    if (ValidAt(names, row)) {
      auto refusal = StoresOf(info).Refusal(TextAt(names, row));
      if (!refusal.ok()) {
        duckdb_scalar_function_set_error(info, refusal.message().c_str());
        return;
      }
    }
    SetNull(output, row);
  }
}

arrow::Status RegisterFunction(duckdb_connection connection, const LakeStores& stores,
                               const char* name, std::vector<duckdb_type> parameters,
                               duckdb_type result, duckdb_scalar_function_t body,
                               bool is_volatile) {
  duckdb_scalar_function function = duckdb_create_scalar_function();
  duckdb_scalar_function_set_name(function, name);
  for (const duckdb_type type : parameters) {
    duckdb_logical_type logical = duckdb_create_logical_type(type);
    duckdb_scalar_function_add_parameter(function, logical);
    duckdb_destroy_logical_type(&logical);
  }
  duckdb_logical_type logical = duckdb_create_logical_type(result);
  duckdb_scalar_function_set_return_type(function, logical);
  duckdb_destroy_logical_type(&logical);
  duckdb_scalar_function_set_function(function, body);
  duckdb_scalar_function_set_extra_info(function, new LakeStores(stores), [](void* stores) {
    delete static_cast<LakeStores*>(stores);
  });
  if (is_volatile) duckdb_scalar_function_set_volatile(function);
  const duckdb_state state = duckdb_register_scalar_function(connection, function);
  duckdb_destroy_scalar_function(&function);
  if (state == DuckDBError) {
    return arrow::Status::IOError("cannot register DuckDB function ", name);
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status RegisterLakeFunctions(duckdb_connection connection, const LakeStores& stores) {
  // Consistent (not volatile): DuckDB folds a value into a constant while planning, so
  // filters on partition columns still drop whole groups of files.
  ARROW_RETURN_NOT_OK(RegisterFunction(connection, stores, kLakeValueFunction,
                                       {DUCKDB_TYPE_VARCHAR, DUCKDB_TYPE_BIGINT},
                                       DUCKDB_TYPE_VARCHAR, LakeValue, false));
  // Volatile: evaluated when the query runs, on the one row of the refused view.
  return RegisterFunction(connection, stores, kLakeRefusalFunction, {DUCKDB_TYPE_VARCHAR},
                          DUCKDB_TYPE_VARCHAR, LakeRefusal, true);
}

}  // namespace arrowport::storage
