#include "arrowport/storage/sandbox/statement_guard.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "arrow/api.h"
#include "arrow/io/file.h"
#include "parquet/arrow/writer.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/database/shared_connection.h"
#include "arrowport/storage/database/prepared_statement.h"

namespace arrowport::storage {
namespace statement_guard_test {

Principal Make(Role role, std::vector<std::string> tables = {}) {
  Principal p;
  p.user = role == Role::kAdmin ? "ada" : role == Role::kWriter ? "wes" : "rita";
  p.role = role;
  p.tables = std::move(tables);
  return p;
}

class StatementGuardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    options.path = ":memory:";
    options.max_query_memory = int64_t{512} << 20;
    db_ = Database::Open(options).ValueOrDie();
    lease_ = ConnectionLease::Own(db_->Connect().ValueOrDie());
    conn_ = &lease_.connection();
    // The server's own SQL (no principal) sets up what a request log looks like.
    ASSERT_TRUE(conn_->Execute("CREATE TABLE t (id INTEGER, name VARCHAR)").ok());
    ASSERT_TRUE(conn_->Execute("CREATE TABLE other (x INTEGER)").ok());
    ASSERT_TRUE(conn_->Execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')").ok());
    ASSERT_TRUE(conn_->Execute("CREATE SCHEMA arrowport").ok());
    ASSERT_TRUE(conn_->Execute("CREATE TABLE arrowport.requests (id VARCHAR)").ok());
    ASSERT_TRUE(conn_->Execute("CREATE VIEW v_t AS SELECT id FROM t").ok());
    ASSERT_TRUE(conn_->Execute("CREATE TABLE arrowport_scratch.main.s (a INT)").ok());
    ASSERT_TRUE(conn_->Execute("CREATE VIEW v_log AS SELECT * FROM arrowport.requests").ok());
  }

  // Runs `sql` as `who` the way the query path does; the status of the attempt.
  arrow::Status Run(const std::string& sql, const Principal& who) {
    auto conn = db_->Connect().ValueOrDie();
    QueryOptions options;
    options.principal = std::make_shared<Principal>(who);
    auto reader = Connection::Query(std::move(conn), sql, options);
    if (!reader.ok()) return reader.status();
    return (*reader)->ToTable().status();
  }

  static void ExpectDenied(const arrow::Status& st, const std::string& mentions) {
    EXPECT_TRUE(HasErrorKind(st, ErrorKind::kPermissionDenied)) << st.ToString();
    EXPECT_NE(st.message().find(mentions), std::string::npos) << st.ToString();
  }

