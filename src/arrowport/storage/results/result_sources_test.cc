#include "arrowport/storage/results/result_sources.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <set>
#include <thread>

#include "arrow/api.h"
#include "arrow/util/byte_size.h"
#include "arrowport/common/memory_budget.h"
#include "arrowport/common/principal.h"
#include "arrowport/common/sized_batches.h"
#include "arrowport/storage/database/database.h"
#include "arrowport/storage/results/result_batch_reader.h"

namespace arrowport::storage {

namespace result_sources_test {

class ResultSourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    options.path = ":memory:";
    options.threads = 4;  // more workers than this machine may have cores: order must hold
    auto db = Database::Open(options);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
  }

  std::vector<std::shared_ptr<arrow::RecordBatch>> ReadAll(const std::string& sql) {
    QueryOptions options;
    auto reader = Connection::Query(db_->Connect().ValueOrDie(), sql, options);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
    if (!reader.ok()) return batches;
    for (;;) {
      auto batch = (*reader)->Next();
      EXPECT_TRUE(batch.ok()) << batch.status().ToString();
      if (!batch.ok() || *batch == nullptr) break;
      batches.push_back(*batch);
    }
    return batches;
  }

  std::unique_ptr<Database> db_;
};

TEST_F(ResultSourcesTest, ParallelConversionKeepsTheOrderAskedFor) {
  ASSERT_TRUE(db_->direct_append_enabled());  // else the chunk source would run
  const auto batches = ReadAll(
      "SELECT (i * 7919) % 1000003 AS k FROM range(2000000) t(i) ORDER BY k DESC");
  int64_t rows = 0;
  int64_t previous = INT64_MAX;
  for (const auto& batch : batches) {
    auto keys = std::static_pointer_cast<arrow::Int64Array>(batch->column(0));
    for (int64_t i = 0; i < keys->length(); ++i) {
      ASSERT_LE(keys->Value(i), previous) << "row " << rows + i;
      previous = keys->Value(i);
    }
    rows += batch->num_rows();
  }
  EXPECT_EQ(rows, 2000000);
  // DuckDB's 122,880-row units, not its 2,048-row chunks.
  EXPECT_LE(batches.size(), 2000000 / 122880 + 2);
}

// Wide rows: DuckDB's workers must end their Arrow units at a size, not only at 122,880
// rows (one 1.2 GB array per worker). A unit's pieces share its buffers; units do not.
void ExpectUnitsEndAtASize(const std::vector<std::shared_ptr<arrow::RecordBatch>>& batches,
                           int64_t expected_rows, int column) {
  int64_t rows = 0;
  std::set<const uint8_t*> units;
  for (const auto& batch : batches) {
    EXPECT_LE(arrow::util::ReferencedBufferSize(*batch).ValueOrDie(), int64_t{10} << 20);
    auto ids = std::static_pointer_cast<arrow::Int64Array>(batch->column(0));
    for (int64_t i = 0; i < ids->length(); ++i) ASSERT_EQ(ids->Value(i), rows + i);
    rows += batch->num_rows();
    const auto& data = batch->column(column)->data();
    units.insert(data->buffers.back() ? data->buffers.back()->data()
                                      : data->child_data[0]->buffers.back()->data());
  }
  EXPECT_EQ(rows, expected_rows);
  // 2,048-row chunks of about 20 MB each: each its own unit.
  EXPECT_GE(units.size(), static_cast<size_t>(expected_rows / 2048 - 1));
}

// A row range of a multi-endpoint read runs in a transaction of the server's own (to check
// its table in the snapshot it reads); it was taken for a client's transaction, and every
// endpoint was converted chunk by chunk on one thread (half the speed of a whole read).
TEST_F(ResultSourcesTest, TheServersOwnReadTransactionStillConvertsInParallel) {
  ASSERT_TRUE(db_->direct_append_enabled());  // else no result converts in parallel
  const std::string sql = "SELECT i FROM range(100000) t(i)";
  auto read_in_transaction = [&](bool snapshot) {
    auto conn = db_->Connect().ValueOrDie();
    EXPECT_TRUE((snapshot ? conn->BeginReadSnapshot() : conn->Execute("BEGIN TRANSACTION")).ok());
    auto reader = Connection::Query(std::move(conn), sql, QueryOptions{}).ValueOrDie();
    const bool parallel = ConvertedByDuckDBWorkers(*reader);
    EXPECT_EQ(reader->ToTable().ValueOrDie()->num_rows(), 100000);
    return parallel;
  };
  EXPECT_TRUE(read_in_transaction(/*snapshot=*/true));
  // A client's transaction keeps the chunk path (a closed result stops between chunks).
  EXPECT_FALSE(read_in_transaction(/*snapshot=*/false));
  auto outside = Connection::Query(db_->Connect().ValueOrDie(), sql, QueryOptions{});
  EXPECT_TRUE(ConvertedByDuckDBWorkers(**outside));
}

