#include "arrowport/storage/database/table_read_plans.h"

#include <duckdb/main/capi/capi_internal.hpp>
#include <duckdb/main/prepared_statement.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "arrow/api.h"
#include "arrowport/common/principal.h"
#include "arrowport/storage/core/duckdb_internals.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/prepared_statement.h"
#include "arrowport/storage/database/shared_connection.h"
#include "arrowport/storage/memory/allocation_guard.h"

namespace arrowport::storage {
namespace table_read_plans_test {

// A DuckDB database of its own, reached through the C API as the plans are.
class TableReadPlansTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(duckdb_open(nullptr, &db_), DuckDBSuccess);
    ASSERT_EQ(duckdb_connect(db_, &conn_), DuckDBSuccess);
    Run("CREATE TABLE t AS SELECT range AS x FROM range(10)");
  }
  void TearDown() override {
    plans_.Clear();
    duckdb_disconnect(&conn_);
    duckdb_close(&db_);
  }
  void Run(const std::string& sql) {
    duckdb_result result;
    const bool ran = duckdb_query(conn_, sql.c_str(), &result) == DuckDBSuccess;
    const std::string error = ran ? "" : duckdb_result_error(&result);
    duckdb_destroy_result(&result);
    ASSERT_TRUE(ran) << sql.substr(0, 80) << ": " << error;
  }
  // The plan as a read gets it: in an open transaction (the read's snapshot).
  arrow::Result<TableReadPlans::Plan> PlanFor(TableReadPlans& plans,
                                              const std::string& sql,
                                              const TableIdentity& table) {
    Run("BEGIN TRANSACTION");
    auto plan = plans.PlanFor(conn_, sql, table);
    duckdb_result result;
    (void)duckdb_query(conn_, plan.ok() ? "COMMIT" : "ROLLBACK", &result);
    duckdb_destroy_result(&result);
    return plan;
  }
  arrow::Result<TableReadPlans::Plan> PlanFor(const std::string& sql,
                                              const TableIdentity& table) {
    return PlanFor(plans_, sql, table);
  }
  // Rows and columns of what `plan` returns when it runs.
  std::pair<idx_t, idx_t> Shape(const TableReadPlans::Plan& plan) {
    duckdb_result result;
    EXPECT_EQ(duckdb_execute_prepared(plan->get(), &result), DuckDBSuccess);
    std::pair<idx_t, idx_t> shape{duckdb_row_count(&result),
                                  duckdb_column_count(&result)};
    duckdb_destroy_result(&result);
    return shape;
  }

  duckdb_database db_ = nullptr;
  duckdb_connection conn_ = nullptr;
  TableReadPlans plans_;
};

TEST_F(TableReadPlansTest, APlanIsMadeOnceAndDuckDBKeepsItBetweenRuns) {
  const TableIdentity table{1, 2};
  auto first = PlanFor("SELECT * FROM t LIMIT 5", table).ValueOrDie();
  auto again = PlanFor("SELECT * FROM t LIMIT 5", table).ValueOrDie();
  EXPECT_EQ(first.get(), again.get());
  // What the plans are for: made without the optimizer, DuckDB runs the plan it has
  // instead of binding and planning the statement again at each run.
  auto* wrapper = reinterpret_cast<duckdb::PreparedStatementWrapper*>(first->get());
  EXPECT_FALSE(wrapper->statement->GetStatementProperties().always_require_rebind);
  EXPECT_EQ(Shape(first), (std::pair<idx_t, idx_t>{5, 1}));
  // Rows added since are read; a column added since too (DuckDB plans it again).
  Run("INSERT INTO t SELECT range FROM range(3)");
  EXPECT_EQ(Shape(PlanFor("SELECT * FROM t", table).ValueOrDie()),
            (std::pair<idx_t, idx_t>{13, 1}));
  Run("ALTER TABLE t ADD COLUMN y INTEGER DEFAULT 7");
  EXPECT_EQ(Shape(first), (std::pair<idx_t, idx_t>{5, 2}));
  // Any change to the catalog leaves a plan that DuckDB would plan again at every run
  // (it keeps the plan it had): such a plan is made again, once.
  EXPECT_FALSE(PlanIsCurrent(first->get()));
  Run("CREATE TABLE other (a INTEGER)");
  auto remade = PlanFor("SELECT * FROM t LIMIT 5", table).ValueOrDie();
  EXPECT_NE(remade.get(), first.get());
  EXPECT_TRUE(PlanIsCurrent(remade->get()));
  EXPECT_EQ(Shape(remade), (std::pair<idx_t, idx_t>{5, 2}));
  EXPECT_EQ(PlanFor("SELECT * FROM t LIMIT 5", table).ValueOrDie().get(),
            remade.get());
}

