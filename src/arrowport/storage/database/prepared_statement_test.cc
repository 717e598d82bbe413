#include "arrowport/storage/database/prepared_statement.h"

#include <gtest/gtest.h>

#include "arrow/api.h"
#include "arrowport/common/principal.h"
#include "arrowport/storage/catalog/catalog_queries.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/shared_connection.h"
#include "arrowport/storage/core/query_options.h"

namespace arrowport::storage {
namespace prepared_statement_test {

class PreparedStatementTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    options.path = ":memory:";
    db_ = Database::Open(options).ValueOrDie();
    lease_ = ConnectionLease::Own(db_->Connect().ValueOrDie());
    conn_ = &lease_.connection();
    ASSERT_TRUE(conn_->Execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR, "
                               "seen TIMESTAMP)").ok());
  }
  std::unique_ptr<Database> db_;
  ConnectionLease lease_;
  Connection* conn_ = nullptr;
};

std::shared_ptr<arrow::RecordBatch> Params(std::vector<int32_t> ids,
                                           std::vector<std::string> names) {
  arrow::Int32Builder id_builder;
  arrow::StringBuilder name_builder;
  EXPECT_TRUE(id_builder.AppendValues(ids).ok());
  EXPECT_TRUE(name_builder.AppendValues(names).ok());
  auto schema = arrow::schema({arrow::field("a", arrow::int32()),
                               arrow::field("b", arrow::utf8())});
  return arrow::RecordBatch::Make(schema, static_cast<int64_t>(ids.size()),
                                  {id_builder.Finish().ValueOrDie(),
                                   name_builder.Finish().ValueOrDie()});
}

TEST_F(PreparedStatementTest, QuerySchemasWithoutRunning) {
  auto statement =
      PreparedStatement::Make(lease_, "SELECT id, name FROM t WHERE id = $1").ValueOrDie();
  EXPECT_TRUE(statement->returns_rows());
  EXPECT_EQ(statement->dataset_schema()->num_fields(), 2);
  EXPECT_EQ(statement->dataset_schema()->field(0)->type()->id(), arrow::Type::INT32);
  ASSERT_EQ(statement->num_parameters(), 1);
  EXPECT_EQ(statement->parameter_schema()->field(0)->type()->id(), arrow::Type::INT32);
}

TEST_F(PreparedStatementTest, DdlAndDmlHaveAnEmptyDatasetSchema) {
  for (const char* sql : {"INSERT INTO t VALUES ($1, $2, NULL)", "CREATE TABLE u (x INT)",
                          "DELETE FROM t", "UPDATE t SET name = 'x'"}) {
    auto statement = PreparedStatement::Make(lease_, sql).ValueOrDie();
    EXPECT_FALSE(statement->returns_rows()) << sql;
    EXPECT_EQ(statement->dataset_schema()->num_fields(), 0) << sql;
  }
  auto returning =
      PreparedStatement::Make(lease_, "INSERT INTO t VALUES (9, 'z', NULL) RETURNING id")
          .ValueOrDie();
  EXPECT_TRUE(returning->returns_rows());
}

TEST_F(PreparedStatementTest, BindsArrowRowsAndRunsOncePerRow) {
  auto insert =
      PreparedStatement::Make(lease_, "INSERT INTO t VALUES ($1, $2, NULL)").ValueOrDie();
  auto params = Params({1, 2, 3}, {"a", "b", "c"});
  int64_t changed = 0;
  for (int64_t row = 0; row < params->num_rows(); ++row) {
    ASSERT_TRUE(insert->Bind(lease_, *params, row).ok());
    changed += insert->ExecuteUpdate(lease_, nullptr).ValueOrDie();
  }
  EXPECT_EQ(changed, 3);
  auto query = PreparedStatement::Make(lease_, "SELECT name FROM t WHERE id = $1").ValueOrDie();
  ASSERT_TRUE(query->Bind(lease_, *Params({2}, {"ignored"})->SelectColumns({0}).ValueOrDie(), 0).ok());
  auto table = PreparedStatement::Query(query, lease_, {}).ValueOrDie()->ToTable().ValueOrDie();
  ASSERT_EQ(table->num_rows(), 1);
  EXPECT_EQ(table->column(0)->GetScalar(0).ValueOrDie()->ToString(), "b");
}

