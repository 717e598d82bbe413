#include "arrowport/ingest/column_planner.h"

#include <gtest/gtest.h>

#include "arrow/api.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/core/type_mapping.h"

namespace arrowport::ingest {

namespace column_planner_test {

using config::SchemaPolicy;
using storage::ColumnInfo;

// Columns as DuckDB types them: `definition` is a CREATE TABLE column list. A database
// per call, never a static one: DuckDB 2.0 closing a database at exit, after the main
// thread's thread_locals are gone, re-initialises its block allocator's thread-local
// cache and frees a freed shared_ptr (heap-use-after-free under ASan; "corrupted
// double-linked list" about 1 run in 18 of the unit binary).
std::vector<ColumnInfo> Cols(const std::string& definition) {
  storage::DatabaseOptions options;
  options.path = ":memory:";
  auto db = storage::Database::Open(options).ValueOrDie();
  auto conn = db->Connect().ValueOrDie();
  EXPECT_TRUE(conn->Execute("CREATE TABLE t (" + definition + ")").ok());
  return *conn->DescribeRelation("t").ValueOrDie();
}

ColumnInfo Col(const std::string& name, const std::string& type, bool nullable = true) {
  return Cols("\"" + name + "\" " + type + (nullable ? "" : " NOT NULL"))[0];
}

TEST(ColumnPlanner, MatchesByNameCaseInsensitively) {
  std::vector<ColumnInfo> table = {Col("id", "BIGINT"), Col("Name", "VARCHAR")};
  std::vector<ColumnInfo> incoming = {Col("NAME", "VARCHAR"), Col("ID", "INTEGER")};
  auto plan = PlanColumns("t", incoming, table, SchemaPolicy::kStrict).ValueOrDie();
  EXPECT_TRUE(plan.added.empty());
  EXPECT_EQ(plan.targets, (std::vector<std::string>{"Name", "id"}));
  EXPECT_EQ(plan.sources, (std::vector<std::string>{"NAME", "ID"}));
}

TEST(ColumnPlanner, PoliciesDecideUnknownColumns) {
  std::vector<ColumnInfo> table = {Col("id", "BIGINT")};
  std::vector<ColumnInfo> incoming = {Col("id", "BIGINT"), Col("extra", "ENUM('a')")};
  auto strict = PlanColumns("t", incoming, table, SchemaPolicy::kStrict);
  EXPECT_TRUE(IsSchemaMismatch(strict.status()));
  EXPECT_NE(strict.status().message().find("strict"), std::string::npos);
  auto added = PlanColumns("t", incoming, table, SchemaPolicy::kAddColumns).ValueOrDie();
  ASSERT_EQ(added.added.size(), 1u);
  EXPECT_EQ(added.added[0].name, "extra");
  EXPECT_EQ(storage::StorageTypeFor(added.added[0].type), "VARCHAR");
  auto ignored = PlanColumns("t", incoming, table, SchemaPolicy::kIgnoreExtra).ValueOrDie();
  EXPECT_EQ(ignored.targets.size(), 1u);
}

TEST(ColumnPlanner, RefusesLossAndMissingNotNull) {
  std::vector<ColumnInfo> table = {Col("x", "BIGINT"), Col("k", "INTEGER", false)};
  auto conflict = PlanColumns("t", {Col("x", "VARCHAR"), Col("k", "INTEGER")}, table,
                              SchemaPolicy::kStrict);
  EXPECT_TRUE(IsSchemaMismatch(conflict.status()));
  EXPECT_NE(conflict.status().message().find("VARCHAR but table t.x is BIGINT"),
            std::string::npos);
  auto missing = PlanColumns("t", {Col("x", "INTEGER")}, table, SchemaPolicy::kStrict);
  EXPECT_NE(missing.status().message().find("NOT NULL"), std::string::npos);
  auto none = PlanColumns("t", {Col("y", "INTEGER")}, {Col("x", "BIGINT")},
                          SchemaPolicy::kIgnoreExtra);
  EXPECT_TRUE(IsSchemaMismatch(none.status()));
}

TEST(ColumnPlanner, NeedsDdlOnlyForCreateReplaceOrNewColumns) {
  std::vector<ColumnInfo> table = {Col("id", "BIGINT")};
  std::vector<ColumnInfo> more = {Col("ID", "BIGINT"), Col("x", "INTEGER")};
  EXPECT_TRUE(NeedsDdl(std::nullopt, table, WriteMode::kAppend, SchemaPolicy::kStrict));
  EXPECT_TRUE(NeedsDdl(table, table, WriteMode::kReplace, SchemaPolicy::kStrict));
  EXPECT_FALSE(NeedsDdl(table, more, WriteMode::kAppend, SchemaPolicy::kStrict));
  EXPECT_TRUE(NeedsDdl(table, more, WriteMode::kAppend, SchemaPolicy::kAddColumns));
  EXPECT_FALSE(NeedsDdl(more, table, WriteMode::kAppend, SchemaPolicy::kAddColumns));
}

TEST(ColumnPlanner, ExactTargetsNeedIdenticalTypes) {
  std::vector<ColumnInfo> table = {Col("a", "BIGINT"), Col("b", "VARCHAR")};
  auto exact = ExactTargets({Col("B", "VARCHAR"), Col("a", "BIGINT")}, table,
                            SchemaPolicy::kStrict);
  ASSERT_TRUE(exact.has_value());
  EXPECT_EQ(exact->indices, (std::vector<int>{0, 1}));
  EXPECT_EQ(exact->names, (std::vector<std::string>{"b", "a"}));
  EXPECT_FALSE(ExactTargets({Col("a", "INTEGER")}, table, SchemaPolicy::kStrict));
  EXPECT_FALSE(ExactTargets({Col("a", "BIGINT"), Col("z", "BIGINT")}, table,
                            SchemaPolicy::kStrict));
  auto ignoring = ExactTargets({Col("z", "BIGINT"), Col("a", "BIGINT")}, table,
                               SchemaPolicy::kIgnoreExtra);
  ASSERT_TRUE(ignoring.has_value());
  EXPECT_EQ(ignoring->indices, (std::vector<int>{1}));
  EXPECT_FALSE(ExactTargets({Col("a", "BIGINT")}, {Col("a", "BIGINT"), Col("n", "INTEGER", false)},
                            SchemaPolicy::kStrict));
}

TEST(ColumnPlanner, ProjectSelectsTargetColumns) {
  auto schema = arrow::schema({arrow::field("z", arrow::int64()), arrow::field("a", arrow::int64())});
  arrow::Int64Builder b;
  ASSERT_TRUE(b.AppendValues({1, 2}).ok());
  auto values = b.Finish().ValueOrDie();
  auto batch = arrow::RecordBatch::Make(schema, 2, {values, values});
  AppendTargets targets{{1}, {"a"}};
  auto projected = Project({batch}, targets).ValueOrDie();
  ASSERT_EQ(projected.size(), 1u);
  EXPECT_EQ(projected[0]->num_columns(), 1);
  EXPECT_EQ(projected[0]->schema()->field(0)->name(), "a");
}

}  // namespace column_planner_test

}  // namespace arrowport::ingest
