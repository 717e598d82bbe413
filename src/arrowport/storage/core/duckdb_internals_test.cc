#include "arrowport/storage/core/duckdb_internals.h"

#include <duckdb/catalog/catalog.hpp>
#include <duckdb/catalog/catalog_entry/schema_catalog_entry.hpp>
#include <duckdb/main/client_context.hpp>
#include <duckdb/main/client_context_state.hpp>
#include <duckdb/main/attached_database.hpp>
#include <duckdb/main/database.hpp>
#include <duckdb/main/valid_checker.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "arrowport/common/status_detail.h"
#include "arrowport/storage/core/duckdb_error.h"

namespace arrowport::storage {
namespace duckdb_internals_test {

arrow::Status Query(duckdb_connection connection, const char* sql) {
  ResultHandle result;
  if (duckdb_query(connection, sql, result.out()) == DuckDBError) {
    return arrow::Status::IOError(duckdb_result_error(result.ptr()));
  }
  return arrow::Status::OK();
}

// The checkpointer asks DuckDB's flags (InvalidationWatch) where it ran SELECT 1 four
// times a second (1 % of a core on an idle server): what invalidates the catalog (a
// checkpoint that failed) and what invalidates the instance (a fatal error) are both seen,
// as a statement meets them.
TEST(InvalidationWatchTest, SeesTheCatalogsAndTheInstancesAsAStatementMeetsThem) {
  for (const bool whole_instance : {false, true}) {
    DatabaseHandle database;
    ASSERT_EQ(duckdb_open(nullptr, database.out()), DuckDBSuccess);
    ConnectionHandle connection;
    ASSERT_EQ(duckdb_connect(database.get(), connection.out()), DuckDBSuccess);
    ASSERT_TRUE(Query(connection.get(), "CREATE TABLE t AS SELECT 1 AS x").ok());
    auto invalidation = InvalidationWatch(connection.get(), "memory");
    ASSERT_TRUE(invalidation);
    EXPECT_EQ(invalidation(), "");
    duckdb::ClientContext& context = *ClientContextOf(connection.get());
    if (whole_instance) {
      duckdb::ValidChecker::Invalidate(duckdb::DatabaseInstance::GetDatabase(context),
                                       "a fatal error");
    } else {
      context.RunFunctionInTransaction([&] {
        duckdb::Catalog::GetCatalog(context, duckdb::Identifier("memory")).GetAttached().Invalidate(
            "No space left on device");
      });
    }
    const std::string said = invalidation();
    EXPECT_NE(said.find("invalidated"), std::string::npos) << said;
    EXPECT_NE(said.find(whole_instance ? "a fatal error" : "No space left"),
              std::string::npos) << said;
    const auto read = Query(connection.get(), "SELECT x FROM t");
    EXPECT_FALSE(read.ok()) << whole_instance;
    EXPECT_NE(read.message().find("invalidated"), std::string::npos) << read;
    // What the server tells the statement's client: retry once it is reopened (the upkeep
    // thread sees it within a second), not what invalidated it (disk full, HTTP 507).
    ResultHandle result;
    ASSERT_EQ(duckdb_query(connection.get(), "SELECT x FROM t", result.out()), DuckDBError);
    const auto told = TranslateDuckDBError(duckdb_result_error_type(result.ptr()),
                                           duckdb_result_error(result.ptr()));
    EXPECT_TRUE(HasErrorKind(told, ErrorKind::kServerBusy)) << told;
    EXPECT_NE(told.message().find(whole_instance ? "a fatal error" : "No space left"),
              std::string::npos) << told;
  }
  // Once DuckDB's instance is gone the watch says nothing (and holds nothing).
  std::function<std::string()> invalidation;
  {
    DatabaseHandle database;
    ASSERT_EQ(duckdb_open(nullptr, database.out()), DuckDBSuccess);
    ConnectionHandle connection;
    ASSERT_EQ(duckdb_connect(database.get(), connection.out()), DuckDBSuccess);
    invalidation = InvalidationWatch(connection.get(), "memory");
  }
  EXPECT_EQ(invalidation(), "");
}

// Found by an outside review: the server's SQL COMMIT ran as a task on one of DuckDB's
// worker threads (a hand-off per commit: +0.4 ms and a p99 of 6 ms on a one-row write),
// outside the calling thread's AllocationGuard::CommitScope. It now runs on the caller.
TEST(RunTransactionStepTest, CommitsOnTheCallingThreadWithDuckDBsOwnChecks) {
  struct CommitSpy : duckdb::ClientContextState {
    std::vector<std::thread::id> threads;
    void TransactionCommit(duckdb::MetaTransaction&, duckdb::ClientContext&) override {
      threads.push_back(std::this_thread::get_id());
    }
  };
  DatabaseHandle database;
  ASSERT_EQ(duckdb_open(nullptr, database.out()), DuckDBSuccess);
  ConnectionHandle connection;
  ASSERT_EQ(duckdb_connect(database.get(), connection.out()), DuckDBSuccess);
  ASSERT_TRUE(Query(connection.get(), "SET threads = 4").ok());  // workers to hand off to
  ASSERT_TRUE(Query(connection.get(), "CREATE TABLE t (x BIGINT)").ok());
  auto spy = duckdb::make_shared_ptr<CommitSpy>();
  ClientContextOf(connection.get())->registered_state->Insert("commit_spy", spy);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(RunTransactionStep(connection.get(), TransactionStep::kBegin).ok());
    ASSERT_TRUE(Query(connection.get(), "INSERT INTO t VALUES (1)").ok());
    ASSERT_TRUE(RunTransactionStep(connection.get(), TransactionStep::kCommit).ok());
  }
  ASSERT_EQ(spy->threads.size(), 20u);
  for (const auto& thread : spy->threads) EXPECT_EQ(thread, std::this_thread::get_id());