// Conversion by DuckDB's workers reserves room for them (2 units of 8 MiB per thread). A
// few queries opened at once took the whole budget that way and left their streams no
// room for a single batch: a client reading its endpoints one by one got "busy". Half the
// budget now stays for the batches in flight.
TEST_F(ResultSourcesTest, ParallelConversionsLeaveHalfTheBudgetForBatches) {
  ASSERT_TRUE(db_->direct_append_enabled());
  const std::string sql = "SELECT i FROM range(3000000) t(i)";
  auto open = [](std::shared_ptr<MemoryBudget> budget) {
    DatabaseOptions options;
    options.path = ":memory:";
    options.threads = 4;
    options.request_memory = std::move(budget);
    return Database::Open(options).ValueOrDie();
  };
  // What one query converted in parallel reserves (per DuckDB thread); then a budget of
  // exactly three such.
  int64_t one = 0;
  {
    auto budget = MemoryBudget::Make(int64_t{1} << 40);
    auto db = open(budget);
    auto reader = Connection::Query(db->Connect().ValueOrDie(), sql, {}).ValueOrDie();
    ASSERT_TRUE(ConvertedByDuckDBWorkers(*reader));
    one = budget->used();
  }
  ASSERT_GT(one, 0);
  auto budget = MemoryBudget::Make(3 * one, std::chrono::milliseconds(200));
  auto db = open(budget);
  std::vector<std::shared_ptr<arrow::RecordBatchReader>> readers;
  int parallel = 0;
  for (int i = 0; i < 3; ++i) {
    auto reader = Connection::Query(db->Connect().ValueOrDie(), sql, {});
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    parallel += ConvertedByDuckDBWorkers(**reader) ? 1 : 0;
    readers.push_back(std::move(*reader));
  }
  EXPECT_EQ(parallel, 1);
  EXPECT_LE(budget->used(), budget->capacity() / 2);
  // Each read to its end in turn, the others open.
  for (auto& reader : readers) {
    auto table = reader->ToTable();
    ASSERT_TRUE(table.ok()) << table.status().ToString();
    EXPECT_EQ((*table)->num_rows(), 3000000);
  }
}

