#include "arrowport/storage/sandbox/parse_cache.h"

#include <duckdb/common/error_data.hpp>
#include <duckdb/parser/parser.hpp>
#include <duckdb/parser/sql_statement.hpp>

#include <exception>
#include <vector>

#include "arrowport/storage/core/duckdb_error.h"
#include "arrowport/storage/memory/allocation_guard.h"

namespace arrowport::storage {

struct ParseCache::Entry {
  std::shared_ptr<const duckdb::SQLStatement> statement;
  std::list<const std::string*>::iterator position;  // in order_
};

ParseCache::ParseCache() = default;
ParseCache::~ParseCache() = default;

std::unique_ptr<duckdb::SQLStatement> ParseCache::Find(const std::string& sql) {
  if (sql.size() > kMaxTextBytes) return nullptr;
  std::shared_ptr<const duckdb::SQLStatement> kept;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = entries_.find(sql);
    if (found == entries_.end()) return nullptr;
    order_.splice(order_.begin(), order_, found->second->position);
    kept = found->second->statement;
  }
  // The caller's copy is the caller's (counted with its statement); the kept tree,
  // should this be its last holder now, is not.
  std::unique_ptr<duckdb::SQLStatement> copy;
  try {
    copy.reset(kept->Copy().release());
  } catch (const std::exception&) {
    copy.reset();  // out of memory, say: the caller parses the text itself
  }
  AllocationGuard::PlanningPause pause;
  kept.reset();
  return copy;
}

void ParseCache::Keep(const std::string& sql, const duckdb::SQLStatement& statement) {
  if (sql.size() > kMaxTextBytes || statement.type != duckdb::StatementType::SELECT_STATEMENT) {
    return;
  }
  AllocationGuard::PlanningPause pause;  // kept beyond the statement: bounded here
  std::shared_ptr<const duckdb::SQLStatement> copy;
  try {
    copy = std::shared_ptr<const duckdb::SQLStatement>(statement.Copy().release());
  } catch (const std::exception&) {
    return;  // keeping is an optimization
  }
  std::vector<std::unique_ptr<Entry>> gone;  // destroyed after the lock is released
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.count(sql) != 0) return;  // another caller kept it meanwhile
  while (!order_.empty() && (entries_.size() >= kMaxTexts ||
                             kept_text_bytes_ + sql.size() > kMaxKeptTextBytes)) {
    auto oldest = entries_.find(*order_.back());
    kept_text_bytes_ -= oldest->first.size();
    order_.pop_back();
    gone.push_back(std::move(oldest->second));
    entries_.erase(oldest);
  }
  auto entry = std::make_unique<Entry>();
  entry->statement = std::move(copy);
  auto [placed, inserted] = entries_.emplace(sql, std::move(entry));
  order_.push_front(&placed->first);
  placed->second->position = order_.begin();
  kept_text_bytes_ += sql.size();
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