// `value` (row 0) bound to `SELECT $1::VARCHAR`: DuckDB's text of what it received. Text,
// not `=`: DuckDB compares intervals normalised ('14 months' = '420 days').
arrow::Result<std::string> BoundText(ConnectionLease& lease,
                                     const std::shared_ptr<arrow::Array>& value) {
  ARROW_ASSIGN_OR_RAISE(auto statement, PreparedStatement::Make(lease, "SELECT $1::VARCHAR"));
  auto params = arrow::RecordBatch::Make(arrow::schema({arrow::field("p", value->type())}),
                                         value->length(), {value});
  ARROW_RETURN_NOT_OK(statement->Bind(lease, *params, 0));
  ARROW_ASSIGN_OR_RAISE(auto reader, PreparedStatement::Query(statement, lease, {}));
  ARROW_ASSIGN_OR_RAISE(auto table, reader->ToTable());
  ARROW_ASSIGN_OR_RAISE(auto scalar, table->column(0)->GetScalar(0));
  return scalar->ToString();
}

TEST_F(PreparedStatementTest, DurationsAndIntervalsKeepTheirUnits) {
  // A duration[ms] of 1500 was bound as its text "1500", which DuckDB read as 25 minutes.
  for (auto unit : {arrow::TimeUnit::SECOND, arrow::TimeUnit::MILLI, arrow::TimeUnit::MICRO,
                    arrow::TimeUnit::NANO}) {
    const int64_t per_second = unit == arrow::TimeUnit::SECOND  ? 1
                               : unit == arrow::TimeUnit::MILLI ? 1000
                               : unit == arrow::TimeUnit::MICRO ? 1000000
                                                                : 1000000000;
    arrow::DurationBuilder builder(arrow::duration(unit), arrow::default_memory_pool());
    ASSERT_TRUE(builder.Append(90 * per_second + per_second / 2).ok());
    auto value = builder.Finish().ValueOrDie();
    // Half a second is 0 in seconds.
    EXPECT_EQ(BoundText(lease_, value).ValueOr("error"),
              per_second == 1 ? "00:01:30" : "00:01:30.5")
        << value->type()->ToString();
  }
  arrow::MonthDayNanoIntervalBuilder mdn;
  ASSERT_TRUE(mdn.Append({1, 2, 3000}).ok());
  EXPECT_EQ(BoundText(lease_, mdn.Finish().ValueOrDie()).ValueOr("error"),
            "1 month 2 days 00:00:00.000003");
  arrow::DayTimeIntervalBuilder day_time;
  ASSERT_TRUE(day_time.Append({4, 1500}).ok());
  EXPECT_EQ(BoundText(lease_, day_time.Finish().ValueOrDie()).ValueOr("error"),
            "4 days 00:00:01.5");
  arrow::MonthIntervalBuilder months;
  ASSERT_TRUE(months.Append(14).ok());
  EXPECT_EQ(BoundText(lease_, months.Finish().ValueOrDie()).ValueOr("error"),
            "1 year 2 months");
}

TEST_F(PreparedStatementTest, ANestedParameterIsRefusedNotBoundAsItsPrintedText) {
  // Found by a hostile client: a list<int64> parameter was bound as the VARCHAR
  // "list<item: int64>[1, 2]", which a VARCHAR column stored as it was.
  arrow::ListBuilder builder(arrow::default_memory_pool(),
                             std::make_shared<arrow::Int64Builder>());
  ASSERT_TRUE(builder.Append().ok());
  ASSERT_TRUE(static_cast<arrow::Int64Builder*>(builder.value_builder())->AppendValues({1, 2}).ok());
  auto value = builder.Finish().ValueOrDie();
  auto insert = PreparedStatement::Make(lease_, "INSERT INTO t VALUES (1, $1, NULL)").ValueOrDie();
  auto params = arrow::RecordBatch::Make(arrow::schema({arrow::field("p", value->type())}), 1,
                                         {value});
  auto st = insert->Bind(lease_, *params, 0);
  EXPECT_TRUE(st.IsInvalid()) << st.ToString();
  EXPECT_NE(st.message().find("cannot be bound"), std::string::npos) << st.ToString();
}

