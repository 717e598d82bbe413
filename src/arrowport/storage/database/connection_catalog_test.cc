#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "arrow/scalar.h"
#include "arrow/table.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::storage {

namespace connection_catalog_test {

std::unique_ptr<Database> OpenInMemory() {
  DatabaseOptions options;
  options.path = ":memory:";
  return Database::Open(options).ValueOrDie();
}

// DuckDB's own answer: DESCRIBE's name, type and "null" columns, row by row.
std::vector<std::string> Described(Connection* conn, const std::string& relation) {
  auto table = conn->QueryTable("DESCRIBE " + relation).ValueOrDie();
  auto flat = table->CombineChunksToBatch().ValueOrDie();
  std::vector<std::string> rows;
  for (int64_t i = 0; i < flat->num_rows(); ++i) {
    std::string row;
    for (const char* column : {"column_name", "column_type", "null"}) {
      row += flat->GetColumnByName(column)->GetScalar(i).ValueOrDie()->ToString() + "|";
    }
    rows.push_back(row);
  }
  return rows;
}

std::vector<std::string> FromCatalog(Connection* conn, const TableName& name) {
  auto columns = conn->DescribeRelation(name).ValueOrDie();
  EXPECT_TRUE(columns.has_value());
  std::vector<std::string> rows;
  for (const auto& column : columns.value_or(std::vector<ColumnInfo>{})) {
    rows.push_back(column.name + "|" + column.type.sql + "|" +
                   (column.nullable ? "YES" : "NO") + "|");
  }
  return rows;
}

// A table's columns are read from DuckDB's catalog, not by running DESCRIBE: they must
// be what DESCRIBE says, for every kind of column and constraint.
TEST(ConnectionCatalog, TableColumnsFromTheCatalogAreWhatDescribeSays) {
  auto db = OpenInMemory();
  auto conn = db->Connect().ValueOrDie();
  const std::vector<std::string> definitions = {
      "a INTEGER NOT NULL, b DECIMAL(18,3), c TIMESTAMPTZ, d VARCHAR[]",
      "id BIGINT PRIMARY KEY, v DOUBLE",
      "x INTEGER, y VARCHAR, PRIMARY KEY (y, x)",
      "\"Mixed Case\" INTEGER UNIQUE, s STRUCT(a INTEGER, \"b c\" VARCHAR[]), "
      "m MAP(VARCHAR, BIGINT), e ENUM('p', 'q'), f FLOAT[3]",
      "k INTEGER DEFAULT 7 NOT NULL, g INTEGER GENERATED ALWAYS AS (k * 2), "
      "t TIME, u UUID, h HUGEINT, bl BLOB, iv INTERVAL, ts TIMESTAMP_NS, dt DATE",
      "n INTEGER CHECK (n > 0), z UTINYINT NOT NULL, w USMALLINT, "
      "u32 UINTEGER, u64 UBIGINT, bits BIT, un UNION(i INTEGER, s VARCHAR)",
  };
  for (size_t i = 0; i < definitions.size(); ++i) {
    const std::string table = "t" + std::to_string(i);
    ASSERT_TRUE(conn->Execute("CREATE TABLE " + table + " (" + definitions[i] + ")").ok())
        << definitions[i];
    EXPECT_EQ(FromCatalog(conn.get(), table), Described(conn.get(), table)) << definitions[i];
  }
  // Columns added and dropped later, and a NOT NULL set later.
  ASSERT_TRUE(conn->Execute("ALTER TABLE t0 ADD COLUMN later VARCHAR").ok());
  ASSERT_TRUE(conn->Execute("ALTER TABLE t0 DROP COLUMN b").ok());
  ASSERT_TRUE(conn->Execute("ALTER TABLE t0 ALTER COLUMN c SET NOT NULL").ok());
  EXPECT_EQ(FromCatalog(conn.get(), "t0"), Described(conn.get(), "t0"));
  // Another schema, and a temporary table.
  ASSERT_TRUE(conn->Execute("CREATE SCHEMA s2").ok());
  ASSERT_TRUE(conn->Execute("CREATE TABLE s2.t (q INTEGER NOT NULL)").ok());
  EXPECT_EQ(FromCatalog(conn.get(), TableName("s2", "t")), Described(conn.get(), "s2.t"));
  ASSERT_TRUE(conn->Execute("CREATE TEMP TABLE tmp (r VARCHAR NOT NULL)").ok());
  EXPECT_EQ(FromCatalog(conn.get(), TableName("main", "tmp", /*is_temporary=*/true)),
            Described(conn.get(), "temp.main.tmp"));
}

TEST(ConnectionCatalog, TablesAndViewsExistMissingOnesDoNot) {
  auto db = OpenInMemory();
  auto conn = db->Connect().ValueOrDie();
  ASSERT_TRUE(conn->Execute("CREATE TABLE t (a INTEGER)").ok());
  ASSERT_TRUE(conn->Execute("CREATE VIEW v AS SELECT a + 1 AS b FROM t").ok());
  EXPECT_TRUE(conn->RelationExists("t").ValueOrDie());
  EXPECT_TRUE(conn->RelationExists("T").ValueOrDie());  // names ignore case, as in SQL
  EXPECT_TRUE(conn->RelationExists("v").ValueOrDie());
  EXPECT_FALSE(conn->RelationExists("missing").ValueOrDie());
  EXPECT_FALSE(conn->RelationExists(TableName("nosuchschema", "t")).ValueOrDie());
  auto view = conn->DescribeRelation("v").ValueOrDie();
  ASSERT_TRUE(view.has_value());
  ASSERT_EQ(view->size(), 1u);
  EXPECT_EQ((*view)[0].name, "b");
  EXPECT_EQ((*view)[0].type.sql, "INTEGER");
}

// Inside a client's transaction the catalog is read in that transaction: a table it
// created is seen, one it dropped is not, and a lookup of a missing one leaves the
// transaction usable (an error there would have aborted it).
TEST(ConnectionCatalog, ReadsTheOpenTransactionsCatalogAndLeavesItUsable) {
  auto db = OpenInMemory();
  auto conn = db->Connect().ValueOrDie();
  auto other = db->Connect().ValueOrDie();
  ASSERT_TRUE(conn->Execute("CREATE TABLE gone (a INTEGER)").ok());
  ASSERT_TRUE(conn->Execute("BEGIN TRANSACTION").ok());
  ASSERT_TRUE(conn->Execute("CREATE TABLE fresh (a INTEGER NOT NULL)").ok());
  ASSERT_TRUE(conn->Execute("DROP TABLE gone").ok());
  EXPECT_TRUE(conn->RelationExists("fresh").ValueOrDie());
  EXPECT_FALSE(conn->RelationExists("gone").ValueOrDie());
  EXPECT_FALSE(conn->DescribeRelation("missing").ValueOrDie().has_value());
  auto fresh = conn->DescribeRelation("fresh").ValueOrDie();
  ASSERT_TRUE(fresh.has_value());
  EXPECT_FALSE((*fresh)[0].nullable);
  // Another connection does not see the uncommitted table, and still sees the dropped one.
  EXPECT_FALSE(other->RelationExists("fresh").ValueOrDie());
  EXPECT_TRUE(other->RelationExists("gone").ValueOrDie());
  ASSERT_TRUE(conn->Execute("INSERT INTO fresh VALUES (1)").ok());
  ASSERT_TRUE(conn->Execute("COMMIT").ok());
  EXPECT_TRUE(other->RelationExists("fresh").ValueOrDie());
  EXPECT_FALSE(other->RelationExists("gone").ValueOrDie());
}

// DuckDB's names ignore case: "events" is the view "Events" (a lake stream's). The view
// check compared the name exactly, found nothing, and the caller's CREATE TABLE then
// failed inside its transaction.
TEST(ConnectionCatalog, AViewIsFoundUnderAnyCaseOfItsName) {
  auto db = OpenInMemory();
  auto conn = db->Connect().ValueOrDie();
  ASSERT_TRUE(conn->Execute("CREATE VIEW \"Events\" AS SELECT 1 AS x, 'a' AS day").ok());
  for (const char* name : {"Events", "events", "EVENTS"}) {
    auto columns = conn->DescribeRelation(TableName("main", name)).ValueOrDie();
    ASSERT_TRUE(columns.has_value()) << name;
    ASSERT_EQ(columns->size(), 2u) << name;
    EXPECT_EQ((*columns)[0].name, "x");
    EXPECT_TRUE(conn->IsView(TableName("main", name)).ValueOrDie()) << name;
  }
  ASSERT_TRUE(conn->Execute("CREATE TABLE plain (x INTEGER)").ok());
  EXPECT_FALSE(conn->IsView(TableName("main", "PLAIN")).ValueOrDie());
  EXPECT_FALSE(conn->IsView(TableName("main", "missing")).ValueOrDie());
}

// A whole-table read is split only when DuckDB's estimate of the table's rows is large:
// the estimate comes from the catalog, and is the figure duckdb_tables() shows (the
// catalog query that read it cost a small prepared query most of its CPU).
TEST(ConnectionCatalog, EstimatedRowsIsDuckDBsEstimateOfABaseTable) {
  auto db = OpenInMemory();
  auto conn = db->Connect().ValueOrDie();
  ASSERT_TRUE(conn->Execute("CREATE TABLE t AS SELECT range AS a FROM range(2500)").ok());
  ASSERT_TRUE(conn->Execute("CREATE VIEW v AS SELECT a FROM t").ok());
  auto listed = conn->QueryTable("SELECT estimated_size::BIGINT FROM duckdb_tables() "
                                 "WHERE table_name = 't'").ValueOrDie();
  auto expected = std::static_pointer_cast<arrow::Int64Scalar>(
                      listed->column(0)->GetScalar(0).ValueOrDie())->value;
  EXPECT_EQ(expected, 2500);
  EXPECT_EQ(conn->EstimatedRows("t").ValueOrDie(), std::optional<int64_t>(expected));
  EXPECT_EQ(conn->EstimatedRows("T").ValueOrDie(), std::optional<int64_t>(expected));
  EXPECT_EQ(conn->EstimatedRows("v").ValueOrDie(), std::nullopt);
  EXPECT_EQ(conn->EstimatedRows("missing").ValueOrDie(), std::nullopt);
}

TEST(CatalogLeaseTest, KeepsOneConnectionThatSeesEveryCommitAndNoneLeftInATransaction) {
  auto db = OpenInMemory();
  Connection* kept = nullptr;
  {
    auto lease = db->LeaseCatalogConnection().ValueOrDie();
    kept = lease.get();
    EXPECT_FALSE(lease->EstimatedRows(TableName("t")).ValueOrDie().has_value());
  }
  // Another connection commits: the kept one, leased again, sees it.
  auto writer = db->Connect().ValueOrDie();
  ASSERT_TRUE(writer->Execute("CREATE TABLE t AS SELECT range AS x FROM range(5)").ok());
  {
    auto again = db->LeaseCatalogConnection().ValueOrDie();
    EXPECT_EQ(again.get(), kept);
    EXPECT_EQ(again->EstimatedRows(TableName("t")).ValueOrDie(), std::optional<int64_t>(5));
    // A second lease meanwhile gets a connection of its own; one of them is kept after.
    auto beside = db->LeaseCatalogConnection().ValueOrDie();
    EXPECT_NE(beside.get(), kept);
  }
  // One left in a transaction is closed, not kept.
  {
    auto lease = db->LeaseCatalogConnection().ValueOrDie();
    kept = lease.get();
    ASSERT_TRUE(lease->Execute("BEGIN").ok());
  }
  auto fresh = db->LeaseCatalogConnection().ValueOrDie();
  EXPECT_FALSE(fresh->in_transaction());
  ASSERT_TRUE(writer->Execute("INSERT INTO t VALUES (5)").ok());
  EXPECT_EQ(fresh->EstimatedRows(TableName("t")).ValueOrDie(), std::optional<int64_t>(6));
}

}  // namespace connection_catalog_test

}  // namespace arrowport::storage
