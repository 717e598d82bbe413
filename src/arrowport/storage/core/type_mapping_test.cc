#include "arrowport/storage/core/type_mapping.h"

#include <gtest/gtest.h>

#include <map>

#include "arrow/record_batch.h"
#include "arrow/type.h"
#include "arrowport/storage/database/connection.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::storage {

namespace type_mapping_test {

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
  // DuckDB reads no 256-bit decimal, even one of 38 digits (it answered "Unsupported").
  auto narrow = CheckIngestSchema(*arrow::schema({arrow::field("d", arrow::decimal256(38, 0))}),
                                  true);
  EXPECT_TRUE(narrow.IsInvalid());
  EXPECT_NE(narrow.message().find("send decimal128"), std::string::npos) << narrow.ToString();
  auto half = CheckIngestSchema(*arrow::schema({arrow::field("h", arrow::float16())}), true);
  EXPECT_NE(half.message().find("send float32"), std::string::npos) << half.ToString();
  auto nulls = arrow::schema({arrow::field("n", arrow::null())});
  EXPECT_TRUE(CheckIngestSchema(*nulls, true).IsInvalid());
  EXPECT_TRUE(CheckIngestSchema(*nulls, false).ok());
}

// Column types as DuckDB types them, by column name: `definition` is a CREATE TABLE
// column list.
std::map<std::string, ColumnType> TableTypes(const std::string& definition) {
  DatabaseOptions options;
  options.path = ":memory:";
  auto db = Database::Open(options).ValueOrDie();
  auto conn = db->Connect().ValueOrDie();
  EXPECT_TRUE(conn->Execute("CREATE TABLE t (" + definition + ")").ok());
  std::map<std::string, ColumnType> out;
  auto columns = conn->DescribeRelation("t").ValueOrDie();
  for (const auto& column : *columns) {
    out[column.name] = column.type;
  }
  return out;
}

TEST(IsSafeConversion, WideningOnly) {
  auto t = TableTypes(
      "i8 TINYINT, i16 SMALLINT, i32 INTEGER, i64 BIGINT, i128 HUGEINT, u8 UTINYINT, "
      "u32 UINTEGER, u64 UBIGINT, f FLOAT, d DOUBLE, v VARCHAR, dec10_2 DECIMAL(10,2), "
      "dec18_3 DECIMAL(18,3), dec18_1 DECIMAL(18,1), e ENUM('a', 'b'), date DATE, "
      "ts TIMESTAMP, ts_s TIMESTAMP_S, ts_ms TIMESTAMP_MS, ts_ns TIMESTAMP_NS, "
      "tstz TIMESTAMPTZ, l INTEGER[], l2 INTEGER[]");
  EXPECT_TRUE(IsSafeConversion(t["i32"], t["i32"]));
  EXPECT_TRUE(IsSafeConversion(t["l"], t["l2"]));
  EXPECT_TRUE(IsSafeConversion(t["i8"], t["i16"]));
  EXPECT_TRUE(IsSafeConversion(t["i16"], t["i32"]));
  EXPECT_TRUE(IsSafeConversion(t["i32"], t["i64"]));
  EXPECT_TRUE(IsSafeConversion(t["i64"], t["i128"]));
  EXPECT_TRUE(IsSafeConversion(t["u32"], t["i64"]));
  EXPECT_TRUE(IsSafeConversion(t["u8"], t["i16"]));
  EXPECT_TRUE(IsSafeConversion(t["f"], t["d"]));
  EXPECT_TRUE(IsSafeConversion(t["i16"], t["d"]));
  EXPECT_TRUE(IsSafeConversion(t["u8"], t["d"]));
  EXPECT_TRUE(IsSafeConversion(t["dec10_2"], t["dec18_3"]));
  EXPECT_TRUE(IsSafeConversion(t["date"], t["ts"]));
  EXPECT_TRUE(IsSafeConversion(t["ts_s"], t["ts"]));
  EXPECT_TRUE(IsSafeConversion(t["ts_ms"], t["ts"]));
  EXPECT_TRUE(IsSafeConversion(t["e"], t["v"]));
  EXPECT_FALSE(IsSafeConversion(t["i64"], t["i32"]));
  EXPECT_FALSE(IsSafeConversion(t["d"], t["i32"]));
  EXPECT_FALSE(IsSafeConversion(t["v"], t["i32"]));
  EXPECT_FALSE(IsSafeConversion(t["u64"], t["i64"]));
  EXPECT_FALSE(IsSafeConversion(t["i32"], t["u32"]));
  EXPECT_FALSE(IsSafeConversion(t["i32"], t["d"]));
  EXPECT_FALSE(IsSafeConversion(t["d"], t["f"]));
  EXPECT_FALSE(IsSafeConversion(t["dec18_3"], t["dec10_2"]));
  EXPECT_FALSE(IsSafeConversion(t["dec18_3"], t["dec18_1"]));
  EXPECT_FALSE(IsSafeConversion(t["ts_ns"], t["ts"]));
  EXPECT_FALSE(IsSafeConversion(t["date"], t["tstz"]));
  EXPECT_FALSE(IsSafeConversion(t["ts"], t["tstz"]));
  EXPECT_FALSE(IsSafeConversion(t["v"], t["e"]));
  EXPECT_EQ(StorageTypeFor(t["e"]), "VARCHAR");
  EXPECT_EQ(StorageTypeFor(t["dec18_3"]), "DECIMAL(18,3)");
  EXPECT_EQ(t["dec18_3"].width, 18);
  EXPECT_EQ(t["dec18_3"].scale, 3);
  EXPECT_TRUE(SameType(t["l"], t["l2"]));
  EXPECT_FALSE(SameType(t["dec18_3"], t["dec18_1"]));
}