TEST_F(PreparedStatementTest, ATimestampOutOfRangeIsRefusedNotWrapped) {
  // 10^13 seconds multiplied into microseconds wrapped to the year 265698 BC.
  auto insert = PreparedStatement::Make(lease_, "INSERT INTO t VALUES (1, 'x', $1)").ValueOrDie();
  for (int64_t seconds : {int64_t{10'000'000'000'000}, int64_t{-10'000'000'000'000}}) {
    arrow::TimestampBuilder builder(arrow::timestamp(arrow::TimeUnit::SECOND),
                                    arrow::default_memory_pool());
    ASSERT_TRUE(builder.Append(seconds).ok());
    auto value = builder.Finish().ValueOrDie();
    auto params = arrow::RecordBatch::Make(arrow::schema({arrow::field("p", value->type())}),
                                           1, {value});
    auto st = insert->Bind(lease_, *params, 0);
    EXPECT_TRUE(st.IsInvalid()) << st.ToString();
    EXPECT_NE(st.message().find("out of range"), std::string::npos) << st.ToString();
  }
  // In range, it still lands as the instant it is.
  arrow::TimestampBuilder builder(arrow::timestamp(arrow::TimeUnit::SECOND),
                                  arrow::default_memory_pool());
  ASSERT_TRUE(builder.Append(86400).ok());
  EXPECT_EQ(BoundText(lease_, builder.Finish().ValueOrDie()).ValueOr("error"),
            "1970-01-02 00:00:00");
}

TEST_F(PreparedStatementTest, ParameterCountMismatchAndSyntaxErrorsAreInvalid) {
  auto insert =
      PreparedStatement::Make(lease_, "INSERT INTO t VALUES ($1, $2, NULL)").ValueOrDie();
  auto one_column = Params({1}, {"a"})->SelectColumns({0}).ValueOrDie();
  EXPECT_TRUE(insert->Bind(lease_, *one_column, 0).IsInvalid());
  EXPECT_TRUE(PreparedStatement::Make(lease_, "SELEC 1").status().IsInvalid());
}

TEST_F(PreparedStatementTest, CatalogQueriesSeeTablesAndKeys) {
  CatalogQueries catalog(conn_);
  auto tables = catalog.Relations({}).ValueOrDie();
  ASSERT_EQ(tables.size(), 1u);
  EXPECT_EQ(tables[0].name, "t");
  EXPECT_EQ(tables[0].type, "TABLE");
  CatalogFilter views;
  views.table_types = {"VIEW"};
  EXPECT_TRUE(catalog.Relations(views).ValueOrDie().empty());
  auto keys = catalog.PrimaryKeys(std::nullopt, std::nullopt, "t").ValueOrDie();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].column, "id");
  EXPECT_EQ(keys[0].sequence, 1);
  EXPECT_EQ(catalog.RelationSchema(tables[0]).ValueOrDie()->num_fields(), 3);
}

TEST_F(PreparedStatementTest, ClientTransactionControlIsRefusedByStatementType) {
  // A client's statement is judged by the SQL sandbox, which refuses DuckDB's
  // TRANSACTION statement type for every role.
  Principal admin;
  admin.user = "admin";
  admin.role = Role::kAdmin;
  for (const char* sql : {"BEGIN", "commit", "ROLLBACK", "BEGIN TRANSACTION"}) {
    auto refused = PreparedStatement::Make(lease_, sql, &admin).status();
    EXPECT_TRUE(refused.IsInvalid()) << sql;
    EXPECT_NE(refused.message().find("transaction control"), std::string::npos) << sql;
  }
  // Text that merely mentions a transaction keyword is not transaction control.
  EXPECT_TRUE(PreparedStatement::Make(lease_, "SELECT 'COMMIT' AS begin", &admin).ok());
}

