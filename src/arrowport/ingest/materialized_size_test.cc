#include "arrowport/ingest/materialized_size.h"

#include <gtest/gtest.h>

#include "arrow/api.h"
#include "arrow/array/array_run_end.h"

namespace arrowport::ingest {
namespace materialized_size_test {

std::shared_ptr<arrow::Array> Check(arrow::Result<std::shared_ptr<arrow::Array>> made) {
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_TRUE((*made)->ValidateFull().ok());
  return *made;
}

TEST(MaterializedBytesTest, PlainArraysCostTheirBuffers) {
  arrow::Int64Builder builder;
  ASSERT_TRUE(builder.AppendValues(std::vector<int64_t>(1000, 7)).ok());
  auto array = *builder.Finish();
  EXPECT_EQ(MaterializedBytes(*array->data()), 8000);
}

TEST(MaterializedBytesTest, RepeatedViewsCountEveryCopy) {
  const std::string value(100000, 'y');
  arrow::StringViewBuilder builder;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(builder.Append(value).ok());
  auto array = *builder.Finish();
  EXPECT_GE(MaterializedBytes(*array->data()), int64_t{1000} * 100000);
}

TEST(MaterializedBytesTest, DictionaryIndicesRepeatTheirValues) {
  arrow::StringBuilder values;
  ASSERT_TRUE(values.Append(std::string(10000, 'z')).ok());
  ASSERT_TRUE(values.Append("a").ok());
  auto dictionary = *values.Finish();
  arrow::Int32Builder indices;
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(indices.Append(i % 2).ok());
  auto array = Check(arrow::DictionaryArray::FromArrays(
      arrow::dictionary(arrow::int32(), arrow::utf8()), *indices.Finish(), dictionary));
  const int64_t bytes = MaterializedBytes(*array->data());
  EXPECT_GE(bytes, int64_t{250} * 10000);
  EXPECT_LT(bytes, int64_t{251} * 10000 + 500 * 32);  // the short values stay short
}

TEST(MaterializedBytesTest, RunEndEncodingCountsEveryRow) {
  arrow::Int32Builder ends;
  ASSERT_TRUE(ends.Append(1000000).ok());
  arrow::Int64Builder values;
  ASSERT_TRUE(values.Append(5).ok());
  auto array = Check(arrow::RunEndEncodedArray::Make(1000000, *ends.Finish(), *values.Finish()));
  EXPECT_GE(MaterializedBytes(*array->data()), 8000000);
}

}  // namespace materialized_size_test
}  // namespace arrowport::ingest
