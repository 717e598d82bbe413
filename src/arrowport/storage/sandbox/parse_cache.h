#pragma once

// Internal to storage: client SQL texts parsed once and kept for the next time.

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <duckdb/common/unique_ptr.hpp>
#include <duckdb/common/vector.hpp>

#include "arrow/result.h"

namespace duckdb {
class ClientContext;
class SQLStatement;
}  // namespace duckdb

namespace arrowport::storage {

/// \brief DuckDB's parse of a client's SQL text, kept for the same text next time: the
/// same dashboard query, table ticket or page of a listing comes again and again, and
/// its parse was a tenth of a 1,000-row read's CPU (0.18 M instructions). A parse
/// depends on nothing but the text and the database's parser options, which are fixed
/// once the database is open (its configuration is locked, SET refused). Each caller
/// gets a copy of its own (the sandbox walks it, DuckDB binds and keeps it). Texts that
/// do not parse, hold other than one SELECT, or are longer than kMaxTextBytes, are not
/// kept. Thread-safe; the least recently used of more than `capacity` texts go.
class ParseCache {
 public:
  static constexpr size_t kMaxTextBytes = 4096;
  explicit ParseCache(size_t capacity = 256);
  ~ParseCache();

  /// A copy of the parse of `sql` when it is kept; null when not (the caller parses it).
  std::unique_ptr<duckdb::SQLStatement> Find(const std::string& sql);
  /// Keeps a copy of `statement`, the one statement `sql` parsed into. Only SELECTs are
  /// kept: writes carry their values in the text (every INSERT's differs), so keeping
  /// them would cost a copy each and push out the reads that come again.
  void Keep(const std::string& sql, const duckdb::SQLStatement& statement);

 private:
  struct Entry;
  const size_t capacity_;
  std::mutex mutex_;
  std::list<std::string> order_;  // most recently used first
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
};

/// The statements of `sql` into `out`: a copy of the parse `kept` (may be null) holds of
/// the same text, else DuckDB's parse with `context`'s parser options (then kept there);
/// DuckDB's error when it does not parse.
arrow::Status ParseStatements(duckdb::ClientContext& context, const std::string& sql,
                              ParseCache* kept,
                              duckdb::vector<duckdb::unique_ptr<duckdb::SQLStatement>>* out);

}  // namespace arrowport::storage
