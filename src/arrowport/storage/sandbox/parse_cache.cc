#include "arrowport/storage/sandbox/parse_cache.h"

#include <duckdb/common/error_data.hpp>
#include <duckdb/parser/parser.hpp>
#include <duckdb/parser/sql_statement.hpp>

#include "arrowport/storage/core/duckdb_error.h"

namespace arrowport::storage {

struct ParseCache::Entry {
  duckdb::unique_ptr<duckdb::SQLStatement> statement;
  std::list<std::string>::iterator position;  // in order_
};

ParseCache::ParseCache(size_t capacity) : capacity_(capacity) {}
ParseCache::~ParseCache() = default;

std::unique_ptr<duckdb::SQLStatement> ParseCache::Find(const std::string& sql) {
  if (sql.size() > kMaxTextBytes) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = entries_.find(sql);
  if (found == entries_.end()) return nullptr;
  Entry& entry = *found->second;
  order_.splice(order_.begin(), order_, entry.position);
  // A copy for the caller; copying a small tree costs a fraction of parsing its text.
  return std::unique_ptr<duckdb::SQLStatement>(entry.statement->Copy().release());
}

void ParseCache::Keep(const std::string& sql, const duckdb::SQLStatement& statement) {
  if (sql.size() > kMaxTextBytes || capacity_ == 0 ||
      statement.type != duckdb::StatementType::SELECT_STATEMENT) {
    return;
  }
  auto copy = statement.Copy();
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.count(sql) != 0) return;  // another caller kept it meanwhile
  while (entries_.size() >= capacity_) {
    entries_.erase(order_.back());
    order_.pop_back();
  }
  order_.push_front(sql);
  auto entry = std::make_unique<Entry>();
  entry->statement = std::move(copy);
  entry->position = order_.begin();
  entries_.emplace(sql, std::move(entry));
}

arrow::Status ParseStatements(duckdb::ClientContext& context, const std::string& sql,
                              ParseCache* kept,
                              duckdb::vector<duckdb::unique_ptr<duckdb::SQLStatement>>* out) {
  if (kept != nullptr) {
    if (auto copy = kept->Find(sql)) {
      out->push_back(duckdb::unique_ptr<duckdb::SQLStatement>(copy.release()));
      return arrow::Status::OK();
    }
  }
  try {
    duckdb::Parser parser(context);
    parser.ParseQuery(sql);
    *out = std::move(parser.statements);
  } catch (const std::exception& e) {
    duckdb::ErrorData error(e);
    return TranslateDuckDBError(static_cast<int>(error.Type()), error.Message());
  }
  if (kept != nullptr && out->size() == 1) kept->Keep(sql, *(*out)[0]);
  return arrow::Status::OK();
}

}  // namespace arrowport::storage