// A client's SELECT run once without parameters is bound to be judged, then planned only
// as it runs (DuckDB 2.0 planned a prepared one again at execution: twice in all). It
// must read as a prepared one did: in its order, converted by DuckDB's workers, with the
// same errors; what needs the prepared statement's facts still gets them.
TEST_F(ResultSourcesTest, AClientsSelectPlannedAsItRunsReadsAsAPreparedOneDid) {
  ASSERT_TRUE(db_->direct_append_enabled());
  auto setup = db_->Connect().ValueOrDie();
  ASSERT_TRUE(setup->Execute("CREATE TABLE t AS SELECT i, 'v' || i AS s FROM range(300000) "
                             "t(i)").ok());
  ASSERT_TRUE(setup->Execute("CREATE SEQUENCE seq").ok());
  auto reader_principal = std::make_shared<Principal>();
  reader_principal->user = "ana";
  reader_principal->role = Role::kReader;
  auto admin = std::make_shared<Principal>();
  admin->user = "root";
  admin->role = Role::kAdmin;
  auto run = [&](const std::string& sql, std::shared_ptr<const Principal> principal,
                 std::vector<std::string> parameters = {}) {
    QueryOptions options;
    options.principal = std::move(principal);
    options.parameters = std::move(parameters);
    return Connection::Query(db_->Connect().ValueOrDie(), sql, options);
  };
  auto ordered = run("SELECT i, s FROM t ORDER BY i DESC", reader_principal);
  ASSERT_TRUE(ordered.ok()) << ordered.status().ToString();
  EXPECT_TRUE(ConvertedByDuckDBWorkers(**ordered));
  auto table = (*ordered)->ToTable().ValueOrDie()->CombineChunksToBatch().ValueOrDie();
  ASSERT_EQ(table->num_rows(), 300000);
  auto keys = std::static_pointer_cast<arrow::Int64Array>(table->column(0));
  for (int64_t i = 0; i < keys->length(); ++i) ASSERT_EQ(keys->Value(i), 299999 - i);
  EXPECT_EQ(table->schema()->field(1)->name(), "s");
  // DuckDB's errors, named as before: a missing table, a bad column, a bad cast at run.
  EXPECT_TRUE(run("SELECT * FROM missing", reader_principal).status().IsKeyError());
  auto unbound = run("SELECT nope FROM t", reader_principal).status();
  EXPECT_TRUE(unbound.IsInvalid());
  // Where in the text, as DuckDB's prepare says it (a hostile run saw it go missing).
  EXPECT_NE(unbound.message().find("LINE 1: SELECT nope FROM t"), std::string::npos)
      << unbound.ToString();
  auto cast = run("SELECT s::INTEGER FROM t", reader_principal);
  if (cast.ok()) {
    EXPECT_TRUE((*cast)->ToTable().status().IsInvalid());
  } else {
    EXPECT_TRUE(cast.status().IsInvalid()) << cast.status().ToString();
  }
  // The sandbox still judges it: the server's own state is out of reach.
  EXPECT_FALSE(run("SELECT * FROM duckdb_settings()", reader_principal).ok());
  // With parameters it is prepared and bound as before.
  auto bound = run("SELECT count(*) AS n FROM t WHERE i < $1::BIGINT", reader_principal, {"10"});
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  auto n = (*bound)->ToTable().ValueOrDie()->column(0)->GetScalar(0).ValueOrDie();
  EXPECT_EQ(n->ToString(), "10");
  // A SELECT that changes data (a sequence) is prepared: its facts say so.
  auto next = run("SELECT nextval('seq') AS v", admin);
  if (next.ok()) {
    EXPECT_EQ((*next)->ToTable().ValueOrDie()->column(0)->GetScalar(0).ValueOrDie()->ToString(),
              "1");
  }
}

// A SELECT * of one base table (a table ticket's SQL) is known to change nothing without
// binding it first; anything else that looks like one is still bound: a view (which may
// write: a sequence), a missing table (DuckDB's error), a LIMIT that is no plain number.
TEST_F(ResultSourcesTest, AWholeTableIsReadWithoutAFirstBindAndAViewIsBound) {
  auto setup = db_->Connect().ValueOrDie();
  ASSERT_TRUE(setup->Execute("CREATE TABLE t AS SELECT range AS i FROM range(5000)").ok());
  ASSERT_TRUE(setup->Execute("CREATE SEQUENCE seq").ok());
  ASSERT_TRUE(setup->Execute("CREATE VIEW counter AS SELECT nextval('seq') AS n").ok());
  auto admin = std::make_shared<Principal>();
  admin->user = "root";
  admin->role = Role::kAdmin;
  auto rows = [&](const std::string& sql) -> arrow::Result<std::shared_ptr<arrow::Table>> {
    QueryOptions options;
    options.principal = admin;
    ARROW_ASSIGN_OR_RAISE(auto reader, Connection::Query(db_->Connect().ValueOrDie(), sql, options));
    return reader->ToTable();
  };
  EXPECT_EQ(rows("SELECT * FROM t").ValueOrDie()->num_rows(), 5000);
  EXPECT_EQ(rows("select * from \"T\" limit 10 offset 4990;").ValueOrDie()->num_rows(), 10);
  EXPECT_TRUE(rows("SELECT * FROM missing").status().IsKeyError());
  EXPECT_TRUE(rows("SELECT * FROM t LIMIT -1").status().IsInvalid());
  // The view's sequence moves on each read, as a statement that writes outside the
  // read-only snapshot does.
  for (const char* expected : {"1", "2"}) {
    auto counted = rows("SELECT * FROM counter").ValueOrDie();
    EXPECT_EQ(counted->column(0)->GetScalar(0).ValueOrDie()->ToString(), expected);
  }
}

