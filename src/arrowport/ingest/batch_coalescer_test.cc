#include "arrowport/ingest/batch_coalescer.h"

#include <gtest/gtest.h>

#include "arrow/api.h"

namespace arrowport::ingest {
namespace batch_coalescer_test {

std::shared_ptr<arrow::Schema> Schema() {
  return arrow::schema({arrow::field("x", arrow::int64())});
}

std::shared_ptr<arrow::RecordBatch> Rows(int64_t first, int64_t n) {
  arrow::Int64Builder builder;
  for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(builder.Append(first + i).ok());
  return arrow::RecordBatch::Make(Schema(), n, {builder.Finish().ValueOrDie()});
}

// The sizes of the batches `reader` gives, checking their values run 0, 1, 2, ...
std::vector<int64_t> Sizes(arrow::RecordBatchReader* reader) {
  std::vector<int64_t> sizes;
  int64_t next = 0;
  for (;;) {
    std::shared_ptr<arrow::RecordBatch> batch;
    EXPECT_TRUE(reader->ReadNext(&batch).ok());
    if (!batch) return sizes;
    auto values = std::static_pointer_cast<arrow::Int64Array>(batch->column(0));
    for (int64_t i = 0; i < values->length(); ++i) EXPECT_EQ(values->Value(i), next++);
    sizes.push_back(batch->num_rows());
  }
}

std::shared_ptr<arrow::RecordBatchReader> Of(const std::vector<int64_t>& sizes) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t first = 0;
  for (int64_t n : sizes) {
    batches.push_back(Rows(first, n));
    first += n;
  }
  return arrow::RecordBatchReader::Make(batches, Schema()).ValueOrDie();
}

TEST(BatchCoalescerTest, JoinsRunsOfSmallBatchesInOrder) {
  CoalesceLimits limits;
  limits.small_rows = 10;
  limits.target_rows = 25;
  BatchCoalescer coalescer(Of({1, 1, 1, 1, 1, 50, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2}), limits);
  // 5 ones; 50 passes alone; threes up to 25 (8 of them = 24, the 9th would pass 25);
  // then the last three and the two.
  EXPECT_EQ(Sizes(&coalescer), (std::vector<int64_t>{5, 50, 24, 5}));
  EXPECT_EQ(coalescer.batches_in(), 16);
}

TEST(BatchCoalescerTest, LargeBatchesPassUntouchedAndEmptyStreamsEnd) {
  BatchCoalescer large(Of({5000, 70000}));
  EXPECT_EQ(Sizes(&large), (std::vector<int64_t>{5000, 70000}));
  BatchCoalescer empty(Of({}));
  EXPECT_TRUE(Sizes(&empty).empty());
  EXPECT_EQ(empty.batches_in(), 0);
}

TEST(BatchCoalescerTest, ManyOneRowBatchesBecomeFewBatches) {
  std::vector<int64_t> ones(200000, 1);
  BatchCoalescer coalescer(Of(ones));
  auto sizes = Sizes(&coalescer);
  // 65,536 rows each (the target), then the rest.
  EXPECT_EQ(sizes, (std::vector<int64_t>{65536, 65536, 65536, 3392}));
  EXPECT_EQ(coalescer.batches_in(), 200000);
}

TEST(BatchCoalescerTest, ASourceErrorIsReported) {
  class Failing : public arrow::RecordBatchReader {
   public:
    std::shared_ptr<arrow::Schema> schema() const override { return Schema(); }
    arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
      if (reads_++ < 3) {
        *out = Rows(0, 1);
        return arrow::Status::OK();
      }
      return arrow::Status::Invalid("record batch 3 is bad");
    }
    int reads_ = 0;
  };
  BatchCoalescer coalescer(std::make_shared<Failing>());
  std::shared_ptr<arrow::RecordBatch> batch;
  auto st = coalescer.ReadNext(&batch);
  EXPECT_TRUE(st.IsInvalid()) << st.ToString();
  EXPECT_EQ(st.message(), "record batch 3 is bad");
}

TEST(BatchCoalescerTest, DictionaryColumnsWithDifferentDictionariesStillPass) {
  auto type = arrow::dictionary(arrow::int32(), arrow::utf8());
  auto schema = arrow::schema({arrow::field("d", type)});
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (const char* word : {"a", "b", "c"}) {
    arrow::StringDictionaryBuilder builder;
    ASSERT_TRUE(builder.Append(word).ok());
    batches.push_back(arrow::RecordBatch::Make(schema, 1, {builder.Finish().ValueOrDie()}));
  }
  BatchCoalescer coalescer(arrow::RecordBatchReader::Make(batches, schema).ValueOrDie());
  int64_t rows = 0;
  std::vector<std::string> words;
  for (;;) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ASSERT_TRUE(coalescer.ReadNext(&batch).ok());
    if (!batch) break;
    rows += batch->num_rows();
    auto dict = std::static_pointer_cast<arrow::DictionaryArray>(batch->column(0));
    auto values = std::static_pointer_cast<arrow::StringArray>(dict->dictionary());
    for (int64_t i = 0; i < dict->length(); ++i) {
      words.push_back(values->GetString(dict->GetValueIndex(i)));
    }
  }
  EXPECT_EQ(rows, 3);
  EXPECT_EQ(words, (std::vector<std::string>{"a", "b", "c"}));
}

}  // namespace batch_coalescer_test
}  // namespace arrowport::ingest