// A client's SELECT without parameters runs as a new statement of its text at each run
// (planned once, not as DuckDB's EXECUTE). What prepared execution did must still hold
// (a regression test: it passed before): it reads what is committed by then, and is
// judged again each time (a table replaced by a view over a table the caller may not read).
TEST_F(PreparedStatementTest, AParameterlessSelectRunsAgainAsWhatItsNamesAreNow) {
  ASSERT_TRUE(conn_->Execute("INSERT INTO t VALUES (1, 'a', NULL)").ok());
  ASSERT_TRUE(conn_->Execute("CREATE TABLE secret AS SELECT 7 AS id, 'hidden' AS name, "
                             "NULL::TIMESTAMP AS seen").ok());
  Principal reader;
  reader.user = "reader";
  reader.role = Role::kReader;
  reader.tables = {"t"};
  auto statement = PreparedStatement::Make(lease_, "SELECT * FROM t", &reader).ValueOrDie();
  auto run = [&]() -> arrow::Result<std::shared_ptr<arrow::Table>> {
    ARROW_ASSIGN_OR_RAISE(auto result, PreparedStatement::Query(statement, lease_, {}));
    return result->ToTable();
  };
  EXPECT_EQ(run().ValueOrDie()->num_rows(), 1);
  auto other = db_->Connect().ValueOrDie();
  ASSERT_TRUE(other->Execute("INSERT INTO t VALUES (2, 'b', NULL)").ok());
  const auto table = run().ValueOrDie();
  EXPECT_EQ(table->num_rows(), 2);
  EXPECT_TRUE(table->schema()->Equals(*statement->dataset_schema()));
  ASSERT_TRUE(other->Execute("DROP TABLE t").ok());
  ASSERT_TRUE(other->Execute("CREATE VIEW t AS SELECT * FROM secret").ok());
  const auto refused = run().status();
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("secret"), std::string::npos) << refused.ToString();
}

TEST_F(PreparedStatementTest, AResultWhoseColumnsChangedSincePrepareIsRefused) {
  // Flight SQL told the client the columns at prepare; an ALTER since would have sent
  // others under them (JDBC's metadata, ADBC's schema). As PostgreSQL does: prepare
  // again.
  ASSERT_TRUE(conn_->Execute("INSERT INTO t VALUES (1, 'a', NULL)").ok());
  Principal admin;
  admin.user = "admin";
  admin.role = Role::kAdmin;
  for (const Principal* caller : {static_cast<const Principal*>(&admin),
                                  static_cast<const Principal*>(nullptr)}) {
    auto statement =
        PreparedStatement::Make(lease_, "SELECT * FROM t", caller).ValueOrDie();
    QueryOptions options;
    if (caller != nullptr) options.principal = std::make_shared<Principal>(*caller);
    EXPECT_EQ(PreparedStatement::Query(statement, lease_, options)
                  .ValueOrDie()->ToTable().ValueOrDie()->num_rows(), 1);
    auto other = db_->Connect().ValueOrDie();
    ASSERT_TRUE(other->Execute("ALTER TABLE t ADD COLUMN extra INTEGER").ok());
    const auto refused = PreparedStatement::Query(statement, lease_, options).status();
    EXPECT_TRUE(refused.IsInvalid()) << refused.ToString();
    EXPECT_NE(refused.message().find("prepare it again"), std::string::npos)
        << refused.ToString();
    EXPECT_NE(refused.message().find("extra int32"), std::string::npos)
        << refused.ToString();
    // Prepared again, it runs (and rows and catalog changes that leave the columns be do
    // not refuse it).
    statement = PreparedStatement::Make(lease_, "SELECT * FROM t", caller).ValueOrDie();
    ASSERT_TRUE(other->Execute("INSERT INTO t VALUES (2, 'b', NULL, 3)").ok());
    ASSERT_TRUE(other->Execute("CREATE TABLE unrelated (a INTEGER)").ok());
    auto again = PreparedStatement::Query(statement, lease_, options);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ((*again)->ToTable().ValueOrDie()->num_columns(), 4);
    ASSERT_TRUE(other->Execute("DROP TABLE unrelated").ok());
    ASSERT_TRUE(other->Execute("ALTER TABLE t DROP COLUMN extra").ok());
    ASSERT_TRUE(other->Execute("DELETE FROM t WHERE id = 2").ok());
  }
}

}  // namespace prepared_statement_test
}  // namespace arrowport::storage