TEST_F(ResultSourcesTest, WideStringsEndUnitsAtASize) {
  ExpectUnitsEndAtASize(ReadAll("SELECT i, repeat('x', 10000) AS s FROM range(30000) t(i)"),
                        30000, 1);
}

TEST_F(ResultSourcesTest, WideListsEndUnitsAtASize) {
  // 100 strings of 100 bytes a row, in a list: 10 KB rows that a row estimate misses.
  ExpectUnitsEndAtASize(ReadAll("SELECT i, list_transform(range(100), lambda x: repeat('y', 100)) "
                                "AS l FROM range(30000) t(i)"),
                        30000, 1);
}

// 12 rows of 5 MB are one DuckDB chunk. Where chunks are converted one by one (a client's
// transaction, INSERT ... RETURNING) that chunk was one 60 MB batch, over ADBC's 16 MiB
// message limit (hostile run). Every path now sends it in slices, views of the one chunk
// (none glued, which would copy it), and the write still commits after its last row.
TEST_F(ResultSourcesTest, MultiMegabyteValuesComeInSlicesOfTheirChunk) {
  const std::string rows =
      "SELECT i, repeat(chr(65 + i::INT), 5000000) AS s FROM range(12) t(i)";
  auto conn = db_->Connect().ValueOrDie();
  ASSERT_TRUE(conn->Execute("CREATE TABLE wide (i BIGINT, s VARCHAR)").ok());
  for (const std::string& sql : {rows, "INSERT INTO wide " + rows + " RETURNING i, s"}) {
    SCOPED_TRACE(sql);
    int64_t next_id = 0;
    std::set<const uint8_t*> value_buffers;
    for (const auto& batch : ReadAll(sql)) {
      EXPECT_LE(arrow::util::ReferencedBufferSize(*batch).ValueOrDie(), int64_t{8} << 20);
      auto ids = std::static_pointer_cast<arrow::Int64Array>(batch->column(0));
      auto values = std::static_pointer_cast<arrow::StringArray>(batch->column(1));
      value_buffers.insert(values->value_data()->data());
      for (int64_t i = 0; i < batch->num_rows(); ++i, ++next_id) {
        ASSERT_EQ(ids->Value(i), next_id);
        const std::string_view value = values->GetView(i);
        ASSERT_EQ(value.size(), 5000000u);
        ASSERT_EQ(value.front(), static_cast<char>('A' + next_id));
        ASSERT_EQ(value.back(), static_cast<char>('A' + next_id));
      }
    }
    EXPECT_EQ(next_id, 12);
    EXPECT_EQ(value_buffers.size(), 1u) << "slices of the one chunk were copied";
  }
  auto count = ReadAll("SELECT count(*) AS n FROM wide");
  ASSERT_EQ(count.size(), 1u);
  EXPECT_EQ(count[0]->column(0)->GetScalar(0).ValueOrDie()->ToString(), "12");
}

// Slices are cut by the bytes they cover, not by an average row: four 5 MB values among
// 2,000 short rows were one 20 MB slice.
TEST_F(ResultSourcesTest, UnevenValuesAreSlicedByTheirBytes) {
  int64_t rows = 0;
  for (const auto& batch : ReadAll("SELECT i, CASE WHEN i < 4 THEN repeat('x', 5000000) "
                                   "ELSE 'short' END AS s FROM range(2000) t(i)")) {
    EXPECT_LE(arrow::util::ReferencedBufferSize(*batch).ValueOrDie(), int64_t{8} << 20);
    rows += batch->num_rows();
  }
  EXPECT_EQ(rows, 2000);
}

