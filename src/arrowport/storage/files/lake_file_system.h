#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "arrow/result.h"

#include "arrowport/objectstore/object_store.h"

namespace arrowport::storage {

/// The path prefix under which DuckDB reads lake files through their object stores:
/// `arrowport-lake://<store name>/<file number>`. The SQL sandbox allows reading under it.
inline constexpr const char* kLakePathPrefix = "arrowport-lake://";

/// The scalar function lake views read a partition value with: `(store name, value
/// number)` -> VARCHAR. Numbers, never the text: a value from a log (any byte, NUL and
/// quotes included) never becomes SQL. Client SQL may not call it (the sandbox).
inline constexpr const char* kLakeValueFunction = "arrowport_lake_value";
/// The scalar function a refused lake table's view calls: `(store name)` -> VARCHAR,
/// failing with the reason the table is refused (NULL once it is not).
inline constexpr const char* kLakeRefusalFunction = "arrowport_lake_refusal";

/// What SQL may read of one store: the data files of the snapshots the server serves
/// (never the log, never a file another writer left beside them) and the partition
/// values their views name.
struct LakeServed {
  std::set<std::string> keys;
  std::set<std::string> values;
  /// The sizes the logs give of some of `keys`: their reads skip asking the store.
  std::map<std::string, int64_t> sizes;
  /// What the logs say of each of `keys` (size, time, first row id): a key served again
  /// with another identity (rewritten under its name by another writer, removed and
  /// added again) gets a new number, so DuckDB's cached footer of the old file, kept
  /// under the old number's path, is never read for the new one.
  std::map<std::string, std::string> identities;
};

/// One served file: its store, its key there, and its size when the log gives it (-1).
struct LakeServedFile {
  std::shared_ptr<objectstore::ObjectStore> store;
  std::string key;
  int64_t size = -1;
};

/// \brief The object stores DuckDB may read, by name. Shared by the Database (which
/// registers a DuckDB file system and the lake functions reading through it) and whoever
/// adds stores. Files and partition values reach SQL as numbers given here, unique for
/// the life of the process (a view kept in the database file from an earlier run finds
/// none of its numbers). Thread-safe.
class LakeStores {
 public:
  LakeStores();  // an empty registry; copies share it
  /// Adds (or replaces) the store read under `name` (a validated identifier) and what SQL
  /// may read of it. A key or value served before keeps its number; ends a refusal.
  void Register(const std::string& name, std::shared_ptr<objectstore::ObjectStore> store,
                const LakeServed& served);
  /// Reads of store `name` fail with `reason` (the table's log is refused) until the next
  /// Register.
  void Refuse(const std::string& name, const std::string& reason);

  /// The numbers of a served file key and of a served partition value (nullopt: not
  /// served).
  std::optional<int64_t> FileNumber(const std::string& name, const std::string& key) const;
  std::optional<int64_t> ValueNumber(const std::string& name, const std::string& value) const;

  /// The store and key of served file `number` of store `name`: an error naming the
  /// refusal, or NotFound when it is not served.
  arrow::Result<LakeServedFile> File(const std::string& name, int64_t number) const;
  /// Served partition value `number` of store `name`.
  arrow::Result<std::string> Value(const std::string& name, int64_t number) const;
  /// The reason store `name` is refused (OK when it is not).
  arrow::Status Refusal(const std::string& name) const;

  /// The DuckDB path of file `number` in store `name`.
  static std::string PathOf(const std::string& name, int64_t number);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace arrowport::storage