  std::unique_ptr<Database> db_;
  ConnectionLease lease_;
  Connection* conn_ = nullptr;
};

TEST_F(StatementGuardTest, ReadersAndWritersRunOnlySelect) {
  for (Role role : {Role::kReader, Role::kWriter}) {
    const auto who = Make(role);
    EXPECT_TRUE(Run("SELECT * FROM t", who).ok());
    EXPECT_TRUE(Run("PRAGMA table_info('t')", who).ok());  // DuckDB makes it a SELECT
    ExpectDenied(Run("INSERT INTO t VALUES (3, 'c')", who), "INSERT");
    ExpectDenied(Run("UPDATE t SET name = 'x'", who), "UPDATE");
    ExpectDenied(Run("DELETE FROM t", who), "DELETE");
    ExpectDenied(Run("DROP TABLE t", who), "DROP");
    ExpectDenied(Run("CREATE TABLE u (a INT)", who), "CREATE");
    ExpectDenied(Run("EXPLAIN ANALYZE DELETE FROM t", who), "EXPLAIN");
    ExpectDenied(Run("CALL duckdb_tables()", who), "CALL");
    ExpectDenied(Run("CHECKPOINT", who), "CALL");
    ExpectDenied(Run("SELECT * FROM checkpoint()", who), "checkpoint");
  }
  auto count = conn_->QueryTable("SELECT count(*) FROM t").ValueOrDie();
  EXPECT_EQ(count->column(0)->GetScalar(0).ValueOrDie()->ToString(), "2");
}

// Found by an outside review: the sandbox was bypassed by data-changing CTEs, by a CTE
// named after the table it hides, by DuckDB's built-in macros, by SHOW <setting> and by
// expressions of CREATE TYPE and column defaults.
TEST_F(StatementGuardTest, DataChangingCtesNeedAnAdmin) {
  for (Role role : {Role::kReader, Role::kWriter}) {
    const auto who = Make(role);
    ExpectDenied(Run("WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT count(*) FROM d",
                     who), "changes 't'");
    ExpectDenied(Run("WITH u AS (UPDATE t SET name = 'x' RETURNING *) SELECT * FROM u", who),
                 "changes 't'");
    ExpectDenied(Run("WITH i AS (INSERT INTO t VALUES (9, 'z') RETURNING *) SELECT * FROM i",
                     who), "changes 't'");
  }
  auto count = conn_->QueryTable("SELECT count(*) FROM t").ValueOrDie();
  EXPECT_EQ(count->column(0)->GetScalar(0).ValueOrDie()->ToString(), "2");
  const auto admin = Make(Role::kAdmin);
  EXPECT_TRUE(Run("WITH d AS (DELETE FROM t WHERE id = 2 RETURNING *) SELECT * FROM d", admin)
                  .ok());
  ExpectDenied(Run("WITH d AS (DELETE FROM arrowport.requests RETURNING *) SELECT * FROM d",
                   admin), "server's own state");
}

TEST_F(StatementGuardTest, ACteNamedAfterATableDoesNotHideIt) {
  const auto narrow = Make(Role::kReader, {"t"});
  ExpectDenied(Run("WITH other AS (SELECT * FROM other) SELECT * FROM other", narrow),
               "may not read 'other'");
  ExpectDenied(Run("WITH RECURSIVE other AS (SELECT * FROM other) SELECT * FROM other", narrow),
               "may not read 'other'");
  ExpectDenied(Run("WITH a AS (SELECT 1), sqlite_master AS (SELECT * FROM sqlite_master) "
                   "SELECT * FROM sqlite_master", Make(Role::kReader)), "system catalog");
  // A CTE still shadows the table in the query that uses it, and recursion still works.
  EXPECT_TRUE(Run("WITH other AS (SELECT 1 AS x) SELECT * FROM other", narrow).ok());
  EXPECT_TRUE(Run("WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r "
                  "WHERE n < 3) SELECT * FROM r, t", narrow).ok());
}

TEST_F(StatementGuardTest, MacrosAreCheckedAsTheyExpand) {
  for (Role role : {Role::kReader, Role::kAdmin}) {
    const auto who = Make(role);
    ExpectDenied(Run("SELECT pg_get_viewdef(1)", who), "duckdb_views");
    ExpectDenied(Run("SELECT get_block_size('memory')", who), "pragma_database_size");
    ExpectDenied(Run("SELECT format_type(1, -1)", who), "duckdb_types");
  }
  // Macros that compute, read nothing.
  EXPECT_TRUE(Run("SELECT list_append([1], 2), nullif(1, 2)", Make(Role::kReader)).ok());
}

TEST_F(StatementGuardTest, ShowOfASettingIsRefused) {
  for (Role role : {Role::kReader, Role::kAdmin}) {
    ExpectDenied(Run("SHOW memory_limit", Make(role)), "SHOW memory_limit");
    ExpectDenied(Run("SHOW allowed_paths", Make(role)), "SHOW allowed_paths");
  }
  EXPECT_TRUE(Run("SHOW t", Make(Role::kReader)).ok());
  ExpectDenied(Run("PRAGMA show_tables", Make(Role::kReader, {"t"})), "SHOW tables");
}

TEST_F(StatementGuardTest, ExpressionsOfCreateAndAlterAreChecked) {
  const auto admin = Make(Role::kAdmin);
  ExpectDenied(Run("CREATE TYPE leak AS ENUM (SELECT id FROM arrowport.requests)", admin),
               "server's own state");
  ExpectDenied(Run("CREATE TABLE d1 (a INT, s VARCHAR DEFAULT current_setting('memory_limit'))",
                   admin), "current_setting");
  ExpectDenied(Run("CREATE TABLE d2 (a INT, s VARCHAR AS (current_setting('threads')))", admin),
               "current_setting");
  ASSERT_TRUE(Run("CREATE TABLE d3 (a INT)", admin).ok());
  ExpectDenied(Run("ALTER TABLE d3 ADD COLUMN s VARCHAR DEFAULT getenv('HOME')", admin),
               "getenv");
  ExpectDenied(Run("ALTER TABLE d3 ALTER COLUMN a SET DEFAULT current_setting('threads')::INT",
                   admin), "current_setting");
  EXPECT_TRUE(Run("ALTER TABLE d3 ADD COLUMN b INT DEFAULT 7", admin).ok());
  // DuckDB runs this as two steps (ALTER, then UPDATE): both are judged, and it runs.
  EXPECT_TRUE(Run("ALTER TABLE d3 ADD COLUMN c VARCHAR DEFAULT lower('X')", admin).ok());
  ExpectDenied(Run("ALTER TABLE d3 ADD COLUMN e VARCHAR DEFAULT lower('X')", Make(Role::kReader)),
               "ALTER");
}

TEST_F(StatementGuardTest, AdminRunsDdlAndDmlOnUserTables) {
  const auto admin = Make(Role::kAdmin);
  EXPECT_TRUE(Run("CREATE TABLE u (a INT)", admin).ok());
  EXPECT_TRUE(Run("INSERT INTO u VALUES (1), (2)", admin).ok());
  EXPECT_TRUE(Run("UPDATE u SET a = a + 1", admin).ok());
  EXPECT_TRUE(Run("DELETE FROM u WHERE a = 2", admin).ok());
  EXPECT_TRUE(Run("ALTER TABLE u ADD COLUMN b VARCHAR", admin).ok());
  EXPECT_TRUE(Run("CREATE INDEX u_a ON u (a)", admin).ok());
  EXPECT_TRUE(Run("EXPLAIN SELECT * FROM u", admin).ok());
  EXPECT_TRUE(Run("INSERT INTO u SELECT id, name FROM t", admin).ok());
  EXPECT_TRUE(Run("DROP TABLE u", admin).ok());
}

TEST_F(StatementGuardTest, NobodyChangesSettingsAttachesOrLoads) {
  for (Role role : {Role::kReader, Role::kWriter, Role::kAdmin}) {
    const auto who = Make(role);
    ExpectDenied(Run("ATTACH ':memory:' AS other_db", who), "ATTACH");
    ExpectDenied(Run("DETACH arrowport_scratch", who), "DETACH");
    ExpectDenied(Run("SET GLOBAL memory_limit = '6GB'", who), "SET");
    ExpectDenied(Run("SET threads = 3000", who), "SET");
    ExpectDenied(Run("RESET memory_limit", who), "SET");
    ExpectDenied(Run("PRAGMA memory_limit = '1MB'", who), "SET");
    ExpectDenied(Run("SET enable_external_access = true", who), "SET");
    ExpectDenied(Run("SET lock_configuration = false", who), "SET");
    ExpectDenied(Run("USE arrowport_scratch", who), "SET");
    ExpectDenied(Run("LOAD json", who), "LOAD");
    ExpectDenied(Run("INSTALL json", who), "LOAD");
    // DuckDB itself refuses to bind EXPORT with external access off.
    EXPECT_FALSE(Run("EXPORT DATABASE '/tmp/x'", who).ok());
    ExpectDenied(Run("PRAGMA disable_checkpoint_on_shutdown", who), "PRAGMA");
    ExpectDenied(Run("COPY FROM DATABASE memory TO arrowport_scratch", who), "PRAGMA");
    ExpectDenied(Run("PREPARE p AS SELECT 1", who), "PREPARE");
    // Transaction control is refused as invalid input, not as a permission matter.
    const auto begin = Run("BEGIN TRANSACTION", who);
    EXPECT_TRUE(begin.IsInvalid()) << begin;
    EXPECT_NE(begin.message().find("transaction control"), std::string::npos) << begin;
  }
}

TEST_F(StatementGuardTest, MultiStatementTextIsRefusedBeforeAnyRuns) {
  // duckdb_prepare alone would run the DROP before preparing the SELECT.
  for (Role role : {Role::kReader, Role::kAdmin}) {
    ExpectDenied(Run("DROP TABLE t; SELECT 1", Make(role)), "one statement");
  }
  EXPECT_TRUE(conn_->QueryTable("SELECT * FROM t").ok());
}

TEST_F(StatementGuardTest, ServerStateIsOutOfReachForEveryRole) {
  for (Role role : {Role::kReader, Role::kWriter, Role::kAdmin}) {
    const auto who = Make(role);
    ExpectDenied(Run("SELECT * FROM arrowport.requests", who), "server's own state");
    ExpectDenied(Run("SELECT * FROM v_log", who), "server's own state");  // via a view
    ExpectDenied(Run("SELECT * FROM query_table('arrowport.requests')", who), "query_table");
    ExpectDenied(Run("SELECT * FROM arrowport_scratch.main.s", who), "own state");
  }
  const auto admin = Make(Role::kAdmin);
  ExpectDenied(Run("INSERT INTO arrowport.requests VALUES ('forged')", admin), "own state");
  ExpectDenied(Run("INSERT INTO memory.arrowport.requests VALUES ('f')", admin), "own state");
  ExpectDenied(Run("UPDATE arrowport.requests SET id = 'x'", admin), "own state");
  ExpectDenied(Run("DELETE FROM arrowport.requests", admin), "own state");
  ExpectDenied(Run("TRUNCATE arrowport.requests", admin), "own state");
  ExpectDenied(Run("DROP TABLE arrowport.requests", admin), "own state");
  ExpectDenied(Run("DROP SCHEMA arrowport CASCADE", admin), "own state");
  ExpectDenied(Run("ALTER TABLE arrowport.requests ADD COLUMN y INT", admin), "own state");
  ExpectDenied(Run("COMMENT ON TABLE arrowport.requests IS 'x'", admin), "own state");
  ExpectDenied(Run("CREATE OR REPLACE TABLE arrowport.requests (x INT)", admin), "own state");
  ExpectDenied(Run("CREATE INDEX r_id ON arrowport.requests (id)", admin), "own state");
  ExpectDenied(Run("CREATE TABLE arrowport_scratch.main.x (a INT)", admin), "own state");
  ExpectDenied(Run("DROP VIEW IF EXISTS arrowport_scratch.main.arrowport_in_0", admin),
               "own state");
  ExpectDenied(Run("CREATE TABLE copy_of_log AS SELECT * FROM arrowport.requests", admin),
               "own state");
  ExpectDenied(Run("EXPLAIN ANALYZE INSERT INTO arrowport.requests VALUES ('x')", admin),
               "own state");
  ExpectDenied(Run("MERGE INTO arrowport.requests USING t ON false WHEN NOT MATCHED THEN "
                   "INSERT VALUES ('z')",
                   admin),
               "own state");
  // What DML reads besides its target.
  ExpectDenied(Run("UPDATE t SET name = (SELECT max(id) FROM arrowport.requests)", admin),
               "own state");
  ExpectDenied(Run("DELETE FROM t WHERE name IN (SELECT id FROM arrowport.requests)", admin),
               "own state");
  ExpectDenied(Run("INSERT INTO t SELECT 9, id FROM arrowport.requests", admin), "own state");
  auto rows = conn_->QueryTable("SELECT count(*) FROM arrowport.requests").ValueOrDie();
  EXPECT_EQ(rows->column(0)->GetScalar(0).ValueOrDie()->ToString(), "0");
}

TEST_F(StatementGuardTest, JudgingLeavesTheClientsTransactionUsable) {
  const auto admin = Make(Role::kAdmin);
  ASSERT_TRUE(lease_.Begin().ok());
  ASSERT_TRUE(conn_->Execute("CREATE TABLE fresh (a INT)").ok());  // visible only in here
  auto insert = PreparedStatement::Make(lease_, "INSERT INTO fresh VALUES (?)", &admin);
  ASSERT_TRUE(insert.ok()) << insert.status().ToString();
  EXPECT_TRUE(PreparedStatement::Make(lease_, "UPDATE fresh SET a = 1", &admin).ok());
  ExpectDenied(PreparedStatement::Make(lease_, "SELECT * FROM query_table($1)", &admin).status(),
               "parameters");
  ExpectDenied(conn_->ExecuteUpdate("DELETE FROM arrowport.requests", admin).status(),
               "own state");
  EXPECT_TRUE(PreparedStatement::Make(lease_, "SELECT * FROM fresh WHERE a = $1", &admin).ok());
  EXPECT_TRUE(lease_.Commit().ok());
  EXPECT_TRUE(conn_->QueryTable("SELECT * FROM fresh").ok());
}

TEST_F(StatementGuardTest, TablesListNarrowsReads) {
  const auto narrow = Make(Role::kReader, {"t"});
  EXPECT_TRUE(Run("SELECT * FROM t", narrow).ok());
  EXPECT_TRUE(Run("SELECT * FROM main.t", narrow).ok());
  EXPECT_TRUE(Run("SELECT * FROM v_t", narrow).ok());  // a view over listed tables
  ExpectDenied(Run("SELECT * FROM other", narrow), "may not read 'other'");
  ExpectDenied(Run("SELECT * FROM t JOIN other ON true", narrow), "other");
  ExpectDenied(Run("SELECT * FROM query('SELECT * FROM other')", narrow), "'query'");
}

TEST_F(StatementGuardTest, EveryEntryPointIsGuarded) {
  const Principal reader = Make(Role::kReader);
  ExpectDenied(conn_->DescribeQuery("DROP TABLE t; SELECT 1", &reader).status(),
               "one statement");
  ExpectDenied(conn_->DescribeQuery("SELECT * FROM arrowport.requests", &reader).status(),
               "own state");
  EXPECT_TRUE(conn_->DescribeQuery("SELECT * FROM t", &reader).ok());
  ExpectDenied(PreparedStatement::Make(lease_, "DELETE FROM t", &reader).status(), "DELETE");
  auto with_param = PreparedStatement::Make(lease_, "SELECT * FROM t WHERE id = $1", &reader);
  EXPECT_TRUE(with_param.ok()) << with_param.status().ToString();
  EXPECT_TRUE(PreparedStatement::Make(lease_, "SELECT * FROM t WHERE id = ?", &reader).ok());
  // Parameters do not hide a table from the check, nor choose one when the query runs.
  // (Found by an outside review: with the parameter bound to NULL for the check,
  // coalesce($1, 't') looked like a read of t and read anything when it ran.)
  for (const char* sql : {"SELECT * FROM query_table($1)", "SELECT * FROM query($1)",
                          "SELECT * FROM query_table(?::VARCHAR)",
                          "SELECT * FROM query_table(coalesce($1, 't'))",
                          "SELECT * FROM t WHERE id IN (SELECT id FROM query_table(coalesce(?, 't')))"}) {
    ExpectDenied(PreparedStatement::Make(lease_, sql, &reader).status(), "parameters");
  }
  ExpectDenied(PreparedStatement::Make(lease_, "SELECT * FROM arrowport.requests WHERE id = $1",
                                       &reader).status(),
               "own state");
  ExpectDenied(
      PreparedStatement::Make(lease_, "SELECT * FROM other WHERE x = $1",
                              std::make_shared<Principal>(Make(Role::kReader, {"t"})).get())
          .status(),
      "other");
  ExpectDenied(conn_->ExecuteUpdate("DELETE FROM t", reader).status(), "DELETE");
  const Principal admin = Make(Role::kAdmin);
  EXPECT_EQ(conn_->ExecuteUpdate("UPDATE t SET name = 'z' WHERE id = 1", admin).ValueOrDie(),
            1);
  // The server's own SQL (no principal) is not judged.
  EXPECT_TRUE(conn_->DescribeQuery("SELECT * FROM arrowport.requests").ok());
}

// The sandbox used to list a statement's tables by binding it with every table empty, so
// USING and NATURAL joins (which need the columns) were refused for everyone.
TEST_F(StatementGuardTest, JoinsWithUsingAndNaturalJoinsRun) {
  ASSERT_TRUE(conn_->Execute("CREATE TABLE names (id INTEGER, label VARCHAR)").ok());
  for (const Principal& who : {Make(Role::kReader), Make(Role::kReader, {"t", "names"})}) {
    for (const char* sql : {"SELECT * FROM t JOIN names USING (id)",
                            "SELECT * FROM t NATURAL JOIN names",
                            "WITH n AS (SELECT * FROM names) SELECT * FROM t JOIN n USING (id)"}) {
      auto st = Run(sql, who);
      EXPECT_TRUE(st.ok()) << sql << ": " << st.ToString();
    }
  }
}

// Table-limited users read their own tables by SQL (every SQL path refused them before);
// what they may not read is refused by name, never by whether it exists.
TEST_F(StatementGuardTest, TableLimitedUsersRunSqlOverTheirTables) {
  const auto narrow = Make(Role::kReader, {"t"});
  EXPECT_TRUE(Run("SELECT count(*) FROM t WHERE id > (SELECT min(id) FROM t)", narrow).ok());
  EXPECT_TRUE(Run("WITH other AS (SELECT * FROM t) SELECT * FROM other", narrow).ok());
  EXPECT_TRUE(Run("DESCRIBE t", narrow).ok());
  EXPECT_TRUE(Run("PRAGMA table_info('t')", narrow).ok());
  ExpectDenied(Run("SELECT * FROM (SELECT * FROM other)", narrow), "may not read 'other'");
  ExpectDenied(Run("SELECT * FROM t WHERE id IN (SELECT x FROM other)", narrow), "other");
  ExpectDenied(Run("SELECT * FROM no_such_table", narrow), "may not read 'no_such_table'");
  ExpectDenied(Run("DESCRIBE other", narrow), "other");
  ExpectDenied(Run("PRAGMA table_info('other')", narrow), "other");
  ExpectDenied(Run("SHOW TABLES", narrow), "SHOW");
  ExpectDenied(Run("SELECT * FROM temp.main.t", narrow), "temp.main.t");
}

// Found by the hardening review: readers read the server's file paths through settings,
// and duckdb_databases() listed the scratch catalog.
TEST_F(StatementGuardTest, SettingsAndSystemCatalogsAreOutOfReachForEveryRole) {
  for (Role role : {Role::kReader, Role::kWriter, Role::kAdmin}) {
    const auto who = Make(role);
    ExpectDenied(Run("SELECT * FROM duckdb_settings()", who), "duckdb_settings");
    ExpectDenied(Run("SELECT * FROM duckdb_databases()", who), "duckdb_databases");
    ExpectDenied(Run("SELECT current_setting('temp_directory')", who), "temp_directory");
    ExpectDenied(Run("SELECT current_setting('allowed_paths')", who), "allowed_paths");
    ExpectDenied(Run("SELECT current_setting(name) FROM t", who), "current_setting");
    ExpectDenied(Run("SELECT * FROM information_schema.tables", who), "system catalog");
    ExpectDenied(Run("SELECT * FROM information_schema.schemata", who), "system catalog");
    ExpectDenied(Run("SELECT * FROM pg_catalog.pg_tables", who), "system catalog");
    ExpectDenied(Run("SELECT * FROM duckdb_tables", who), "system catalog");
    ExpectDenied(Run("SHOW ALL TABLES", who), "SHOW");
    ExpectDenied(Run("SELECT getvariable('x')", who), "getvariable");
    EXPECT_TRUE(Run("SELECT current_setting('TimeZone')", who).ok());
  }
}

// Refused before DuckDB binds anything: no CSV sniffing, globbing or extension loading,
// and a 403-kind refusal rather than DuckDB's own error text.
TEST_F(StatementGuardTest, RefusedCallsAreRefusedBeforeBinding) {
  for (Role role : {Role::kReader, Role::kAdmin}) {
    const auto who = Make(role);
    ExpectDenied(Run("SELECT * FROM read_csv('/no/such/dir/*.csv')", who), "read_csv");
    ExpectDenied(Run("SELECT * FROM read_xlsx('/tmp/x.xlsx')", who), "read_xlsx");
    ExpectDenied(Run("SELECT * FROM iceberg_scan('s3://b/t')", who), "iceberg_scan");
    ExpectDenied(Run("SELECT * FROM no_such_table_function()", who), "no_such_table_function");
    ExpectDenied(Run("CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')", who), "CREATE");
    ExpectDenied(Run("CREATE MACRO m() AS (SELECT 1)", who), "CREATE");
  }
  EXPECT_TRUE(Run("SELECT * FROM range(3) JOIN unnest([1, 2]) u(x) ON true", Make(Role::kReader)).ok());
  EXPECT_TRUE(Run("SELECT * FROM generate_series(1, 3)", Make(Role::kReader)).ok());
}

// Values whose size a constant argument sets are refused before they are built (found by
// the hardening run: range(1e9) ran 70 s and took 20 GB).
TEST_F(StatementGuardTest, HugeConstantValuesAreRefusedBeforeTheyAreBuilt) {
  const auto reader = Make(Role::kReader);
  for (const char* sql : {"SELECT unnest(range(1000000000))", "SELECT repeat('a', 2000000000)",
                          "SELECT lpad('x', 2000000000, 'y')", "SELECT rpad('x', 1e9::INTEGER, 'y')",
                          "SELECT list_resize([1], 1000000000)",
                          "SELECT generate_series(0, 50000000000, 1)"}) {
    const auto st = Run(sql, reader);
    EXPECT_TRUE(HasErrorKind(st, ErrorKind::kTooLarge)) << sql << ": " << st.ToString();
    EXPECT_NE(st.message().find("limits.max_query_memory"), std::string::npos) << st.ToString();
  }
  // Streaming table functions build no value: bounded by the query timeout instead.
  EXPECT_TRUE(Run("SELECT count(*) FROM range(1000000)", reader).ok());
  EXPECT_TRUE(Run("SELECT repeat('ab', 10)", reader).ok());
}

TEST(SqlSandboxTest, FilesSettingsAndLockAreOutOfReachOfSql) {
  const auto dir = std::filesystem::temp_directory_path() / "arrowport_sandbox_test";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  { std::ofstream(dir / "view.csv") << "a,b\n1,x\n2,y\n"; }
  { std::ofstream(dir / "secret.csv") << "s\nhidden\n"; }
  DatabaseOptions options;
  options.path = (dir / "db.duckdb").string();
  options.file_views = {{"from_file", (dir / "view.csv").string()}};
  auto db = Database::Open(options).ValueOrDie();
  auto conn = db->Connect().ValueOrDie();
  // Even the server's own unguarded SQL cannot reach files or settings now.
  auto view = conn->QueryTable("SELECT count(*) FROM from_file");
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ((*view)->column(0)->GetScalar(0).ValueOrDie()->ToString(), "2");
  const std::string secret = (dir / "secret.csv").string();
  for (const std::string sql :
       {"SELECT * FROM read_csv('" + secret + "')", std::string("SELECT * FROM glob('/*')"),
        std::string("SELECT * FROM read_text('/proc/self/environ')"),
        "COPY (SELECT 1) TO '" + options.path + "'",
        "COPY (SELECT 1) TO '" + (dir / "view.csv").string() + "'",
        std::string("SET GLOBAL memory_limit = '6GB'"), std::string("SET threads = 300"),
        std::string("SET temp_directory = '/tmp/elsewhere'"),
        std::string("SET max_temp_directory_size = '1TB'"),
        std::string("SET enable_external_access = true"),
        std::string("SET lock_configuration = false"),
        std::string("SET allowed_directories = ['/']")}) {
    const auto st = conn->Execute(sql);
    EXPECT_FALSE(st.ok()) << sql;
    if (sql.find("SET") != 0) {
      EXPECT_TRUE(HasErrorKind(st, ErrorKind::kPermissionDenied)) << st.ToString();
    }
  }
  EXPECT_TRUE(conn->Execute("CREATE TABLE kept AS SELECT 1 AS a").ok());
  EXPECT_TRUE(db->Checkpoint().ok());
  conn.reset();
  db.reset();
  std::filesystem::remove_all(dir);
}

void WriteParquet(const std::filesystem::path& path, int64_t first, int64_t n) {
  arrow::Int64Builder values;
  for (int64_t i = first; i < first + n; ++i) ASSERT_TRUE(values.Append(i).ok());
  auto table = arrow::Table::Make(arrow::schema({arrow::field("x", arrow::int64())}),
                                  {values.Finish().ValueOrDie()});
  auto out = arrow::io::FileOutputStream::Open(path.string()).ValueOrDie();
  ASSERT_TRUE(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), out).ok());
  ASSERT_TRUE(out->Close().ok());
}

