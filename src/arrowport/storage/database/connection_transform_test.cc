// A transform's statement over its input (QueryOptions::input): what it reads, what the
// SQL sandbox lets it do, and that results come as the input does.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "arrow/json/from_string.h"

#include "arrow/api.h"
#include "arrowport/common/status_detail.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::storage {
namespace connection_transform_test {

std::shared_ptr<arrow::RecordBatch> Batch(int64_t first, int64_t n) {
  arrow::Int64Builder ids;
  for (int64_t i = first; i < first + n; ++i) EXPECT_TRUE(ids.Append(i).ok());
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("v", arrow::int64())}), n,
                                  {ids.Finish().ValueOrDie()});
}

// Hands out batches only when the test releases them: an exchange client that waits.
class GatedReader : public arrow::RecordBatchReader {
 public:
  std::shared_ptr<arrow::Schema> schema() const override { return Batch(0, 1)->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return released_ > handed_ || finished_; });
    if (released_ > handed_) {
      *out = Batch(handed_ * 10, 10);
      ++handed_;
    } else {
      *out = nullptr;
    }
    return arrow::Status::OK();
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++released_;
    wake_.notify_all();
  }
  void Finish() {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
    wake_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  int released_ = 0;
  int handed_ = 0;
  bool finished_ = false;
};

std::shared_ptr<arrow::Array> Json(const std::shared_ptr<arrow::DataType>& type,
                                   const std::string& json) {
  return arrow::json::ArrayFromJSONString(type, json).ValueOrDie();
}

Principal Make(Role role, std::vector<std::string> tables = {}) {
  Principal p;
  p.user = "u";
  p.role = role;
  p.tables = std::move(tables);
  return p;
}

class TransformQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DatabaseOptions options;
    options.path = ":memory:";
    db_ = Database::Open(options).ValueOrDie();
    auto conn = db_->Connect().ValueOrDie();
    ASSERT_TRUE(conn->Execute("CREATE TABLE t (k BIGINT, name VARCHAR)").ok());
    ASSERT_TRUE(conn->Execute("INSERT INTO t VALUES (1, 'one'), (2, 'two')").ok());
    ASSERT_TRUE(conn->Execute("CREATE TABLE secret (x INT)").ok());
    ASSERT_TRUE(conn->Execute("CREATE TABLE input (not_the_stream INT)").ok());
  }

  arrow::Result<std::shared_ptr<arrow::RecordBatchReader>> Start(
      const std::string& sql, const Principal& who,
      std::shared_ptr<arrow::RecordBatchReader> input = nullptr, bool interactive = false) {
    QueryOptions options;
    options.interactive = interactive;
    options.principal = std::make_shared<Principal>(who);
    options.input = input ? input
                          : arrow::RecordBatchReader::Make({Batch(0, 5), Batch(5, 5)}).ValueOrDie();
    ARROW_ASSIGN_OR_RAISE(auto conn, db_->Connect());
    return Connection::Query(std::move(conn), sql, options);
  }

  arrow::Result<std::shared_ptr<arrow::Table>> Run(const std::string& sql, const Principal& who) {
    ARROW_ASSIGN_OR_RAISE(auto reader, Start(sql, who));
    return reader->ToTable();
  }

  static void ExpectDenied(const arrow::Status& st, const std::string& mentions) {
    EXPECT_TRUE(HasErrorKind(st, ErrorKind::kPermissionDenied)) << st.ToString();
    EXPECT_NE(st.message().find(mentions), std::string::npos) << st.ToString();
  }

  std::unique_ptr<Database> db_;
};

TEST_F(TransformQueryTest, ReadsTheStreamAsInputNotATableOfThatName) {
  auto table = Run("SELECT v, v * 2 AS doubled FROM input", Make(Role::kReader));
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ((*table)->num_rows(), 10);
  EXPECT_EQ((*table)->schema()->field(1)->name(), "doubled");
  auto sum = Run("SELECT sum(v) AS s FROM input", Make(Role::kReader)).ValueOrDie();
  EXPECT_EQ(sum->column(0)->GetScalar(0).ValueOrDie()->ToString(), "45");
}

