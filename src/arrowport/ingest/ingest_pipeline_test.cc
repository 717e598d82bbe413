#include "arrowport/ingest/ingest_pipeline.h"

#include <gtest/gtest.h>

#include "arrow/api.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::ingest {
namespace ingest_pipeline_test {


std::shared_ptr<arrow::RecordBatch> Batch(std::shared_ptr<arrow::Schema> schema, int64_t start,
                                          int64_t rows) {
  arrow::ArrayVector columns;
  for (const auto& field : schema->fields()) {
    if (field->type()->id() == arrow::Type::INT64) {
      arrow::Int64Builder b;
      for (int64_t i = 0; i < rows; ++i) (void)b.Append(start + i);
      columns.push_back(b.Finish().ValueOrDie());
    } else if (field->type()->id() == arrow::Type::INT32) {
      arrow::Int32Builder b;
      for (int64_t i = 0; i < rows; ++i) (void)b.Append(static_cast<int32_t>(start + i));
      columns.push_back(b.Finish().ValueOrDie());
    } else {
      arrow::StringBuilder b;
      for (int64_t i = 0; i < rows; ++i) (void)b.Append("v" + std::to_string(start + i));
      columns.push_back(b.Finish().ValueOrDie());
    }
  }
  return arrow::RecordBatch::Make(schema, rows, columns);
}

std::shared_ptr<arrow::RecordBatchReader> Reader(std::shared_ptr<arrow::Schema> schema,
                                                 int batches, int64_t rows_per_batch) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> out;
  for (int i = 0; i < batches; ++i) out.push_back(Batch(schema, i * rows_per_batch, rows_per_batch));
  return arrow::RecordBatchReader::Make(out, schema).ValueOrDie();
}

class IngestPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage::DatabaseOptions options;
    options.path = ":memory:";
    db_ = storage::Database::Open(options).ValueOrDie();
    config::Config config;
    config.streams["sensors"].target_table = "sensor_readings";
    config.streams["loose"].schema_policy = config::SchemaPolicy::kAddColumns;
    config.streams["lenient"].schema_policy = config::SchemaPolicy::kIgnoreExtra;
    router_ = std::make_unique<StreamRouter>(config);
    pipeline_ = std::make_unique<IngestPipeline>(db_.get(), router_.get());
  }

  int64_t Count(const std::string& table) {
    auto conn = db_->Connect().ValueOrDie();
    auto t = conn->QueryTable("SELECT count(*)::BIGINT FROM \"" + table + "\"");
    if (!t.ok()) return -1;
    return std::static_pointer_cast<arrow::Int64Scalar>(
               (*t)->column(0)->GetScalar(0).ValueOrDie())->value;
  }

  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<StreamRouter> router_;
  std::unique_ptr<IngestPipeline> pipeline_;
  std::shared_ptr<arrow::Schema> schema_ =
      arrow::schema({arrow::field("id", arrow::int64()), arrow::field("name", arrow::utf8())});
};


TEST_F(IngestPipelineTest, CreatesRoutedTableAndAppends) {
  IngestRequest request;
  request.stream = "sensors";
  auto result = pipeline_->Ingest(request, Reader(schema_, 3, 1000));
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->table, "sensor_readings");
  EXPECT_EQ(result->rows, 3000);
  EXPECT_EQ(result->batches, 3);
  EXPECT_TRUE(result->created);
  ASSERT_TRUE(pipeline_->Ingest(request, Reader(schema_, 1, 10)).ok());
  EXPECT_EQ(Count("sensor_readings"), 3010);
  auto streams = router_->Snapshot();
  EXPECT_EQ(streams.at("sensors").second.rows, 3010);
}

TEST_F(IngestPipelineTest, MatchesColumnsByNameNotPosition) {
  IngestRequest request;
  request.stream = "events";
  ASSERT_TRUE(pipeline_->Ingest(request, Reader(schema_, 1, 5)).ok());
  auto swapped = arrow::schema({arrow::field("name", arrow::utf8()),
                                arrow::field("id", arrow::int64())});
  ASSERT_TRUE(pipeline_->Ingest(request, Reader(swapped, 1, 5)).ok());
  auto conn = db_->Connect().ValueOrDie();
  auto t = conn->QueryTable("SELECT count(*) FROM events WHERE name = 'v' || id").ValueOrDie();
  EXPECT_EQ(t->column(0)->GetScalar(0).ValueOrDie()->ToString(), "10");
}

TEST_F(IngestPipelineTest, ModesCreateAndReplace) {
  IngestRequest request;
  request.stream = "m";
  request.mode = WriteMode::kCreate;
  ASSERT_TRUE(pipeline_->Ingest(request, Reader(schema_, 1, 5)).ok());
  auto again = pipeline_->Ingest(request, Reader(schema_, 1, 5));
  EXPECT_TRUE(again.status().IsAlreadyExists()) << again.status().ToString();
  request.mode = WriteMode::kReplace;
  ASSERT_TRUE(pipeline_->Ingest(request, Reader(schema_, 1, 7)).ok());
  EXPECT_EQ(Count("m"), 7);
}