// A `views:` glob once let SQL read anything under its folder (DuckDB allowed the whole
// directory): a sub-folder's Parquet, a CSV beside the matched files. Now exactly the
// files the glob matches are readable, also those added later (the view reads them).
TEST(SqlSandboxTest, ViewGlobsReadTheFilesTheyMatchAndNothingBeside) {
  const auto dir = std::filesystem::temp_directory_path() / "arrowport_view_glob_test";
  std::filesystem::remove_all(dir);
  const auto parts = dir / "parts";
  std::filesystem::create_directories(parts / "sub");
  WriteParquet(parts / "p1.parquet", 0, 10);
  WriteParquet(parts / "p2.parquet", 10, 5);
  WriteParquet(parts / "q1.parquet", 100, 1);
  WriteParquet(parts / "sub" / "p9.parquet", 900, 1);
  { std::ofstream(parts / "secret.csv") << "s\nhidden\n"; }
  DatabaseOptions options;
  options.path = ":memory:";
  options.file_views = {{"dataset", (parts / "p*.parquet").string()}};
  auto db = Database::Open(options).ValueOrDie();
  auto conn = db->Connect().ValueOrDie();
  auto count = [&](const std::string& sql) -> int64_t {
    auto table = conn->QueryTable(sql);
    EXPECT_TRUE(table.ok()) << sql << ": " << table.status().ToString();
    if (!table.ok()) return -1;
    return std::static_pointer_cast<arrow::Int64Scalar>(
               (*table)->column(0)->GetScalar(0).ValueOrDie())->value;
  };
  EXPECT_EQ(count("SELECT count(*) FROM dataset"), 15);
  const std::string p = parts.string();
  const std::vector<std::string> refused = {
      "SELECT * FROM '" + p + "/sub/p9.parquet'",
      "SELECT * FROM '" + p + "/secret.csv'",
      "SELECT * FROM '" + p + "/q1.parquet'",
      "SELECT * FROM '" + p + "/*/*.parquet'",
      "SELECT * FROM '" + p + "/sub/../q1.parquet'",
      "DESCRIBE '" + p + "/secret.csv'",
      "SELECT * FROM 'arrowport-view://" + p + "/secret.csv'",
      "SELECT * FROM 'arrowport-view://" + p + "/sub/p9.parquet'",
      "SELECT * FROM 'arrowport-view://" + p + "/../parts/q1.parquet'",
      "SELECT * FROM 'arrowport-view://" + p + "/sub/*.parquet'",
      "CREATE TABLE stolen AS SELECT * FROM '" + p + "/secret.csv'",
      "COPY dataset_copy FROM '" + p + "/secret.csv'"};
  ASSERT_TRUE(conn->Execute("CREATE TABLE dataset_copy (s VARCHAR)").ok());
  Principal admin;
  admin.user = "ada";
  admin.role = Role::kAdmin;
  for (const auto& sql : refused) {
    // The server's own SQL (DuckDB's sandbox alone) and an admin's (the SQL sandbox too).
    auto own = conn->QueryTable(sql);
    EXPECT_FALSE(own.ok()) << sql << " read " << (*own)->ToString();
    QueryOptions as_admin;
    as_admin.principal = std::make_shared<Principal>(admin);
    auto reader = Connection::Query(db->Connect().ValueOrDie(), sql, as_admin);
    auto st = reader.ok() ? (*reader)->ToTable().status() : reader.status();
    EXPECT_TRUE(HasErrorKind(st, ErrorKind::kPermissionDenied))
        << sql << ": " << st.ToString();
  }
  EXPECT_EQ(count("SELECT count(*) FROM dataset_copy"), 0);
  // A file the glob matches, added while the server runs: the view reads it.
  WriteParquet(parts / "p3.parquet", 20, 2);
  EXPECT_EQ(count("SELECT count(*) FROM dataset"), 17);
  conn.reset();
  db.reset();
  std::filesystem::remove_all(dir);
}

