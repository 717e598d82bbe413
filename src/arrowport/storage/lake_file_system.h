#pragma once

#include <memory>
#include <set>
#include <string>

#include "arrowport/objectstore/object_store.h"

namespace arrowport::storage {

/// The path prefix under which DuckDB reads lake files through their object stores:
/// `arrowport-lake://<store name>/<key>`. The SQL sandbox allows reading under it.
inline constexpr const char* kLakePathPrefix = "arrowport-lake://";

/// \brief The object stores DuckDB may read, by name. Shared by the Database (which
/// registers a DuckDB file system reading through it) and whoever adds stores.
/// Thread-safe.
class LakeStores {
 public:
  LakeStores();  // an empty registry; copies share it
  /// Adds (or replaces) the store read under `name` (a validated identifier), and the
  /// only keys SQL may open in it: the data files of the snapshots the server serves
  /// (never the log, never a file another writer left beside them).
  void Register(const std::string& name, std::shared_ptr<objectstore::ObjectStore> store,
                std::shared_ptr<const std::set<std::string>> readable_keys);
  /// The store `name` when `key` is one of its readable keys; null otherwise.
  std::shared_ptr<objectstore::ObjectStore> Find(const std::string& name,
                                                 const std::string& key) const;

  /// The DuckDB path of `key` in store `name`.
  static std::string PathOf(const std::string& name, const std::string& key);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace arrowport::storage