  ASSERT_TRUE(RunTransactionStep(connection.get(), TransactionStep::kBegin).ok());
  auto twice = RunTransactionStep(connection.get(), TransactionStep::kBegin);
  EXPECT_NE(twice.message().find("within a transaction"), std::string::npos) << twice;
  ASSERT_TRUE(RunTransactionStep(connection.get(), TransactionStep::kRollback).ok());
  auto none = RunTransactionStep(connection.get(), TransactionStep::kCommit);
  EXPECT_NE(none.message().find("no transaction is active"), std::string::npos) << none;
}

std::string OneValue(duckdb_connection connection, const char* sql, idx_t column = 0) {
  ResultHandle result;
  if (duckdb_query(connection, sql, result.out()) == DuckDBError) {
    return std::string("error: ") + duckdb_result_error(result.ptr());
  }
  char* text = duckdb_value_varchar(result.ptr(), column, 0);
  std::string value = text ? text : "null";
  duckdb_free(text);
  return value;
}

// A SELECT * of a table is planned without the optimizer, and the connection (pooled:
// the next statement may be anybody's) gets it back as soon as that plan is made.
TEST(OptimizerOffTest, OffWhileItLivesForItsConnectionOnly) {
  DatabaseHandle database;
  ASSERT_EQ(duckdb_open(nullptr, database.out()), DuckDBSuccess);
  ConnectionHandle connection, other;
  ASSERT_EQ(duckdb_connect(database.get(), connection.out()), DuckDBSuccess);
  ASSERT_EQ(duckdb_connect(database.get(), other.out()), DuckDBSuccess);
  const char* setting = "SELECT current_setting('enable_optimizer')::VARCHAR";
  // The optimizer folds 1 + 1 into a constant: the plans differ.
  const char* plan = "EXPLAIN SELECT 1 + 1 AS two";
  const std::string optimized = OneValue(connection.get(), plan, 1);
  ASSERT_EQ(optimized.find("error"), std::string::npos) << optimized;
  EXPECT_EQ(OneValue(connection.get(), setting), "true");
  {
    OptimizerOff off(connection.get());
    EXPECT_EQ(OneValue(connection.get(), setting), "false");
    EXPECT_EQ(OneValue(other.get(), setting), "true");
    const std::string unoptimized = OneValue(connection.get(), plan, 1);
    EXPECT_NE(unoptimized, optimized);
  }
  EXPECT_EQ(OneValue(connection.get(), setting), "true");
  EXPECT_EQ(OneValue(connection.get(), plan, 1), optimized);
}

// The entries of `type` in the system catalog's main schema: those that exist, or (`all`)
// every one, DuckDB's built-in macros built first (it builds each on first use).
std::vector<std::string> SystemEntries(duckdb_connection connection, duckdb::CatalogType type,
                                       bool all) {
  duckdb::ClientContext* context = ClientContextOf(connection);
  std::vector<std::string> names;
  auto add = [&](duckdb::CatalogEntry& entry) {
    if (entry.type == type) names.push_back(entry.name.GetIdentifierName());
  };
  context->RunFunctionInTransaction([&] {
    auto& schema = duckdb::Catalog::GetSystemCatalog(*context).GetSchema(
        *context, duckdb::Identifier("main"));
    if (all) {
      schema.Scan(*context, type, add);
    } else {
      schema.Scan(type, add);
    }
  });
  std::sort(names.begin(), names.end());
  return names;
}

size_t BuiltMacros(duckdb_connection connection) {
  return SystemEntries(connection, duckdb::CatalogType::MACRO_ENTRY, false).size();
}

// Guarding DuckDB's functions looks at the entries that exist: a scan through the context
// first builds every built-in macro DuckDB would build on first use, parsing each one's
// SQL (docs/testing.md: most of a server start's cost of the guard).
TEST(HardenDuckDBFunctionsTest, BuildsNoneOfDuckDBsMacros) {
  DatabaseHandle database;
  ASSERT_EQ(duckdb_open(nullptr, database.out()), DuckDBSuccess);
  ConnectionHandle connection;
  ASSERT_EQ(duckdb_connect(database.get(), connection.out()), DuckDBSuccess);
  const size_t before = BuiltMacros(connection.get());
  ASSERT_TRUE(HardenDuckDBFunctions(connection.get()).ok());
  EXPECT_EQ(BuiltMacros(connection.get()), before);
  // Still guarded: a timestamp from a number before DuckDB's least is the query's error.
  EXPECT_NE(OneValue(connection.get(), "SELECT make_timestamp(-9223372036854775000)::VARCHAR")
                .find("before the least timestamp"),
            std::string::npos);
  // And a built-in macro works, built as it is used.
  EXPECT_EQ(OneValue(connection.get(), "SELECT list_reverse([1, 2])::VARCHAR"), "[2, 1]");
  EXPECT_GT(BuiltMacros(connection.get()), before);
  // No scalar function is one DuckDB builds on first use: the guard saw them all.
  const auto existing =
      SystemEntries(connection.get(), duckdb::CatalogType::SCALAR_FUNCTION_ENTRY, false);
  EXPECT_GT(existing.size(), 500u);
  EXPECT_EQ(existing,
            SystemEntries(connection.get(), duckdb::CatalogType::SCALAR_FUNCTION_ENTRY, true));
}

// Every cast of a TIMESTAMP before DuckDB's least (one its quantile_cont made): a try_cast
// is NULL, a cast the query's error; neither invalidates the database (try_cast to
// TIMESTAMPTZ, ICU's cast, and a cast to TIMESTAMP_MS did, an attack). DATE and TIME are
// DuckDB's own casts, which convert such a value. Guarding twice changes nothing.
TEST(HardenDuckDBFunctionsTest, CastsOfATimestampOutsideTheRangeNeverInvalidate) {
  DatabaseHandle database;
  ASSERT_EQ(duckdb_open(nullptr, database.out()), DuckDBSuccess);
  ConnectionHandle connection;
  ASSERT_EQ(duckdb_connect(database.get(), connection.out()), DuckDBSuccess);
  ASSERT_TRUE(HardenDuckDBFunctions(connection.get()).ok());
  ASSERT_TRUE(HardenDuckDBFunctions(connection.get()).ok());
  ASSERT_EQ(OneValue(connection.get(),
                     "CREATE TABLE kept AS SELECT quantile_cont(x, 0.059) AS m FROM (VALUES "
                     "(TIMESTAMP '290309-12-22 (BC) 00:00:00'), "
                     "(TIMESTAMP '290309-12-22 (BC) 00:00:00')) v(x)"),
            "1");
  for (const char* target : {"TIMESTAMPTZ", "TIMESTAMP_MS", "TIMESTAMP_S", "TIMESTAMP_NS"}) {
    SCOPED_TRACE(target);
    const std::string cast = std::string("SELECT TRY_CAST(m AS ") + target + ") FROM kept";
    EXPECT_EQ(OneValue(connection.get(), cast.c_str()), "null");
    const std::string strict = std::string("SELECT CAST(m AS ") + target + ") FROM kept";
    EXPECT_NE(OneValue(connection.get(), strict.c_str()).find("outside the range of timestamps"),
              std::string::npos);
    EXPECT_EQ(OneValue(connection.get(), "SELECT 42"), "42");  // still valid
  }
  EXPECT_EQ(OneValue(connection.get(), "SELECT (m::DATE)::VARCHAR || ' ' || m::TIME FROM kept"),
            "290309-12-21 (BC) 23:59:59.998976");
  // A TIMESTAMP_MS past the greatest (median rounds two greatest in doubles; an attack).
  ASSERT_EQ(OneValue(connection.get(),
                     "CREATE TABLE kept_ms AS SELECT median(x) AS m FROM (VALUES "
                     "(TIMESTAMP_MS '294247-01-10 04:00:54.775'), "
                     "(TIMESTAMP_MS '294247-01-10 04:00:54.775')) v(x)"),
            "1");
  EXPECT_EQ(OneValue(connection.get(), "SELECT TRY_CAST(m AS VARCHAR) FROM kept_ms"), "null");
  EXPECT_NE(OneValue(connection.get(), "SELECT m || 'x' FROM kept_ms").find("outside the range"),
            std::string::npos);
  EXPECT_EQ(OneValue(connection.get(), "SELECT 42"), "42");
  // A cast the guard leaves to DuckDB keeps DuckDB's statistics, as in a database unguarded.
  const char* days =
      "CREATE TABLE days AS SELECT TIMESTAMP '2020-01-01' + INTERVAL (i) DAY AS ts "
      "FROM range(10) t(i)";
  const char* stats = "SELECT stats(ts::DATE)::VARCHAR FROM days LIMIT 1";
  DatabaseHandle plain_database;
  ASSERT_EQ(duckdb_open(nullptr, plain_database.out()), DuckDBSuccess);
  ConnectionHandle plain;
  ASSERT_EQ(duckdb_connect(plain_database.get(), plain.out()), DuckDBSuccess);
  ASSERT_EQ(duckdb_query(plain.get(), days, nullptr), DuckDBSuccess);
  ASSERT_EQ(duckdb_query(connection.get(), days, nullptr), DuckDBSuccess);
  EXPECT_NE(OneValue(plain.get(), stats).find("2020-01-10"), std::string::npos)
      << OneValue(plain.get(), stats);
  EXPECT_EQ(OneValue(connection.get(), stats), OneValue(plain.get(), stats));
  // A cast with a state of its own (JSON's) is guarded too.
  EXPECT_EQ(OneValue(connection.get(), "SELECT TRY_CAST(m AS JSON) FROM kept"), "null");
  // Implicit casts are DuckDB's, their settings included.
  ASSERT_EQ(duckdb_query(connection.get(), "SET old_implicit_casting = true", nullptr),
            DuckDBSuccess);
  EXPECT_EQ(OneValue(connection.get(), "SELECT TIMESTAMP '2020-01-01' LIKE '2020%'"), "true");
  ASSERT_EQ(duckdb_query(connection.get(), "RESET old_implicit_casting", nullptr),
            DuckDBSuccess);
  // Nested, the child cast is the same one; values in range cast as DuckDB casts them.
  EXPECT_EQ(
      OneValue(connection.get(), "SELECT TRY_CAST([m] AS TIMESTAMPTZ[])::VARCHAR FROM kept"),
      "[NULL]");
  EXPECT_EQ(OneValue(connection.get(), "SELECT m::VARCHAR FROM kept"),
            "290309-12-21 (BC) 23:59:59.998976");
  EXPECT_EQ(OneValue(connection.get(), "SELECT TRY_CAST(TIMESTAMP '2020-01-02 03:04:05.678' "
                                       "AS TIMESTAMP_S)::VARCHAR"),
            "2020-01-02 03:04:06");  // DuckDB rounds
  EXPECT_EQ(OneValue(connection.get(),
                     "SELECT TIMESTAMP '2020-01-02 03:04:05' = "
                     "TIMESTAMP '2020-01-02 03:04:05'::TIMESTAMPTZ::TIMESTAMP"),
            "true");
}

}  // namespace duckdb_internals_test
}  // namespace arrowport::storage