// A SELECT * of one base table runs without a first bind (its verdict is known): only
// that shape, its table looked up as a table. A view may write (a sequence), and anything
// with a function, a filter, a parameter or another table is bound first as before.
TEST(StatementGuardShapeTest, OnlyASelectStarOfOneTableSkipsTheFirstBind) {
  DatabaseHandle database;
  ASSERT_EQ(duckdb_open(nullptr, database.out()), DuckDBSuccess);
  ConnectionHandle connection;
  ASSERT_EQ(duckdb_connect(database.get(), connection.out()), DuckDBSuccess);
  duckdb_connection raw = connection.get();
  for (const char* setup :
       {"CREATE TABLE t (id INTEGER, name VARCHAR)", "CREATE TABLE other (x INTEGER)",
        "CREATE VIEW v_t AS SELECT id FROM t", "CREATE SEQUENCE seq",
        "CREATE VIEW counter AS SELECT nextval('seq') AS n"}) {
    ResultHandle result;
    ASSERT_EQ(duckdb_query(raw, setup, result.out()), DuckDBSuccess) << setup;
  }
  for (const char* sql : {"SELECT * FROM t", "select * from T limit 5 offset 1;",
                          "SELECT * FROM main.t", "SELECT * FROM t LIMIT 0"}) {
    EXPECT_TRUE(StatementGuard::ReadsOneTableWhole(raw, sql).ValueOrDie()) << sql;
  }
  for (const char* sql :
       {"SELECT * FROM counter", "SELECT * FROM v_t", "SELECT * FROM missing",
        "SELECT id FROM t", "SELECT * FROM t WHERE id = 1", "SELECT * FROM t LIMIT -1",
        "SELECT * FROM t LIMIT $1", "SELECT * EXCLUDE (id) FROM t", "SELECT t.* FROM t",
        "SELECT * FROM t ORDER BY id", "WITH c AS (SELECT 1) SELECT * FROM t",
        "SELECT * FROM t, other", "SELECT * FROM t LIMIT (SELECT nextval('seq'))",
        "SELECT * FROM t USING SAMPLE 1", "SELECT * FROM range(3)", "SELECT DISTINCT * FROM t",
        "SELECT * FROM t UNION ALL SELECT * FROM t", "SELECT * FROM t AS a(x, y)"}) {
    EXPECT_FALSE(StatementGuard::ReadsOneTableWhole(raw, sql).ValueOrDie()) << sql;
  }
}

}  // namespace statement_guard_test
}  // namespace arrowport::storage
