#pragma once

// Internal to storage: client SQL texts parsed once and kept for the next time.

#include <duckdb/common/unique_ptr.hpp>
#include <duckdb/common/vector.hpp>

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "arrow/result.h"

namespace duckdb {
class ClientContext;
class SQLStatement;
}  // namespace duckdb

namespace arrowport::storage {

/// \brief DuckDB's parse of a client's SELECT text, kept for the same text next time: the
/// same dashboard query, table ticket or page of a listing comes again and again, and
/// its parse was a tenth of a 1,000-row read's CPU (0.18 M instructions). A parse
/// depends on nothing but the text and the database's parser options, which are fixed
/// once the database is open (its configuration is locked, SET refused). The parse is
/// only a parse: every call judges its own copy in full (the sandbox's checks for its
/// caller), and DuckDB binds that copy. Kept: one SELECT per text, at most kMaxTextBytes
/// of text, at most kMaxTexts texts and kMaxKeptTextBytes of text in all (a parse tree
/// takes about 100 bytes per byte of text: a few MiB at most, outside the memory budget:
/// the planning thread's counting is paused for what is kept); the least recently used
/// go first. Thread-safe: the lock is held for lookups, never for a copy.
class ParseCache {
 public:
  static constexpr size_t kMaxTextBytes = 4096;
  static constexpr size_t kMaxTexts = 256;
  static constexpr size_t kMaxKeptTextBytes = 64 << 10;

  ParseCache();
  ~ParseCache();

  /// A copy of the parse of `sql` when it is kept; null when not, or when the copy
  /// failed (the caller parses it).
  std::unique_ptr<duckdb::SQLStatement> Find(const std::string& sql);
  /// Keeps a copy of `statement`, the one statement `sql` parsed into. Only SELECTs are
  /// kept: writes carry their values in the text (every INSERT's differs), so keeping
  /// them would cost a copy each and push out the reads that come again.
  void Keep(const std::string& sql, const duckdb::SQLStatement& statement);

 private:
  struct Entry;
  std::mutex mutex_;
  std::list<const std::string*> order_;  // map keys, most recently used first
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
  size_t kept_text_bytes_ = 0;
};

/// The statements of `sql` into `out`: a copy of the parse `kept` (may be null) holds of
/// the same text, else DuckDB's parse with `context`'s parser options (then kept there);
/// DuckDB's error when it does not parse.
arrow::Status ParseStatements(duckdb::ClientContext& context, const std::string& sql,
                              ParseCache* kept,
                              duckdb::vector<duckdb::unique_ptr<duckdb::SQLStatement>>* out);

}  // namespace arrowport::storage