TEST_F(TransformQueryTest, JoinsWhatTheCallerMayReadAndNothingElse) {
  auto joined = Run("SELECT v, name FROM input JOIN t ON t.k = input.v ORDER BY v",
                    Make(Role::kReader, {"t"}));
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
  EXPECT_EQ((*joined)->num_rows(), 2);
  ExpectDenied(Run("SELECT * FROM input, secret", Make(Role::kReader, {"t"})).status(),
               "secret");
  ExpectDenied(Run("SELECT * FROM input, arrowport_scratch.main.anything",
                   Make(Role::kAdmin)).status(), "arrowport_scratch");
  ExpectDenied(Run("SELECT * FROM input, duckdb_settings()", Make(Role::kAdmin)).status(),
               "duckdb_settings");
}

TEST_F(TransformQueryTest, IsOneSelectWhoeverAsks) {
  for (const char* sql : {"DELETE FROM t", "INSERT INTO t SELECT v, 'x' FROM input",
                          "CREATE TABLE copy AS SELECT * FROM input", "DROP VIEW input"}) {
    ExpectDenied(Run(sql, Make(Role::kAdmin)).status(), "one SELECT over 'input'");
  }
  ExpectDenied(Run("SELECT 1 FROM input; SELECT 2", Make(Role::kAdmin)).status(), "statements");
  auto bad = Run("SELECT nope FROM input", Make(Role::kAdmin));
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("nope"), std::string::npos);
}

