#include "arrowport/query/query_pipeline.h"

#include <gtest/gtest.h>

#include "arrow/api.h"
#include "arrowport/storage/database.h"

namespace arrowport::query {

TEST(ParseTicket, JsonAndPlainSql) {
  EXPECT_EQ(ParseTicket(R"({"sql": "SELECT 1"})").ValueOrDie().sql, "SELECT 1");
  EXPECT_EQ(ParseTicket(R"({"table": "t"})").ValueOrDie().ToSql(), "SELECT * FROM \"t\"");
  EXPECT_EQ(ParseTicket("SELECT 2").ValueOrDie().sql, "SELECT 2");
  auto params = ParseTicket(R"({"sql": "SELECT $1", "params": ["a", 2]})").ValueOrDie();
  EXPECT_EQ(params.parameters, (std::vector<std::string>{"a", "2"}));
  EXPECT_TRUE(ParseTicket(R"({"table": "x; DROP TABLE y"})").status().IsInvalid());
  EXPECT_TRUE(ParseTicket(R"({"sql": 1})").status().IsInvalid());
  EXPECT_TRUE(ParseTicket(R"({"nope": 1})").status().IsInvalid());
  EXPECT_TRUE(ParseTicket("  ").status().IsInvalid());
  EXPECT_TRUE(ParseTicket("{not json").status().IsInvalid());
}

TEST(QueryPipeline, DescribesExecutesAndLists) {
  storage::DatabaseOptions options;
  options.path = ":memory:";
  auto db = storage::Database::Open(options).ValueOrDie();
  auto conn = db->Connect().ValueOrDie();
  ASSERT_TRUE(conn->Execute("CREATE TABLE t AS SELECT range AS x FROM range(1000)").ok());
  ASSERT_TRUE(conn->Execute("CREATE VIEW v AS SELECT x * 2 AS y FROM t").ok());
  QueryPipeline pipeline(db.get(), 100);

  QueryRequest table;
  table.table = "t";
  EXPECT_EQ(pipeline.Describe(table).ValueOrDie()->ToString(), "x: int64");
  auto reader = pipeline.Execute(table).ValueOrDie();
  auto result = reader->ToTable().ValueOrDie();
  EXPECT_EQ(result->num_rows(), 1000);

  QueryRequest missing;
  missing.table = "nope";
  EXPECT_TRUE(pipeline.Describe(missing).status().IsKeyError());
  EXPECT_TRUE(pipeline.Execute(missing).status().IsKeyError());

  QueryRequest bad;
  bad.sql = "SELEC 1";
  EXPECT_TRUE(pipeline.Execute(bad).status().IsInvalid());

  QueryRequest param;
  param.sql = "SELECT count(*)::BIGINT AS n FROM t WHERE x < $1::BIGINT";
  param.parameters = {"10"};
  auto counted = pipeline.Execute(param).ValueOrDie()->ToTable().ValueOrDie();
  EXPECT_EQ(counted->column(0)->GetScalar(0).ValueOrDie()->ToString(), "10");

  auto tables = pipeline.ListTables().ValueOrDie();
  ASSERT_EQ(tables.size(), 2u);
  EXPECT_EQ(tables[0].name, "t");
  EXPECT_EQ(tables[0].kind, "table");
  EXPECT_EQ(tables[1].kind, "view");
  EXPECT_EQ(pipeline.CountRows("t").ValueOrDie(), 1000);
}

}  // namespace arrowport::query
