#include "arrowport/storage/sandbox/parse_cache.h"

#include <duckdb.hpp>
#include <duckdb/parser/parser.hpp>
#include <duckdb/parser/query_node/select_node.hpp>
#include <duckdb/parser/statement/select_statement.hpp>
#include <gtest/gtest.h>

#include <string>

namespace arrowport::storage {
namespace parse_cache_test {

duckdb::unique_ptr<duckdb::SQLStatement> Parsed(const std::string& sql) {
  auto parser = duckdb::Parser::GetBuiltinParser();
  parser.ParseQuery(sql);
  return std::move(parser.statements[0]);
}

// A kept parse comes back as a copy of its own each time (a caller's changes to its copy,
// as DuckDB's bind makes them, never reach the next caller); writes, long texts and texts
// never kept are not found.
TEST(ParseCacheTest, KeepsSelectsAndHandsOutCopiesOfTheirOwn) {
  ParseCache cache;
  const std::string read = "SELECT * FROM t LIMIT 10";
  EXPECT_EQ(cache.Find(read), nullptr);
  cache.Keep(read, *Parsed(read));
  auto first = cache.Find(read);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->ToString(), Parsed(read)->ToString());
  auto& node = first->Cast<duckdb::SelectStatement>().node->Cast<duckdb::SelectNode>();
  node.modifiers.clear();  // the LIMIT gone from this copy only
  EXPECT_NE(first->ToString(), Parsed(read)->ToString());
  auto second = cache.Find(read);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->ToString(), Parsed(read)->ToString());

  const std::string write = "INSERT INTO t VALUES (1)";
  cache.Keep(write, *Parsed(write));
  EXPECT_EQ(cache.Find(write), nullptr);
  const std::string long_read =
      "SELECT '" + std::string(ParseCache::kMaxTextBytes, 'x') + "' AS s";
  cache.Keep(long_read, *Parsed(long_read));
  EXPECT_EQ(cache.Find(long_read), nullptr);
}

// At most kMaxTexts texts and kMaxKeptTextBytes of text: the least recently used go.
TEST(ParseCacheTest, TheLeastRecentlyUsedGoFirst) {
  ParseCache cache;
  auto text = [](size_t i, size_t pad) {
    return "SELECT " + std::to_string(i) + " AS n" + std::string(pad, ' ');
  };
  for (size_t i = 0; i < ParseCache::kMaxTexts; ++i) cache.Keep(text(i, 0), *Parsed(text(i, 0)));
  ASSERT_NE(cache.Find(text(0, 0)), nullptr);  // used now: text 1 is the oldest
  cache.Keep(text(999, 0), *Parsed(text(999, 0)));
  EXPECT_NE(cache.Find(text(0, 0)), nullptr);
  EXPECT_EQ(cache.Find(text(1, 0)), nullptr);
  EXPECT_NE(cache.Find(text(999, 0)), nullptr);

  ParseCache by_bytes;
  const size_t pad = 4000;
  const size_t fit = ParseCache::kMaxKeptTextBytes / (pad + 20);
  for (size_t i = 0; i <= fit; ++i) by_bytes.Keep(text(i, pad), *Parsed(text(i, pad)));
  EXPECT_EQ(by_bytes.Find(text(0, pad)), nullptr);
  EXPECT_NE(by_bytes.Find(text(fit, pad)), nullptr);
}

}  // namespace parse_cache_test
}  // namespace arrowport::storage
