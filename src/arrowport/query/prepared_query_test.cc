#include "arrowport/query/prepared_query.h"

#include <gtest/gtest.h>

#include "arrow/api.h"
#include "arrow/util/byte_size.h"
#include "arrowport/common/sized_batches.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/query/session_connection.h"
#include "arrowport/test_support/session_test_database.h"

namespace arrowport::query {
namespace prepared_query_test {

using std::chrono::seconds;

SessionConnection::Clock::time_point Soon() {
  return SessionConnection::Clock::now() + seconds(5);
}

std::shared_ptr<arrow::RecordBatch> Ints(const std::vector<int32_t>& values) {
  arrow::Int32Builder builder;
  EXPECT_TRUE(builder.AppendValues(values).ok());
  auto array = builder.Finish().ValueOrDie();
  return arrow::RecordBatch::Make(arrow::schema({arrow::field("p", arrow::int32())}),
                                  array->length(), {array});
}

class PreparedQueryTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(db_.Execute("CREATE TABLE t (x INT)").ok()); }
  int64_t Rows() { return db_.Count("SELECT count(*) FROM t"); }
  testing::SessionTestDatabase db_;
};

// The lease rule: a result read on a session connection holds it until its last batch.
TEST_F(PreparedQueryTest, AResultKeepsItsLeaseUntilItsLastBatch) {
  auto connection = db_.Open();
  auto lease = connection->Acquire("a result being read", Soon()).ValueOrDie();
  auto reader = db_.pipeline()
                    .Execute(std::move(lease), "SELECT * FROM range(10000)", CallContext{},
                             /*batch_rows=*/1000)
                    .ValueOrDie();
  EXPECT_TRUE(connection->in_use());
  EXPECT_FALSE(connection->TryAcquire("another call").has_value());
  int64_t rows = 0;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ASSERT_TRUE(reader->ReadNext(&batch).ok());
    if (batch == nullptr) break;
    rows += batch->num_rows();
  }
  EXPECT_EQ(rows, 10000);
  EXPECT_FALSE(connection->in_use());
}

// Many parameter rows of a write outside a client transaction: all rows or none.
TEST_F(PreparedQueryTest, ParameterRowsOfAWriteAreKeptAllOrNone) {
  auto connection = db_.Open();
  std::shared_ptr<PreparedQuery> insert;
  {
    auto lease = connection->Acquire("preparing", Soon()).ValueOrDie();
    insert = PreparedQuery::Make(lease, "INSERT INTO t VALUES ($1) RETURNING x", nullptr)
                 .ValueOrDie();
  }
  EXPECT_EQ(insert->num_parameters(), 1);
  EXPECT_FALSE(insert->read_only());
  EXPECT_TRUE(insert->RequireBinding(nullptr).IsInvalid());
  auto run = [&](std::vector<int32_t> values) {
    auto lease = connection->Acquire("running", Soon()).ValueOrDie();
    return db_.pipeline()
        .ExecutePrepared(insert, Ints(values), std::move(lease), CallContext{})
        .ValueOrDie();
  };
  auto all = run({1, 2, 3});
  ASSERT_TRUE(all->ToTable().ok());
  EXPECT_EQ(Rows(), 3);
  EXPECT_FALSE(connection->in_use());
  {
    // Dropped after its first row's batch: nothing of it is kept.
    auto cut = run({4, 5});
    std::shared_ptr<arrow::RecordBatch> batch;
    ASSERT_TRUE(cut->ReadNext(&batch).ok());
    ASSERT_NE(batch, nullptr);
  }
  EXPECT_EQ(Rows(), 3);
  EXPECT_FALSE(connection->in_use());
}

// A prepared query's result hands on what each batch references, as measured by the
// row's result below it: the metering reader counts that instead of measuring again.
TEST_F(PreparedQueryTest, AResultSaysWhatEachBatchReferences) {
  auto connection = db_.Open();
  std::shared_ptr<PreparedQuery> select;
  {
    auto lease = connection->Acquire("preparing", Soon()).ValueOrDie();
    select = PreparedQuery::Make(lease, "SELECT range AS i, 'v' || range AS s FROM range(3000)",
                                 nullptr)
                 .ValueOrDie();
  }
  auto lease = connection->Acquire("running", Soon()).ValueOrDie();
  auto reader =
      db_.pipeline().ExecutePrepared(select, nullptr, std::move(lease), CallContext{}).ValueOrDie();
  const auto* sized = dynamic_cast<const SizedBatches*>(reader.get());
  ASSERT_NE(sized, nullptr);
  int known = 0;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ASSERT_TRUE(reader->ReadNext(&batch).ok());
    if (batch == nullptr) break;
    if (sized->last_batch_bytes() < 0) continue;
    ++known;
    // What it references, up to its buffers' whole size (a new piece is sized by them).
    EXPECT_GE(sized->last_batch_bytes(), arrow::util::ReferencedBufferSize(*batch).ValueOrDie());
    EXPECT_LE(sized->last_batch_bytes(), arrow::util::TotalBufferSize(*batch));
  }
  EXPECT_GT(known, 0);
}

// A prepared query runs only under a lease of the connection it was prepared on.
TEST_F(PreparedQueryTest, ALeaseOfAnotherConnectionIsRefused) {
  auto mine = db_.Open();
  auto other = db_.Open();
  std::shared_ptr<PreparedQuery> select;
  {
    auto lease = mine->Acquire("preparing", Soon()).ValueOrDie();
    select = PreparedQuery::Make(lease, "SELECT $1::INT AS v", nullptr).ValueOrDie();
  }
  EXPECT_EQ(select->connection(), mine);
  auto wrong = other->Acquire("binding", Soon()).ValueOrDie();
  EXPECT_TRUE(select->Bind(wrong, *Ints({7}), 0).IsInvalid());
  EXPECT_TRUE(select->CheckParameters(*Ints({7})).ok());
}

}  // namespace prepared_query_test
}  // namespace arrowport::query