TEST(IsSafeConversion, TypesOfArrowStreams) {
  DatabaseOptions options;
  options.path = ":memory:";
  auto db = Database::Open(options).ValueOrDie();
  auto conn = db->Connect().ValueOrDie();
  auto schema = arrow::schema({
      arrow::field("n", arrow::null()),
      arrow::field("dict", arrow::dictionary(arrow::int32(), arrow::utf8())),
      arrow::field("dec", arrow::decimal128(10, 2)),
      arrow::field("ts", arrow::timestamp(arrow::TimeUnit::SECOND)),
      arrow::field("u", arrow::uint32()),
  });
  auto reader = arrow::RecordBatchReader::Make({}, schema).ValueOrDie();
  std::vector<ColumnInfo> columns;
  auto relation = conn->RegisterArrowStream(reader, &columns).ValueOrDie();
  conn->DropArrowStream(relation);
  ASSERT_EQ(columns.size(), 5u);
  auto t = TableTypes("v VARCHAR, d DECIMAL(18,3), ts TIMESTAMP, i BIGINT, i32 INTEGER");
  EXPECT_TRUE(IsNullType(columns[0].type));
  EXPECT_FALSE(IsNullType(t["v"]));
  EXPECT_TRUE(IsSafeConversion(columns[0].type, t["i"]));
  EXPECT_EQ(StorageTypeFor(columns[1].type), "VARCHAR");
  EXPECT_TRUE(IsSafeConversion(columns[1].type, t["v"]));
  EXPECT_EQ(columns[2].type.sql, "DECIMAL(10,2)");
  EXPECT_TRUE(IsSafeConversion(columns[2].type, t["d"]));
  EXPECT_EQ(columns[3].type.sql, "TIMESTAMP_S");
  EXPECT_TRUE(IsSafeConversion(columns[3].type, t["ts"]));
  EXPECT_TRUE(IsSafeConversion(columns[4].type, t["i"]));
  EXPECT_FALSE(IsSafeConversion(columns[4].type, t["i32"]));
}

}  // namespace type_mapping_test

}  // namespace arrowport::storage