TEST_F(IngestPipelineTest, StrictPolicyRejectsExtraColumnsAndTypeConflicts) {
  IngestRequest request;
  request.stream = "s";
  ASSERT_TRUE(pipeline_->Ingest(request, Reader(schema_, 1, 5)).ok());
  auto extra = arrow::schema({arrow::field("id", arrow::int64()),
                              arrow::field("name", arrow::utf8()),
                              arrow::field("more", arrow::utf8())});
  auto st = pipeline_->Ingest(request, Reader(extra, 1, 5)).status();
  EXPECT_TRUE(st.IsInvalid());
  EXPECT_NE(st.message().find("'more'"), std::string::npos) << st.message();
  auto conflict = arrow::schema({arrow::field("id", arrow::utf8())});
  st = pipeline_->Ingest(request, Reader(conflict, 1, 5)).status();
  EXPECT_TRUE(st.IsInvalid());
  EXPECT_TRUE(IsSchemaMismatch(st));
  EXPECT_NE(st.message().find("VARCHAR but table s.id is BIGINT"), std::string::npos)
      << st.message();
  // Safe widening: int32 into BIGINT.
  auto narrow = arrow::schema({arrow::field("id", arrow::int32())});
  ASSERT_TRUE(pipeline_->Ingest(request, Reader(narrow, 1, 5)).ok());
  EXPECT_EQ(Count("s"), 10);
  EXPECT_EQ(router_->Snapshot().at("s").second.errors, 2);
}

TEST_F(IngestPipelineTest, AddColumnsAndIgnoreExtraPolicies) {
  IngestRequest request;
  request.stream = "loose";
  ASSERT_TRUE(pipeline_->Ingest(request, Reader(arrow::schema({arrow::field("id", arrow::int64())}), 1, 5)).ok());
  ASSERT_TRUE(pipeline_->Ingest(request, Reader(schema_, 1, 5)).ok());
  auto conn = db_->Connect().ValueOrDie();
  EXPECT_EQ(conn->DescribeRelation("loose").ValueOrDie()->size(), 2u);
  request.stream = "lenient";
  ASSERT_TRUE(pipeline_->Ingest(request, Reader(arrow::schema({arrow::field("id", arrow::int64())}), 1, 5)).ok());
  ASSERT_TRUE(pipeline_->Ingest(request, Reader(schema_, 1, 5)).ok());
  EXPECT_EQ(conn->DescribeRelation("lenient").ValueOrDie()->size(), 1u);
  EXPECT_EQ(Count("lenient"), 10);
}

TEST_F(IngestPipelineTest, PerRequestIsAllOrNothing) {
  IngestRequest request;
  request.stream = "atomic";
  ASSERT_TRUE(pipeline_->Ingest(request, Reader(schema_, 1, 5)).ok());
  class FailsLate : public arrow::RecordBatchReader {
   public:
    explicit FailsLate(std::shared_ptr<arrow::RecordBatchReader> in) : in_(std::move(in)) {}
    std::shared_ptr<arrow::Schema> schema() const override { return in_->schema(); }
    arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
      if (++n_ == 4) return arrow::Status::IOError("truncated IPC stream");
      return in_->ReadNext(out);
    }
    std::shared_ptr<arrow::RecordBatchReader> in_;
    int n_ = 0;
  };
  auto st = pipeline_->Ingest(request, std::make_shared<FailsLate>(Reader(schema_, 10, 1000)));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("truncated IPC stream"), std::string::npos);
  EXPECT_EQ(Count("atomic"), 5);
  // A failed first write to a new table leaves no table behind.
  request.stream = "never";
  st = pipeline_->Ingest(request, std::make_shared<FailsLate>(Reader(schema_, 10, 1000)));
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(Count("never"), -1);
}

TEST_F(IngestPipelineTest, PerBatchCommitsAndAcknowledgesEachBatch) {
  IngestRequest request;
  request.stream = "pb";
  request.commit = config::CommitMode::kPerBatch;
  std::vector<std::pair<int64_t, int64_t>> acks;
  auto result = pipeline_->Ingest(request, Reader(schema_, 4, 100),
                                  [&](int64_t index, int64_t rows) {
                                    acks.push_back({index, rows});
                                    EXPECT_EQ(Count("pb"), (index + 1) * 100);
                                    return arrow::Status::OK();
                                  });
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(acks.size(), 4u);
  EXPECT_EQ(acks[3], (std::pair<int64_t, int64_t>{3, 100}));
}

TEST_F(IngestPipelineTest, RejectsBadNames) {
  IngestRequest request;
  request.stream = "x; DROP TABLE y";
  EXPECT_TRUE(pipeline_->Ingest(request, Reader(schema_, 1, 1)).status().IsInvalid());
  request.stream = "ok";
  request.table = "t\"; --";
  EXPECT_TRUE(pipeline_->Ingest(request, Reader(schema_, 1, 1)).status().IsInvalid());
}

TEST(ParseDescriptor, AcceptsPathCommandAndSeedForms) {
  auto path = ParseDescriptor(true, {"sensors"}, "").ValueOrDie();
  EXPECT_EQ(path.stream, "sensors");
  auto cmd = ParseDescriptor(false, {}, R"({"stream": "a", "table": "b", "mode": "replace",
                                           "commit": "per_batch"})").ValueOrDie();
  EXPECT_EQ(cmd.table, "b");
  EXPECT_EQ(cmd.mode, WriteMode::kReplace);
  EXPECT_EQ(cmd.commit, config::CommitMode::kPerBatch);
  EXPECT_EQ(ParseDescriptor(false, {}, R"({"stream_name": "seed"})").ValueOrDie().stream, "seed");
  EXPECT_EQ(ParseDescriptor(false, {}, "plain").ValueOrDie().stream, "plain");
  EXPECT_TRUE(ParseDescriptor(false, {}, "{bad json").status().IsInvalid());
  EXPECT_TRUE(ParseDescriptor(false, {}, R"({"strem": "a"})").status().IsInvalid());
  EXPECT_TRUE(ParseDescriptor(false, {}, R"({"stream": "a", "mode": "merge"})").status().IsInvalid());
  EXPECT_TRUE(ParseDescriptor(true, {"x; DROP TABLE y"}, "").status().IsInvalid());
  EXPECT_TRUE(ParseDescriptor(true, {}, "").status().IsInvalid());
}

}  // namespace ingest_pipeline_test
}  // namespace arrowport::ingest
