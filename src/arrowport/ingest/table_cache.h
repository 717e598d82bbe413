#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "arrowport/storage/core/column_info.h"
#include "arrowport/storage/core/table_name.h"

namespace arrowport::storage {
class Connection;
}

namespace arrowport::ingest {

/// \brief Small caches that spare a request its catalog lookups (DuckDB statements cost
/// ~0.4 ms each on small machines): a table's columns, with the catalog signature they
/// were read at, and DuckDB's mapping of an Arrow schema seen before.
///
/// A cached table is used only while its signature (read from DuckDB's catalog without a
/// statement) is unchanged, so DDL run elsewhere is seen at once. Both maps are bounded
/// (table and schema names come from clients): a full map is cleared, not evicted
/// entry by entry. Thread-safe.
class TableCache {
 public:
  static constexpr size_t kMaxTables = 1024;
  static constexpr size_t kMaxMappings = 256;

  explicit TableCache(size_t max_tables = kMaxTables, size_t max_mappings = kMaxMappings)
      : max_tables_(max_tables), max_mappings_(max_mappings) {}

  /// The cached columns of `table` if the table still has the signature they were read
  /// at; otherwise forgets the entry and returns nullopt.
  std::optional<std::vector<storage::ColumnInfo>> Table(storage::Connection* conn,
                                                        const storage::TableName& table);
  /// Caches `columns` as the table's current columns, with its signature read now;
  /// nullopt (or a table whose signature cannot be read) forgets the entry.
  void StoreTable(storage::Connection* conn, const storage::TableName& table,
                  std::optional<std::vector<storage::ColumnInfo>> columns);
  /// Forgets `table` (its cached view may be stale).
  void ForgetTable(const storage::TableName& table);

  /// DuckDB's columns for the Arrow schema with key `key` (its ToString()), if seen.
  std::optional<std::vector<storage::ColumnInfo>> Mapping(const std::string& key);
  void StoreMapping(const std::string& key, const std::vector<storage::ColumnInfo>& columns);

 private:
  struct CachedColumns {
    std::vector<storage::ColumnInfo> columns;
    std::string signature;
  };
  const size_t max_tables_;
  const size_t max_mappings_;
  // Guards tables_ and mappings_. Held only to copy entries in or out, never across a
  // DuckDB call, so a slow catalog read does not stall other requests.
  std::mutex mutex_;
  std::map<std::string, CachedColumns> tables_;  // by ColumnKey(table.ToString())
  std::map<std::string, std::vector<storage::ColumnInfo>> mappings_;
};

}  // namespace arrowport::ingest
