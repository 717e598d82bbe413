#include "arrowport/storage/sandbox/parse_cache.h"

#include <duckdb.hpp>
#include <duckdb/parser/parser.hpp>
#include <gtest/gtest.h>

#include <string>

namespace arrowport::storage {
namespace parse_cache_test {

duckdb::unique_ptr<duckdb::SQLStatement> Parsed(const std::string& sql) {
  auto parser = duckdb::Parser::GetBuiltinParser();
  parser.ParseQuery(sql);
  return std::move(parser.statements[0]);
}

// A kept parse comes back as a copy of its own, the same statement, each time; writes,
// long texts and texts never kept are not found; the least recently used goes first.
TEST(ParseCacheTest, KeepsSelectsAndHandsOutCopies) {
  ParseCache cache(2);
  const std::string read = "SELECT * FROM t LIMIT 10";
  EXPECT_EQ(cache.Find(read), nullptr);
  cache.Keep(read, *Parsed(read));
  auto first = cache.Find(read);
  auto second = cache.Find(read);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_NE(first.get(), second.get());
  EXPECT_EQ(first->ToString(), Parsed(read)->ToString());
  EXPECT_EQ(second->ToString(), first->ToString());

  const std::string write = "INSERT INTO t VALUES (1)";
  cache.Keep(write, *Parsed(write));
  EXPECT_EQ(cache.Find(write), nullptr);
  const std::string long_read =
      "SELECT '" + std::string(ParseCache::kMaxTextBytes, 'x') + "' AS s";
  cache.Keep(long_read, *Parsed(long_read));
  EXPECT_EQ(cache.Find(long_read), nullptr);

  // Capacity 2: `read` was used last, so the older of the other two goes.
  const std::string a = "SELECT 1 AS a", b = "SELECT 2 AS b";
  cache.Keep(a, *Parsed(a));
  ASSERT_NE(cache.Find(read), nullptr);
  cache.Keep(b, *Parsed(b));
  EXPECT_EQ(cache.Find(a), nullptr);
  EXPECT_NE(cache.Find(read), nullptr);
  EXPECT_NE(cache.Find(b), nullptr);
}

}  // namespace parse_cache_test
}  // namespace arrowport::storage