TEST_F(TableReadPlansTest, APlanServesOnlyTheTableItWasMadeFor) {
  auto plan = PlanFor("SELECT * FROM t", TableIdentity{1, 2}).ValueOrDie();
  // The same text judged to read another table (a temporary table of that name made
  // since, which changes no version of the table's catalog) is planned again.
  Run("CREATE TEMP TABLE t AS SELECT 'shadow' AS s, 1 AS a, 2 AS b");
  auto other = PlanFor("SELECT * FROM t", TableIdentity{3, 4}).ValueOrDie();
  EXPECT_NE(plan.get(), other.get());
  EXPECT_EQ(Shape(other), (std::pair<idx_t, idx_t>{1, 3}));
  EXPECT_EQ(plans_.size(), 1u);
  // The read that holds the first plan still runs it.
  EXPECT_EQ(Shape(plan), (std::pair<idx_t, idx_t>{10, 1}));
}

TEST_F(TableReadPlansTest, AtMostKMaxPlansTheLeastRecentlyUsedGoesFirst) {
  const TableIdentity table{1, 2};
  auto kept = PlanFor("SELECT * FROM t LIMIT 0", table).ValueOrDie();
  for (size_t i = 1; i < TableReadPlans::kMaxPlans + 4; ++i) {
    ASSERT_TRUE(PlanFor("SELECT * FROM t LIMIT " + std::to_string(i), table).ok());
    // One text used all along stays.
    EXPECT_EQ(PlanFor("SELECT * FROM t LIMIT 0", table).ValueOrDie().get(),
              kept.get());
  }
  EXPECT_EQ(plans_.size(), TableReadPlans::kMaxPlans);
}

TEST_F(TableReadPlansTest, PlansOfWideTablesStayWithinTheirBytes) {
  if (!AllocationGuard::NewOverrideActive()) GTEST_SKIP() << "no allocation is counted";
  // A client reading a wide table with many LIMITs: a plan takes about 220 bytes per
  // column, so a 300-column table's about 66 KB; 256 KiB of plans hold a few of them.
  constexpr int64_t kBytes = 256 << 10;
  TableReadPlans plans(kBytes);
  const int64_t counted_before = AllocationGuard::live_bytes();
  auto create = [&](const std::string& name, int columns) {
    std::string sql = "CREATE TABLE " + name + " (c0 VARCHAR";
    for (int i = 1; i < columns; ++i) sql += ", c" + std::to_string(i) + " VARCHAR";
    Run(sql + ")");
  };
  create("wide", 300);
  for (int i = 0; i < 20; ++i) {
    auto plan = PlanFor(plans, "SELECT * FROM wide LIMIT " + std::to_string(i),
                            TableIdentity{1, 5});
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    EXPECT_LE(plans.bytes(), kBytes);
  }
  EXPECT_GT(plans.size(), 1u);
  EXPECT_LT(plans.size(), 8u);
  // One plan larger than all of it serves its read and is not kept.
  create("wider", 3000);
  const size_t before = plans.size();
  auto plan = PlanFor(plans, "SELECT * FROM wider", TableIdentity{1, 6}).ValueOrDie();
  EXPECT_EQ(Shape(plan).second, 3000u);
  EXPECT_EQ(plans.size(), before);
  EXPECT_LE(plans.bytes(), kBytes);
  // Every plan let go is counted no more (a few blocks of DuckDB's own may come and go).
  plan.reset();
  plans.Clear();
  EXPECT_LT(AllocationGuard::live_bytes() - counted_before, int64_t{32} << 10);
}

TEST_F(TableReadPlansTest, DuckDBsErrorWhenTheTextCannotBePlanned) {
  auto plan = PlanFor("SELECT * FROM missing", TableIdentity{1, 2});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("missing"), std::string::npos)
      << plan.status().ToString();
  EXPECT_EQ(plans_.size(), 0u);
}

