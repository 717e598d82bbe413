#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "arrow/status.h"

namespace arrowport::storage {
class Database;
}

namespace arrowport::query {

/// The database as the health reports show it (Flight's health action), read at once.
struct DatabaseReport {
  std::string state;         ///< "ok", "disk_full", ... (storage::StorageState)
  std::string storage_json;  ///< the storage's state with details (paths, errors)
  std::string path;          ///< the database file
  /// The operator's settings DuckDB has in force (unset while the database reopens).
  struct Settings {
    std::string threads;
    std::string memory_limit;
    bool external_access = false;
  };
  std::optional<Settings> settings;
  int64_t duckdb_held = 0;    ///< bytes DuckDB holds (the allocation guard's count)
  int64_t duckdb_budget = 0;  ///< what it may hold
  int64_t checkpoint_failures_in_a_row = 0;
  std::string checkpoint_last_error;
};

/// \brief What the protocols may ask of the database besides queries and writes: its
/// health, and a CHECKPOINT (admins' action). A handle: copy it freely; the database
/// outlives it. Thread-safe.
class DatabaseControl {
 public:
  DatabaseControl() = default;
  explicit DatabaseControl(storage::Database* database) : database_(database) {}

  /// Health, settings, memory and checkpointer state, for reports with details.
  DatabaseReport Report() const;
  /// The storage's state as a JSON object without paths or DuckDB's errors (what any
  /// role may see).
  std::string StorageSummaryJson() const;
  /// Writes the WAL into the database file (see storage::Database::Checkpoint).
  arrow::Status Checkpoint() const;

 private:
  storage::Database* database_ = nullptr;
};

}  // namespace arrowport::query