// An exchange client that keeps sending: answers come while it still sends. (With one
// DuckDB thread DuckDB may read the whole input first: a client that needs an answer per
// batch asks for each_batch, flight/exchange.h.)
void ExpectAnswersWhileInputFlows(
    const std::function<arrow::Result<std::shared_ptr<arrow::RecordBatchReader>>(
        std::shared_ptr<arrow::RecordBatchReader>)>& start) {
  constexpr int kBatches = 40;
  auto gated = std::make_shared<GatedReader>();
  std::atomic<int> released{0};
  std::thread sender([&] {
    for (int i = 0; i < kBatches; ++i) {
      gated->Release();
      ++released;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    gated->Finish();
  });
  auto reader = start(gated);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::shared_ptr<arrow::RecordBatch> first;
  ASSERT_TRUE((*reader)->ReadNext(&first).ok());
  ASSERT_NE(first, nullptr);
  EXPECT_LT(released.load(), kBatches / 2) << "the first answer waited for the input";
  auto rest = (*reader)->ToTable().ValueOrDie();
  EXPECT_EQ(first->num_rows() + rest->num_rows(), kBatches * 10);
  sender.join();
}

TEST_F(TransformQueryTest, AnswersWhileTheInputStillFlows) {
  ExpectAnswersWhileInputFlows([&](std::shared_ptr<arrow::RecordBatchReader> input) {
    return Start("SELECT v + 1 AS w FROM input", Make(Role::kReader), input, true);
  });
}

TEST_F(TransformQueryTest, ReadsTheColumnsAndRowsItAsksFor) {
  // DuckDB's C API scan ignored the projection and filters DuckDB pushed into it: one
  // column of three got another column's bytes, and WHERE kept every row.
  auto batch = arrow::RecordBatch::Make(
      arrow::schema({arrow::field("id", arrow::int64()), arrow::field("value", arrow::float64()),
                     arrow::field("name", arrow::utf8())}),
      3,
      {Json(arrow::int64(), "[1, 2, 3]"),
       Json(arrow::float64(), "[10.5, 20.5, 30.5]"),
       Json(arrow::utf8(), R"(["a", "b", "c"])")});
  auto run = [&](const std::string& sql) {
    QueryOptions options;
    options.principal = std::make_shared<Principal>(Make(Role::kReader));
    options.input = arrow::RecordBatchReader::Make({batch}).ValueOrDie();
    auto reader = Connection::Query(db_->Connect().ValueOrDie(), sql, options).ValueOrDie();
    return reader->ToTable().ValueOrDie();
  };
  auto names = run("SELECT name FROM input");
  EXPECT_EQ(names->column(0)->ToString(), arrow::ChunkedArray(Json(
                                              arrow::utf8(), R"(["a", "b", "c"])")).ToString());
  auto filtered = run("SELECT value FROM input WHERE value > 15");
  ASSERT_EQ(filtered->num_rows(), 2);
  EXPECT_EQ(filtered->column(0)->chunk(0)->ToString(),
            Json(arrow::float64(), "[20.5, 30.5]")->ToString());
}

// The client's stream is not stored: a statement that would scan it twice is refused
// before it runs, whoever asks, and with the same advice whatever the form.
TEST_F(TransformQueryTest, ReadsInputOnceOrSaysSo) {
  const char* named_twice[] = {
      "SELECT a.v FROM input a, input b",
      "SELECT * FROM input WHERE v IN (SELECT v FROM input)",
      "SELECT * FROM input UNION ALL SELECT * FROM input",
      "SELECT o.v, l.v FROM input o, LATERAL (SELECT v FROM input WHERE v = o.v) l",
      "SELECT * FROM input i, unnest((SELECT list(v) FROM input)) u"};
  // DuckDB runs a recursive CTE's recursive part again at each step, with all it reads:
  // each of these once answered from the first step alone (11 rows of 1,111; 2 of 4).
  const char* read_at_each_step[] = {
      "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r, input "
      "WHERE n < 4) SELECT n FROM r",
      "WITH RECURSIVE r(n) USING KEY (n) AS (SELECT 1 UNION SELECT n + 1 FROM r, input "
      "WHERE n < 4) SELECT n FROM r",
      "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL "
      "SELECT n + (SELECT count(*) FROM input) FROM r WHERE n < 40) SELECT n FROM r",
      "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 4 AND "
      "EXISTS (SELECT 1 FROM input WHERE v > n)) SELECT n FROM r",
      "WITH RECURSIVE i AS (SELECT * FROM input), r(n) AS (SELECT 1 UNION ALL "
      "SELECT n + 1 FROM r, i WHERE n < 4) SELECT n FROM r",
      "WITH RECURSIVE i AS NOT MATERIALIZED (SELECT * FROM input), r(n) AS (SELECT 1 "
      "UNION ALL SELECT n + 1 FROM r, i WHERE n < 4) SELECT n FROM r",
      "WITH RECURSIVE j AS (SELECT v FROM input), i AS (SELECT * FROM j), r(n) AS "
      "(SELECT 1 UNION ALL SELECT n + 1 FROM r, i WHERE n < 4) SELECT n FROM r"};
  for (const Role role : {Role::kAdmin, Role::kWriter, Role::kReader}) {
    for (const char* sql : named_twice) {
      auto st = Run(sql, Make(role)).status();
      EXPECT_TRUE(st.IsInvalid()) << sql << ": " << st.ToString();
      EXPECT_NE(
          st.message().find("'input' is read more than once: the statement names it"),
          std::string::npos)
          << st.ToString();
    }
    for (const char* sql : read_at_each_step) {
      auto st = Run(sql, Make(role)).status();
      EXPECT_TRUE(st.IsInvalid()) << sql << ": " << st.ToString();
      EXPECT_NE(st.message().find("'input' is read more than once: the recursive part"),
                std::string::npos) << st.ToString();
    }
  }
  // What the errors advise gives the whole answer.
  auto count = [&](const std::string& sql) -> int64_t {
    auto table = Run(sql, Make(Role::kReader));
    EXPECT_TRUE(table.ok()) << sql << ": " << table.status().ToString();
    if (!table.ok()) return -1;
    return std::static_pointer_cast<arrow::Int64Scalar>(
               (*table)->column(0)->GetScalar(0).ValueOrDie())->value;
  };
  EXPECT_EQ(count("WITH i AS (SELECT v FROM input) SELECT count(*) FROM i"), 10);
  EXPECT_EQ(count("WITH i AS MATERIALIZED (SELECT * FROM input) SELECT count(*) FROM "
                  "(SELECT * FROM i UNION ALL SELECT * FROM i)"), 20);
  EXPECT_EQ(count("WITH RECURSIVE i AS MATERIALIZED (SELECT * FROM input), r(n) AS "
                  "(SELECT 1 UNION ALL SELECT n + 1 FROM r, i WHERE n < 4) "
                  "SELECT count(*) FROM r"), 1 + 10 + 100 + 1000);
  // The anchor runs once: reading input there is reading it once.
  EXPECT_EQ(count("WITH RECURSIVE r(n) AS (SELECT v FROM input UNION ALL "
                  "SELECT n + 100 FROM r WHERE n < 300) SELECT count(*) FROM r"), 40);
}

// The stream behind a registered relation gives itself to one scan: a plan that would
// scan it again (the server's own SQL is not judged by the sandbox) fails its query
// instead of reading it drained and answering from the first scan alone.
TEST_F(TransformQueryTest, ASecondScanOfAStreamFailsItsQuery) {
  auto conn = db_->Connect().ValueOrDie();
  auto stream = [&] {
    auto reader = arrow::RecordBatchReader::Make({Batch(0, 5), Batch(5, 5)}).ValueOrDie();
    return conn->RegisterArrowStream(reader, nullptr).ValueOrDie();
  };
  for (const std::string& form :
       {std::string("SELECT * FROM {} UNION ALL SELECT * FROM {}"),
        std::string("SELECT a.v FROM {} a, {} b"),
        std::string("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r, {} "
                    "WHERE n < 4) SELECT n FROM r")}) {
    const std::string relation = stream();
    std::string sql = form;
    for (size_t at; (at = sql.find("{}")) != std::string::npos;) {
      sql.replace(at, 2, relation);
    }
    auto result = conn->QueryTable(sql);
    ASSERT_FALSE(result.ok()) << sql << " gave " << (*result)->num_rows() << " rows";
    EXPECT_TRUE(result.status().IsInvalid()) << result.status().ToString();
    EXPECT_NE(result.status().message().find(relation + " is read once"), std::string::npos)
        << result.status().ToString();
    conn->DropArrowStream(relation);
  }
  const std::string once = stream();
  auto whole = conn->QueryTable("SELECT count(*) AS n FROM " + once);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole.ValueOrDie()->column(0)->GetScalar(0).ValueOrDie()->ToString(), "10");
  conn->DropArrowStream(once);
}