// Through the server's own paths: a client's reads judged by the SQL sandbox, on the
// connections kept for reads and on a Flight SQL prepared statement's connection.
class PlannedReadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    options.path = ":memory:";
    db_ = Database::Open(options).ValueOrDie();
    admin_ = std::make_shared<Principal>();
    admin_->user = "admin";
    admin_->role = Role::kAdmin;
    Run("CREATE TABLE t AS SELECT range AS x FROM range(100)");
  }
  void Run(const std::string& sql) {
    auto conn = db_->Connect().ValueOrDie();
    ASSERT_TRUE(conn->Execute(sql).ok()) << sql;
  }
  std::shared_ptr<arrow::Table> Read(const std::string& sql) {
    QueryOptions options;
    options.principal = admin_;
    auto reader = Connection::Query(db_->ConnectForRead().ValueOrDie(), sql, options);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    return reader.ok() ? (*reader)->ToTable().ValueOrDie() : nullptr;
  }

  std::unique_ptr<Database> db_;
  std::shared_ptr<Principal> admin_;
};

TEST_F(PlannedReadsTest, ReadsOfOneTextShareOnePlanUntilTheCatalogChanges) {
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Read("SELECT * FROM t LIMIT 7")->num_rows(), 7);
  ASSERT_EQ(db_->kept_read_connections(), 1u);
  EXPECT_EQ(db_->kept_read_plans_made(), 1u);
  EXPECT_EQ(Read("SELECT * FROM t")->num_rows(), 100);
  EXPECT_EQ(db_->kept_read_plans_made(), 2u);
  // Another table made: the catalog's version moved, and each plan is made again once.
  Run("CREATE TABLE other (a INTEGER)");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Read("SELECT * FROM t LIMIT 7")->num_rows(), 7);
  EXPECT_EQ(db_->kept_read_plans_made(), 3u);
  // A text longer than a kept parse is planned as it runs, and not kept.
  const std::string padded = "SELECT * FROM t /*" + std::string(5000, 'x') + "*/";
  EXPECT_EQ(Read(padded)->num_rows(), 100);
  EXPECT_EQ(db_->kept_read_plans_made(), 3u);
  EXPECT_EQ(db_->kept_read_connections(), 1u);
}

TEST_F(PlannedReadsTest, AKeptPlanReadsTheTableAsItIsNow) {
  EXPECT_EQ(Read("SELECT * FROM t")->num_rows(), 100);
  ASSERT_EQ(db_->kept_read_connections(), 1u);  // with its plan
  Run("INSERT INTO t SELECT range FROM range(5)");
  EXPECT_EQ(Read("SELECT * FROM t")->num_rows(), 105);
  Run("ALTER TABLE t ADD COLUMN label VARCHAR DEFAULT 'new'");
  auto altered = Read("SELECT * FROM t");
  ASSERT_EQ(altered->num_columns(), 2);
  EXPECT_EQ(altered->schema()->field(1)->name(), "label");
  // Replaced by a view over another table: judged and planned as the view it is now.
  Run("CREATE TABLE other AS SELECT 'elsewhere' AS s");
  Run("DROP TABLE t");
  Run("CREATE VIEW t AS SELECT * FROM other");
  auto view = Read("SELECT * FROM t");
  ASSERT_EQ(view->num_rows(), 1);
  EXPECT_EQ(view->schema()->field(0)->name(), "s");
}

TEST_F(PlannedReadsTest, APreparedReadFollowsATemporaryTableThatShadowsItsTable) {
  // A Flight SQL session's connection: a prepared `SELECT * FROM t` read once (its plan
  // kept for main.t), then a temporary table t made on that connection, which changes
  // nothing in main's catalog. DuckDB reads the temporary table: so must the next run.
  auto lease = ConnectionLease::Own(db_->Connect().ValueOrDie());
  auto statement =
      PreparedStatement::Make(lease, "SELECT * FROM t", admin_.get()).ValueOrDie();
  QueryOptions options;
  options.principal = admin_;
  auto first = PreparedStatement::Query(statement, lease, options).ValueOrDie();
  EXPECT_EQ(first->ToTable().ValueOrDie()->num_rows(), 100);
  first.reset();
  // (Of the same columns: a result of other columns is refused, as prepared otherwise.)
  ASSERT_TRUE(
      lease->ExecuteUpdate("CREATE TEMP TABLE t AS SELECT 1::BIGINT AS x", *admin_).ok());
  auto second = PreparedStatement::Query(statement, lease, options).ValueOrDie();
  EXPECT_EQ(second->ToTable().ValueOrDie()->num_rows(), 1);
}

}  // namespace table_read_plans_test
}  // namespace arrowport::storage