// The reader hands on what each batch references (the metering reader counts it instead
// of measuring the batch again): Arrow's own figure, for whole, glued and sliced batches.
TEST_F(ResultSourcesTest, TheReaderSaysWhatEachBatchReferences) {
  for (const std::string sql :
       {"SELECT range AS i, 'name_' || range AS s FROM range(1000)",
        "SELECT i, CASE WHEN i < 4 THEN repeat('x', 5000000) ELSE 'short' END AS s "
        "FROM range(2000) t(i)"}) {
    SCOPED_TRACE(sql);
    auto reader = Connection::Query(db_->Connect().ValueOrDie(), sql, QueryOptions{});
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    const auto* sized = dynamic_cast<const SizedBatches*>(reader->get());
    ASSERT_NE(sized, nullptr);
    int known = 0;
    for (;;) {
      auto batch = (*reader)->Next().ValueOrDie();
      if (batch == nullptr) break;
      if (sized->last_batch_bytes() < 0) continue;
      ++known;
      // What it references, up to its buffers' whole size (a new piece is sized by them;
      // a slice of a wide one by what it references).
      EXPECT_GE(sized->last_batch_bytes(),
                arrow::util::ReferencedBufferSize(*batch).ValueOrDie());
      EXPECT_LE(sized->last_batch_bytes(), arrow::util::TotalBufferSize(*batch));
    }
    EXPECT_GT(known, 0);
  }
}

// A full unit of empty lists, then lists of 18,000-element arrays: a list's appender hands
// its row capacity to its child, so a unit sized for 122,880 narrow rows asked for 32 GiB
// (hostile run). Nested columns grow as rows come.
TEST_F(ResultSourcesTest, ListsOfLargeArraysAfterEmptyOnesAreRead) {
  const auto batches = ReadAll(
      "SELECT i, CASE WHEN i < 250000 THEN []::BIGINT[18000][] "
      "ELSE [range(18000)::BIGINT[18000]] END AS l FROM range(250050) t(i)");
  int64_t rows = 0;
  for (const auto& batch : batches) rows += batch->num_rows();
  EXPECT_EQ(rows, 250050);
}

TEST_F(ResultSourcesTest, NullStringsAreRead) {
  const auto batches = ReadAll(
      "SELECT i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'v' || i END AS s FROM range(300000) t(i)");
  int64_t nulls = 0;
  for (const auto& batch : batches) nulls += batch->column(1)->null_count();
  EXPECT_EQ(nulls, 100000);
}

TEST_F(ResultSourcesTest, AnErrorMidwayIsReportedAsDuckDBsError) {
  QueryOptions options;
  auto reader = Connection::Query(
      db_->Connect().ValueOrDie(),
      "SELECT i, CASE WHEN i < 500000 THEN i ELSE error('boom') END AS v FROM range(1000000) t(i)",
      options);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  arrow::Status failed;
  for (;;) {
    auto batch = (*reader)->Next();
    if (!batch.ok()) {
      failed = batch.status();
      break;
    }
    if (*batch == nullptr) break;
  }
  EXPECT_TRUE(failed.IsInvalid()) << failed.ToString();
  EXPECT_NE(failed.message().find("boom"), std::string::npos) << failed.ToString();
}

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// A reader whose next unit a DuckDB worker is still making waits for it. DuckDB's Fetch()
// polled the scheduler in a loop instead, under its locks: a core spent per read for
// nothing (a third of a two-thread server read's CPU, on the core its sender needed).
// One slow task (range() is read by one thread): the reader has nothing to run itself.
TEST(ResultSourcesWaitTest, AReaderWaitingOnDuckDBsWorkerDoesNotPoll) {
  // On one core a polling reader cannot take more than it.
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs two cores";
  DatabaseOptions options;
  options.path = ":memory:";
  options.threads = 2;
  auto db = Database::Open(options).ValueOrDie();
  ASSERT_TRUE(db->direct_append_enabled());
  const std::string sql =
      "SELECT i, md5(md5(md5(md5(i::VARCHAR)))) AS h FROM range(400000) t(i)";
  const double cpu_before = ProcessCpuSeconds();
  const auto wall_before = std::chrono::steady_clock::now();
  auto reader = Connection::Query(db->Connect().ValueOrDie(), sql, QueryOptions{}).ValueOrDie();
  ASSERT_TRUE(ConvertedByDuckDBWorkers(*reader));
  EXPECT_EQ(reader->ToTable().ValueOrDie()->num_rows(), 400000);
  const double cpu = ProcessCpuSeconds() - cpu_before;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
  ASSERT_GT(wall, 0.05) << "too short a read to tell";
  // One core works: 1.00 here; a polling reader took 1.43 (a busy machine lowers both).
  EXPECT_LT(cpu / wall, 1.2) << "cpu " << cpu << " s over " << wall << " s";
}

}  // namespace result_sources_test

}  // namespace arrowport::storage