// A transform reshapes what it is sent and changes no table, whoever runs it (the
// operator's configured transforms run as admin): an admin's data-changing CTE once
// deleted rows through one.
TEST_F(TransformQueryTest, ChangesNothingWhoeverAsks) {
  const char* writes[] = {
      "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM input",
      "WITH d AS (INSERT INTO t VALUES (3, 'three') RETURNING k) SELECT v FROM input, d",
      "WITH d AS (UPDATE t SET name = 'x' RETURNING k) SELECT v FROM input WHERE v IN "
      "(SELECT k FROM d)",
      "SELECT v FROM input WHERE v IN (WITH d AS (DELETE FROM t RETURNING k) "
      "SELECT k FROM d)"};
  for (const Role role : {Role::kAdmin, Role::kWriter}) {
    for (const char* sql : writes) {
      ExpectDenied(Run(sql, Make(role)).status(), "changes nothing, for every user");
    }
  }
  auto conn = db_->Connect().ValueOrDie();
  for (const char* sql : writes) {
    auto st = conn->CheckTransformText(sql);  // the routing config's, at start and reload
    EXPECT_NE(st.message().find("changes nothing, for every user"), std::string::npos)
        << sql << ": " << st.ToString();
  }
  auto t = conn->QueryTable("SELECT k, name FROM t ORDER BY k").ValueOrDie();
  EXPECT_EQ(t->num_rows(), 2);
  EXPECT_EQ(t->column(1)->ToString(), arrow::ChunkedArray(Json(arrow::utf8(),
                                                               R"(["one", "two"])")).ToString());
}

}  // namespace connection_transform_test
}  // namespace arrowport::storage
