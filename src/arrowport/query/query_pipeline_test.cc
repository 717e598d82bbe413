#include "arrowport/query/query_pipeline.h"

#include <gtest/gtest.h>

#include "arrow/api.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::query {
namespace query_pipeline_test {

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

TEST(ParseTicket, FieldsAndTheirChecks) {
  // "query" is an alias of "sql"; leading whitespace still reads as JSON.
  EXPECT_EQ(ParseTicket(" \n{\"query\": \"SELECT 3\"}").ValueOrDie().sql, "SELECT 3");
  // Numbers and booleans are passed as their JSON text; other kinds are refused.
  auto params =
      ParseTicket(R"({"sql": "SELECT $1, $2, $3", "params": [1.5, true, "x y"]})")
          .ValueOrDie();
  EXPECT_EQ(params.parameters, (std::vector<std::string>{"1.5", "true", "x y"}));
  for (const char* bad : {"[null]", "[[1]]", R"("a")", R"({"a": 1})"}) {
    const std::string ticket = std::string(R"({"sql": "SELECT $1", "params": )") + bad + "}";
    EXPECT_TRUE(ParseTicket(ticket).status().IsInvalid()) << ticket;
  }
  // A table is validated, quoted and never mixed with SQL.
  auto table = ParseTicket(R"({"table": "events"})").ValueOrDie();
  EXPECT_EQ(table.table, "events");
  EXPECT_TRUE(table.sql.empty());
  EXPECT_TRUE(ParseTicket(R"({"table": "t", "sql": "SELECT 1"})").status().IsInvalid());
  EXPECT_TRUE(ParseTicket(R"({"table": 3})").status().IsInvalid());
  // Blank or separator-only SQL is refused in both spellings.
  EXPECT_TRUE(ParseTicket(" ;\n;\t").status().IsInvalid());
  EXPECT_TRUE(ParseTicket(R"({"sql": "  ; "})").status().IsInvalid());
  EXPECT_TRUE(ParseTicket("").status().IsInvalid());
  // The error names the unknown field and the known ones.
  auto unknown = ParseTicket(R"({"sql": "SELECT 1", "limit": 5})").status();
  EXPECT_NE(unknown.message().find("unknown field 'limit'"), std::string::npos);
  // A JSON array is not an object ticket: it stays plain text, which DuckDB then parses.
  EXPECT_EQ(ParseTicket("[1]").ValueOrDie().sql, "[1]");
}

TEST(QueryRequest, ToSqlQuotesTableAndColumns) {
  QueryRequest request;
  request.table = "events";
  request.columns = {"id", "we\"ird"};
  request.limit = 10;
  EXPECT_EQ(request.ToSql(), "SELECT \"id\", \"we\"\"ird\" FROM \"events\" LIMIT 10");
  QueryRequest sql;
  sql.sql = "SELECT 1";
  sql.limit = 5;  // only applies to a table request
  EXPECT_EQ(sql.ToSql(), "SELECT 1");
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

}  // namespace query_pipeline_test
}  // namespace arrowport::query
