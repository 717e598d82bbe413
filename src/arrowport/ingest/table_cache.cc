#include "arrowport/ingest/table_cache.h"

#include "arrowport/ingest/column_planner.h"
#include "arrowport/storage/database/connection.h"

namespace arrowport::ingest {

using storage::ColumnInfo;

std::optional<std::vector<ColumnInfo>> TableCache::Table(storage::Connection* conn,
                                                         const storage::TableName& table) {
  std::optional<CachedColumns> cached;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = tables_.find(ColumnKey(table.ToString()));
    if (it == tables_.end()) return std::nullopt;
    cached = it->second;
  }
  // The table may have been altered, dropped or recreated by SQL since it was cached.
  auto now = conn->TableSignature(table);
  if (!now.ok() || !*now || **now != cached->signature) {
    ForgetTable(table);
    return std::nullopt;
  }
  return std::move(cached->columns);
}

void TableCache::StoreTable(storage::Connection* conn, const storage::TableName& table,
                            std::optional<std::vector<ColumnInfo>> columns) {
  std::optional<std::string> signature;
  if (columns) {
    auto read = conn->TableSignature(table);
    if (read.ok()) signature = *read;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (columns && signature) {
    if (tables_.size() >= max_tables_) tables_.clear();
    tables_[ColumnKey(table.ToString())] = CachedColumns{std::move(*columns), std::move(*signature)};
  } else {
    tables_.erase(ColumnKey(table.ToString()));
  }
}

void TableCache::ForgetTable(const storage::TableName& table) {
  std::lock_guard<std::mutex> lock(mutex_);
  tables_.erase(ColumnKey(table.ToString()));
}

std::optional<std::vector<ColumnInfo>> TableCache::Mapping(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = mappings_.find(key);
  if (it == mappings_.end()) return std::nullopt;
  return it->second;
}

void TableCache::StoreMapping(const std::string& key, const std::vector<ColumnInfo>& columns) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (mappings_.size() >= max_mappings_) mappings_.clear();
  mappings_[key] = columns;
}

}  // namespace arrowport::ingest
