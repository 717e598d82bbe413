#include "arrowport/storage/type_mapping.h"

#include <gtest/gtest.h>

#include "arrow/type.h"

namespace arrowport::storage {

TEST(CheckIngestSchema, AcceptsRichTypes) {
  auto schema = arrow::schema({
      arrow::field("d", arrow::decimal128(18, 3)),
      arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
      arrow::field("l", arrow::list(arrow::int32())),
      arrow::field("s", arrow::struct_({arrow::field("a", arrow::utf8())})),
      arrow::field("m", arrow::map(arrow::utf8(), arrow::int64())),
      arrow::field("dict", arrow::dictionary(arrow::int32(), arrow::utf8())),
  });
  EXPECT_TRUE(CheckIngestSchema(*schema, true).ok());
}

TEST(CheckIngestSchema, RejectsWhatDuckDBCannotHold) {
  EXPECT_TRUE(CheckIngestSchema(*arrow::schema({}), true).IsInvalid());
  EXPECT_TRUE(CheckIngestSchema(*arrow::schema({arrow::field("a", arrow::int32()),
                                                arrow::field("A", arrow::int32())}),
                                true)
                  .IsInvalid());
  auto wide = arrow::schema({arrow::field("x", arrow::decimal256(60, 2))});
  auto st = CheckIngestSchema(*wide, true);
  EXPECT_TRUE(st.IsInvalid());
  EXPECT_NE(st.message().find("'x'"), std::string::npos);
  auto nulls = arrow::schema({arrow::field("n", arrow::null())});
  EXPECT_TRUE(CheckIngestSchema(*nulls, true).IsInvalid());
  EXPECT_TRUE(CheckIngestSchema(*nulls, false).ok());
}

TEST(IsSafeConversion, WideningOnly) {
  EXPECT_TRUE(IsSafeConversion("INTEGER", "INTEGER"));
  EXPECT_TRUE(IsSafeConversion("INTEGER", "BIGINT"));
  EXPECT_TRUE(IsSafeConversion("FLOAT", "DOUBLE"));
  EXPECT_TRUE(IsSafeConversion("UINTEGER", "BIGINT"));
  EXPECT_TRUE(IsSafeConversion("DECIMAL(10,2)", "DECIMAL(18,3)"));
  EXPECT_FALSE(IsSafeConversion("BIGINT", "INTEGER"));
  EXPECT_FALSE(IsSafeConversion("DOUBLE", "INTEGER"));
  EXPECT_FALSE(IsSafeConversion("VARCHAR", "INTEGER"));
  EXPECT_FALSE(IsSafeConversion("UBIGINT", "BIGINT"));
  EXPECT_FALSE(IsSafeConversion("DECIMAL(18,3)", "DECIMAL(10,2)"));
  EXPECT_EQ(StorageTypeFor("ENUM('a', 'b')"), "VARCHAR");
  EXPECT_EQ(StorageTypeFor("DECIMAL(18,3)"), "DECIMAL(18,3)");
}

}  // namespace arrowport::storage
