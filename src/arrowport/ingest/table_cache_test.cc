#include "arrowport/ingest/table_cache.h"

#include <gtest/gtest.h>

#include "arrowport/storage/database/database.h"

namespace arrowport::ingest {

namespace table_cache_test {

class TableCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::DatabaseOptions options;
    options.path = ":memory:";
    db_ = storage::Database::Open(options).ValueOrDie();
    conn_ = db_->Connect().ValueOrDie();
    ASSERT_TRUE(conn_->Execute("CREATE TABLE t (a BIGINT)").ok());
  }
  std::vector<storage::ColumnInfo> Describe(const std::string& table) {
    return *conn_->DescribeRelation(table).ValueOrDie();
  }

  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<storage::Connection> conn_;
};

TEST_F(TableCacheTest, ServesTableWhileItsSignatureHolds) {
  TableCache cache;
  EXPECT_FALSE(cache.Table(conn_.get(), "t").has_value());
  cache.StoreTable(conn_.get(), "t", Describe("t"));
  auto cached = cache.Table(conn_.get(), "T");  // names match case-insensitively
  ASSERT_TRUE(cached.has_value());
  ASSERT_EQ(cached->size(), 1u);
  EXPECT_EQ((*cached)[0].name, "a");
  cache.ForgetTable("t");
  EXPECT_FALSE(cache.Table(conn_.get(), "t").has_value());
}

TEST_F(TableCacheTest, DdlFromElsewhereInvalidates) {
  TableCache cache;
  cache.StoreTable(conn_.get(), "t", Describe("t"));
  ASSERT_TRUE(conn_->Execute("ALTER TABLE t ADD COLUMN b INTEGER").ok());
  EXPECT_FALSE(cache.Table(conn_.get(), "t").has_value());
  cache.StoreTable(conn_.get(), "t", Describe("t"));
  ASSERT_TRUE(conn_->Execute("DROP TABLE t").ok());
  EXPECT_FALSE(cache.Table(conn_.get(), "t").has_value());
  // A table that does not exist is never cached.
  cache.StoreTable(conn_.get(), "t", std::vector<storage::ColumnInfo>{});
  EXPECT_FALSE(cache.Table(conn_.get(), "t").has_value());
}

TEST_F(TableCacheTest, MapsAreBounded) {
  TableCache cache(/*max_tables=*/1, /*max_mappings=*/2);
  cache.StoreMapping("s1", Describe("t"));
  cache.StoreMapping("s2", Describe("t"));
  EXPECT_TRUE(cache.Mapping("s1").has_value());
  cache.StoreMapping("s3", Describe("t"));  // full: cleared first
  EXPECT_FALSE(cache.Mapping("s1").has_value());
  EXPECT_TRUE(cache.Mapping("s3").has_value());
  ASSERT_TRUE(conn_->Execute("CREATE TABLE u (a BIGINT)").ok());
  cache.StoreTable(conn_.get(), "t", Describe("t"));
  cache.StoreTable(conn_.get(), "u", Describe("u"));
  EXPECT_FALSE(cache.Table(conn_.get(), "t").has_value());
  EXPECT_TRUE(cache.Table(conn_.get(), "u").has_value());
}

}  // namespace table_cache_test

}  // namespace arrowport::ingest
