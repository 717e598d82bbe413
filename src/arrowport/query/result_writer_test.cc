#include "arrowport/query/result_writer.h"

#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "arrow/api.h"
#include "arrow/csv/writer.h"
#include "arrow/io/memory.h"
#include "arrow/ipc/reader.h"
#include "arrow/json/from_string.h"

namespace arrowport::query {
namespace result_writer_test {

std::shared_ptr<arrow::Array> FromJson(const std::shared_ptr<arrow::DataType>& type,
                                       const char* json) {
  return arrow::json::ArrayFromJSONString(type, json).ValueOrDie();
}

std::shared_ptr<arrow::Array> Doubles(const std::vector<std::optional<double>>& values) {
  arrow::DoubleBuilder builder;
  for (const auto& v : values) {
    EXPECT_TRUE((v ? builder.Append(*v) : builder.AppendNull()).ok());
  }
  return builder.Finish().ValueOrDie();
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

/// Four rows of flat columns (every one has a null somewhere) that every format can hold.
std::shared_ptr<arrow::Table> FlatTable() {
  auto schema = arrow::schema({
      arrow::field("id", arrow::int64()),
      arrow::field("score", arrow::float64()),
      arrow::field("ratio", arrow::float32()),
      arrow::field("name", arrow::utf8()),
      arrow::field("flag", arrow::boolean()),
      arrow::field("price", arrow::decimal128(12, 2)),
      arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
      arrow::field("day", arrow::date32()),
  });
  return arrow::Table::Make(
      schema, {
                  FromJson(arrow::int64(), "[1, -2, 9007199254740993, null]"),
                  Doubles({1.5, 2.0, -0.25, std::nullopt}),
                  FromJson(arrow::float32(), "[0.1, null, 3, -1e-7]"),
                  FromJson(arrow::utf8(),
                           R"(["plain", "q\"b\\n\nt\tc\u0001",)"
                           R"( "\u00e9\u20ac\ud83d\ude00", null])"),
                  FromJson(arrow::boolean(), "[true, false, null, true]"),
                  FromJson(arrow::decimal128(12, 2),
                           R"(["12.34", "-0.05", null, "9999999999.99"])"),
                  FromJson(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"),
                           R"(["2024-01-02 03:04:05.123456", null, "1970-01-01",)"
                           R"( "2000-02-29 23:59:59"])"),
                  FromJson(arrow::date32(), "[0, 19000, null, -1]"),
              });
}

/// Three rows of nested columns, with nulls at every level.
std::shared_ptr<arrow::Table> NestedTable() {
  auto point = arrow::struct_({arrow::field("x", arrow::int32()),
                               arrow::field("label", arrow::utf8())});
  auto attrs = arrow::map(arrow::utf8(), arrow::int32());
  auto schema = arrow::schema({
      arrow::field("tags", arrow::list(arrow::int32())),
      arrow::field("point", point),
      arrow::field("attrs", attrs),
      arrow::field("nested", arrow::list(point)),
  });
  return arrow::Table::Make(
      schema,
      {
          FromJson(arrow::list(arrow::int32()), "[[1, null, 3], [], null]"),
          FromJson(point,
                   R"([{"x": 1, "label": "a"}, {"x": null, "label": "b\"q"}, null])"),
          FromJson(attrs, R"([[["k1", 1], ["k2", null]], [], null])"),
          FromJson(arrow::list(point), R"([[{"x": 7, "label": null}], null, [null]])"),
      });
}

std::shared_ptr<arrow::Table> MixedTable() {
  auto flat = FlatTable()->Slice(0, 3);
  auto nested = NestedTable();
  auto fields = flat->schema()->fields();
  auto columns = flat->columns();
  for (int i = 0; i < nested->num_columns(); ++i) {
    fields.push_back(nested->schema()->field(i));
    columns.push_back(nested->column(i));
  }
  return arrow::Table::Make(arrow::schema(fields), columns);
}

/// Writes `table` (in batches of `batch_rows`) and returns the bytes and the row count.
std::pair<std::shared_ptr<arrow::Buffer>, int64_t> Write(
    const std::shared_ptr<arrow::Table>& table, ResultFormat format,
    int64_t batch_rows = 2) {
  arrow::TableBatchReader reader(*table);
  reader.set_chunksize(batch_rows);
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  auto rows = WriteResult(&reader, format, sink);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  return {sink->Finish().ValueOrDie(), rows.ok() ? *rows : -1};
}

std::string WriteText(const std::shared_ptr<arrow::Table>& table, ResultFormat format,
                      int64_t batch_rows = 2) {
  auto [buffer, rows] = Write(table, format, batch_rows);
  EXPECT_EQ(rows, table->num_rows());
  return buffer->ToString();
}

TEST(ResultWriterTest, ParsesFormatNamesAndRefusesUnknownOnes) {
  EXPECT_EQ(ParseResultFormat("arrow").ValueOrDie(), ResultFormat::kArrowStream);
  EXPECT_EQ(ParseResultFormat("ipc").ValueOrDie(), ResultFormat::kArrowStream);
  EXPECT_EQ(ParseResultFormat("feather").ValueOrDie(), ResultFormat::kArrowFile);
  EXPECT_EQ(ParseResultFormat("parquet").ValueOrDie(), ResultFormat::kParquet);
  EXPECT_EQ(ParseResultFormat("csv").ValueOrDie(), ResultFormat::kCsv);
  EXPECT_EQ(ParseResultFormat("json").ValueOrDie(), ResultFormat::kJson);
  EXPECT_EQ(ParseResultFormat("table").ValueOrDie(), ResultFormat::kTable);
  auto unknown = ParseResultFormat("xml");
  ASSERT_TRUE(unknown.status().IsInvalid());
  EXPECT_NE(unknown.status().message().find("'xml'"), std::string::npos);
}

TEST(ResultWriterTest, ArrowStreamRoundTripsEveryType) {
  auto table = MixedTable();
  auto [buffer, rows] = Write(table, ResultFormat::kArrowStream);
  EXPECT_EQ(rows, 3);
  auto reader = arrow::ipc::RecordBatchStreamReader::Open(
                    std::make_shared<arrow::io::BufferReader>(buffer))
                    .ValueOrDie();
  auto back = reader->ToTable().ValueOrDie();
  EXPECT_TRUE(back->Equals(*table)) << back->ToString();
}

TEST(ResultWriterTest, ArrowFileRoundTripsEveryType) {
  auto table = MixedTable();
  auto [buffer, rows] = Write(table, ResultFormat::kArrowFile);
  EXPECT_EQ(rows, 3);
  auto reader = arrow::ipc::RecordBatchFileReader::Open(
                    std::make_shared<arrow::io::BufferReader>(buffer))
                    .ValueOrDie();
  EXPECT_EQ(reader->num_record_batches(), 2);  // batch by batch, not one blob
  auto back = reader->ToTable().ValueOrDie();
  EXPECT_TRUE(back->Equals(*table)) << back->ToString();
}

TEST(ResultWriterTest, ParquetRoundTripsEveryType) {
  auto table = MixedTable();
  auto [buffer, rows] = Write(table, ResultFormat::kParquet);
  EXPECT_EQ(rows, 3);
  auto reader =
      parquet::arrow::OpenFile(std::make_shared<arrow::io::BufferReader>(buffer),
                               arrow::default_memory_pool())
          .ValueOrDie();
  auto back = reader->ReadTable().ValueOrDie();
  // The stored Arrow schema brings back the exact types (timestamp zone, map, float32).
  EXPECT_TRUE(back->schema()->Equals(*table->schema(), /*check_metadata=*/false))
      << back->schema()->ToString();
  EXPECT_TRUE(back->Equals(*table)) << back->ToString();
  auto metadata = reader->parquet_reader()->metadata();
  EXPECT_EQ(metadata->RowGroup(0)->ColumnChunk(0)->compression(), parquet::Compression::ZSTD);
}

TEST(ResultWriterTest, CsvText) {
  EXPECT_EQ(WriteText(FlatTable(), ResultFormat::kCsv),
            "\"id\",\"score\",\"ratio\",\"name\",\"flag\",\"price\",\"ts\",\"day\"\n"
            "1,1.5,0.1,\"plain\",true,12.34,2024-01-02 03:04:05.123456Z,1970-01-01\n"
            "-2,2,,\"q\"\"b\\n\nt\tc\x01\",false,-0.05,,2022-01-08\n"
            "9007199254740993,-0.25,3,\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",,,"
            "1970-01-01 00:00:00.000000Z,\n"
            ",,-1e-7,,true,9999999999.99,2000-02-29 23:59:59.000000Z,1969-12-31\n");
}

// Blobs as DuckDB's own CSV writes them: Arrow's writer took them for UTF-8 text and
// failed on the first other byte, a body cut after its 200 (hostile run).
TEST(ResultWriterTest, CsvWritesBlobsAsDuckDBDoes) {
  arrow::BinaryBuilder blobs;
  ASSERT_TRUE(blobs.Append(std::string("\xff\x00" "ab\\c\"d'e,f", 12)).ok());
  ASSERT_TRUE(blobs.AppendNull().ok());
  ASSERT_TRUE(blobs.Append(std::string("plain")).ok());
  arrow::FixedSizeBinaryBuilder ids(arrow::fixed_size_binary(2));
  ASSERT_TRUE(ids.Append("\x01~").ok());
  ASSERT_TRUE(ids.Append(" \x80").ok());
  ASSERT_TRUE(ids.AppendNull().ok());
  auto table = arrow::Table::Make(
      arrow::schema({arrow::field("b", arrow::binary()),
                     arrow::field("id", arrow::fixed_size_binary(2))}),
      {blobs.Finish().ValueOrDie(), ids.Finish().ValueOrDie()});
  EXPECT_EQ(WriteText(table, ResultFormat::kCsv),
            "\"b\",\"id\"\n"
            "\"\\xFF\\x00ab\\x5Cc\\x22d\\x27e,f\",\"\\x01~\"\n"
            ",\" \\x80\"\n"
            "\"plain\",\n");
}

// Batches are made into text in pieces on several threads at once: the text is still the
// whole result in its order, exactly what Arrow's own writer makes of it on one thread.
TEST(ResultWriterTest, CsvOfManyBatchesKeepsTheirOrder) {
  arrow::Int64Builder ids;
  arrow::StringBuilder names;
  for (int64_t i = 0; i < 40000; ++i) {
    ASSERT_TRUE(ids.Append(i * 7).ok());
    ASSERT_TRUE(names.Append("row " + std::to_string(i)).ok());
  }
  auto table = arrow::Table::Make(
      arrow::schema({arrow::field("id", arrow::int64()), arrow::field("name", arrow::utf8())}),
      {ids.Finish().ValueOrDie(), names.Finish().ValueOrDie()});
  arrow::TableBatchReader reader(*table);
  reader.set_chunksize(997);  // 41 batches, the last one short
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  EXPECT_EQ(WriteResult(&reader, ResultFormat::kCsv, sink).ValueOrDie(), 40000);
  auto expected = arrow::io::BufferOutputStream::Create().ValueOrDie();
  ASSERT_TRUE(arrow::csv::WriteCSV(*table, arrow::csv::WriteOptions::Defaults(),
                                   expected.get()).ok());
  EXPECT_EQ(sink->Finish().ValueOrDie()->ToString(),
            expected->Finish().ValueOrDie()->ToString());
}

// The same rows as one batch, and as many batches with empty ones among them: the same
// JSON text (a row separator before every row but the result's first).
TEST(ResultWriterTest, JsonOfManyBatchesIsTheTextOfOne) {
  arrow::Int64Builder ids;
  arrow::StringBuilder names;
  for (int64_t i = 0; i < 5000; ++i) {
    ASSERT_TRUE(ids.Append(i).ok());
    ASSERT_TRUE(names.Append("n" + std::to_string(i)).ok());
  }
  auto schema =
      arrow::schema({arrow::field("id", arrow::int64()), arrow::field("name", arrow::utf8())});
  auto whole = arrow::RecordBatch::Make(schema, 5000,
                                        {ids.Finish().ValueOrDie(), names.Finish().ValueOrDie()});
  std::vector<std::shared_ptr<arrow::RecordBatch>> pieces = {whole->Slice(0, 0)};
  for (int64_t offset = 0; offset < 5000; offset += 311) {
    pieces.push_back(whole->Slice(offset, 311));
    pieces.push_back(whole->Slice(offset, 0));
  }
  auto text_of = [&](std::vector<std::shared_ptr<arrow::RecordBatch>> batches) {
    auto reader = arrow::RecordBatchReader::Make(batches, schema).ValueOrDie();
    auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
    EXPECT_EQ(WriteResult(reader.get(), ResultFormat::kJson, sink).ValueOrDie(), 5000);
    return sink->Finish().ValueOrDie()->ToString();
  };
  const std::string one = text_of({whole});
  EXPECT_EQ(one.substr(0, 24), "[\n{\"id\":0,\"name\":\"n0\"},\n");
  EXPECT_EQ(text_of(pieces), one);
}

// The cells written straight from their arrays (numbers, doubles, timestamps with and
// without a zone, strings) read as Arrow's own text of each value: Scalar::ToString,
// quoted where JSON wants a string (timestamps, NaN, infinities).
TEST(ResultWriterTest, JsonCellsAreArrowsTextOfEachValue) {
  auto naive = arrow::timestamp(arrow::TimeUnit::NANO);
  auto zoned = arrow::timestamp(arrow::TimeUnit::MILLI, "Europe/Paris");
  auto schema = arrow::schema({arrow::field("d", arrow::float64()), arrow::field("n", naive),
                               arrow::field("z", zoned), arrow::field("i", arrow::int32())});
  const double kInf = std::numeric_limits<double>::infinity();
  auto doubles = Doubles({0.0, -0.0, 2.0, 4.04e-05, 1e300, std::nan(""), kInf, -kInf,
                          0.1 + 0.2, -123456.789});
  auto stamps = FromJson(naive, R"(["1969-12-31 23:59:59.999999999", "2262-04-11",)"
                                R"( "1677-09-22", "2000-02-29 12:00:00.5", null, "1970-01-01",)"
                                R"( null, "2024-06-30 23:59:59", "1999-01-01", "2001-09-09"])");
  auto zoned_stamps = FromJson(zoned, "[0, -1, 1700000000123, null, 1, 2, 3, 4, 5, 6]");
  auto ints = FromJson(arrow::int32(), "[0, -2147483648, 2147483647, null, 1, 2, 3, 4, 5, 6]");
  auto batch = arrow::RecordBatch::Make(schema, 10, {doubles, stamps, zoned_stamps, ints});
  auto reader = arrow::RecordBatchReader::Make({batch}, schema).ValueOrDie();
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  ASSERT_EQ(WriteResult(reader.get(), ResultFormat::kJson, sink).ValueOrDie(), 10);
  std::string expected = "[";
  for (int r = 0; r < 10; ++r) {
    expected += r ? ",\n{" : "\n{";
    for (int c = 0; c < batch->num_columns(); ++c) {
      auto scalar = batch->column(c)->GetScalar(r).ValueOrDie();
      const std::string text = scalar->ToString();
      const bool quoted = scalar->type->id() == arrow::Type::TIMESTAMP || text == "nan" ||
                          text == "inf" || text == "-inf";
      expected += (c ? ",\"" : "\"") + schema->field(c)->name() + "\":";
      expected += !scalar->is_valid ? "null" : quoted ? "\"" + text + "\"" : text;
    }
    expected += "}";
  }
  EXPECT_EQ(sink->Finish().ValueOrDie()->ToString(), expected + "\n]\n");
}

// A batch read off the wire may have its buffers at any address (an IPC body inside a
// gRPC message): the JSON of values at odd addresses is the JSON of the same values aligned
// (UBSan found the CLI's JSON output loading misaligned int64s in CI).
TEST(ResultWriterTest, JsonOfValuesAtOddAddressesIsTheirJson) {
  auto at_odd_address = [](const std::shared_ptr<arrow::Array>& aligned) {
    const auto& values = *aligned->data()->buffers[1];
    auto bytes = arrow::AllocateBuffer(values.size() + 1).ValueOrDie();
    std::memcpy(bytes->mutable_data() + 1, values.data(), values.size());
    std::shared_ptr<arrow::Buffer> whole = std::move(bytes);
    return arrow::MakeArray(arrow::ArrayData::Make(
        aligned->type(), aligned->length(),
        {aligned->data()->buffers[0], arrow::SliceBuffer(whole, 1, values.size())},
        aligned->null_count()));
  };
  auto schema = arrow::schema({arrow::field("i", arrow::int64()), arrow::field("n", arrow::int32()),
                               arrow::field("d", arrow::float64()),
                               arrow::field("t", arrow::timestamp(arrow::TimeUnit::MICRO))});
  std::vector<std::shared_ptr<arrow::Array>> columns = {
      FromJson(arrow::int64(), "[1, -2, 9007199254740993, null]"),
      FromJson(arrow::int32(), "[7, null, -8, 2147483647]"),
      Doubles({0.5, 2.0, std::nullopt, -1e-7}),
      FromJson(arrow::timestamp(arrow::TimeUnit::MICRO), "[0, 1700000000000000, null, -1]")};
  auto json_of = [&](std::vector<std::shared_ptr<arrow::Array>> arrays) {
    auto batch = arrow::RecordBatch::Make(schema, 4, std::move(arrays));
    auto reader = arrow::RecordBatchReader::Make({batch}, schema).ValueOrDie();
    auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
    EXPECT_EQ(WriteResult(reader.get(), ResultFormat::kJson, sink).ValueOrDie(), 4);
    return sink->Finish().ValueOrDie()->ToString();
  };
  std::vector<std::shared_ptr<arrow::Array>> odd;
  for (const auto& column : columns) {
    odd.push_back(at_odd_address(column));
    ASSERT_NE(reinterpret_cast<uintptr_t>(odd.back()->data()->buffers[1]->data()) % 2, 0u);
  }
  EXPECT_EQ(json_of(odd), json_of(columns));
}

// A result that fails after some batches: their rows go out whole and in order, then the
// marker of a cut CSV, and the sink is aborted (never a clean end).
TEST(ResultWriterTest, ACsvCutByAnErrorEndsWithItsRowsThenTheMarker) {
  class Recording : public arrow::io::OutputStream {
   public:
    arrow::Status Write(const void* data, int64_t nbytes) override {
      text.append(static_cast<const char*>(data), static_cast<size_t>(nbytes));
      return arrow::Status::OK();
    }
    arrow::Status Abort() override {
      aborted = true;
      return arrow::Status::OK();
    }
    arrow::Status Close() override { return arrow::Status::OK(); }
    bool closed() const override { return aborted; }
    arrow::Result<int64_t> Tell() const override { return static_cast<int64_t>(text.size()); }
    std::string text;
    bool aborted = false;
  };
  class FailsAfterTwo : public arrow::RecordBatchReader {
   public:
    std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
    arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
      if (sent_ == 2) return arrow::Status::IOError("query failed midway");
      arrow::Int64Builder ids;
      for (int64_t i = 0; i < 40000; ++i) ARROW_RETURN_NOT_OK(ids.Append(sent_ * 40000 + i));
      ARROW_ASSIGN_OR_RAISE(auto column, ids.Finish());
      *out = arrow::RecordBatch::Make(schema_, 40000, {column});
      ++sent_;
      return arrow::Status::OK();
    }

   private:
    std::shared_ptr<arrow::Schema> schema_ = arrow::schema({arrow::field("id", arrow::int64())});
    int sent_ = 0;
  };
  FailsAfterTwo reader;
  auto sink = std::make_shared<Recording>();
  auto rows = WriteResult(&reader, ResultFormat::kCsv, sink);
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().message(), "query failed midway");
  std::string expected = "\"id\"\n";
  for (int64_t i = 0; i < 80000; ++i) expected += std::to_string(i) + "\n";
  expected += "\n\"arrowport: the result failed here";
  EXPECT_EQ(sink->text, expected);
  EXPECT_TRUE(sink->aborted);
}

// Said before any byte: CSV holds no nested columns, Parquet no unions; the formats that
// hold everything are never refused.
TEST(ResultWriterTest, AFormatThatCannotHoldTheColumnsIsRefusedUpFront) {
  const auto nested = NestedTable()->schema();
  auto csv = CheckFormatFits(nested, ResultFormat::kCsv);
  ASSERT_TRUE(csv.IsInvalid()) << csv.ToString();
  EXPECT_NE(csv.message().find("format 'csv' cannot hold this result"), std::string::npos)
      << csv.message();
  EXPECT_NE(csv.message().find("format=arrow"), std::string::npos);
  EXPECT_TRUE(CheckFormatFits(FlatTable()->schema(), ResultFormat::kCsv).ok());
  EXPECT_TRUE(CheckFormatFits(MixedTable()->schema(), ResultFormat::kParquet).ok());
  auto unions = arrow::schema({arrow::field(
      "u", arrow::sparse_union({arrow::field("a", arrow::int64())}, {0}))});
  EXPECT_TRUE(CheckFormatFits(unions, ResultFormat::kParquet).IsInvalid());
  for (auto format : {ResultFormat::kArrowStream, ResultFormat::kArrowFile,
                      ResultFormat::kJson}) {
    EXPECT_TRUE(CheckFormatFits(nested, format).ok());
    EXPECT_TRUE(CheckFormatFits(unions, format).ok());
  }
}

TEST(ResultWriterTest, CsvRefusesNestedColumnsWithAnError) {
  auto nested = NestedTable();
  arrow::TableBatchReader reader(*nested);
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  EXPECT_FALSE(WriteResult(&reader, ResultFormat::kCsv, sink).ok());
}

// The exact JSON text: `[`, one object per row on its own line, `\n]\n`.
constexpr const char* kFlatJson =
    "[\n"
    R"({"id":1,"score":1.5,"ratio":0.1,"name":"plain","flag":true,"price":12.34,)"
    R"("ts":"2024-01-02 03:04:05.123456Z","day":"1970-01-01"},)"
    "\n"
    R"({"id":-2,"score":2,"ratio":null,"name":"q\"b\\n\nt\tc\u0001","flag":false,)"
    R"("price":-0.05,"ts":null,"day":"2022-01-08"},)"
    "\n"
    R"({"id":9007199254740993,"score":-0.25,"ratio":3,)"
    "\"name\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
    R"("flag":null,"price":null,"ts":"1970-01-01 00:00:00.000000Z","day":null},)"
    "\n"
    R"({"id":null,"score":null,"ratio":-1e-7,"name":null,"flag":true,)"
    R"("price":9999999999.99,"ts":"2000-02-29 23:59:59.000000Z","day":"1969-12-31"})"
    "\n]\n";

constexpr const char* kNestedJson =
    "[\n"
    R"({"tags":[1,null,3],"point":{"x":1,"label":"a"},)"
    R"("attrs":[{"key":"k1","value":1},{"key":"k2","value":null}],)"
    R"("nested":[{"x":7,"label":null}]},)"
    "\n"
    R"({"tags":[],"point":{"x":null,"label":"b\"q"},"attrs":[],"nested":null},)"
    "\n"
    R"({"tags":null,"point":null,"attrs":null,"nested":[null]})"
    "\n]\n";

TEST(ResultWriterTest, JsonTextOfFlatColumns) {
  EXPECT_EQ(WriteText(FlatTable(), ResultFormat::kJson), kFlatJson);
  // Batch boundaries do not show in the output.
  EXPECT_EQ(WriteText(FlatTable(), ResultFormat::kJson, /*batch_rows=*/1), kFlatJson);
  EXPECT_EQ(WriteText(FlatTable(), ResultFormat::kJson, /*batch_rows=*/100), kFlatJson);
}

TEST(ResultWriterTest, JsonTextOfNestedColumns) {
  EXPECT_EQ(WriteText(NestedTable(), ResultFormat::kJson), kNestedJson);
}

TEST(ResultWriterTest, JsonParsesBackToTheValues) {
  auto doc = nlohmann::json::parse(WriteText(MixedTable(), ResultFormat::kJson));
  ASSERT_TRUE(doc.is_array());
  ASSERT_EQ(doc.size(), 3u);
  const auto& first = doc[0];
  std::vector<std::string> keys;
  for (const auto& item : first.items()) keys.push_back(item.key());
  EXPECT_EQ(first.size(), 12u);
  // Numbers are numbers, exact for 64-bit integers.
  EXPECT_TRUE(first["id"].is_number_integer());
  EXPECT_EQ(doc[2]["id"].get<int64_t>(), 9007199254740993);
  EXPECT_DOUBLE_EQ(first["score"].get<double>(), 1.5);
  EXPECT_TRUE(first["price"].is_number());
  EXPECT_DOUBLE_EQ(first["price"].get<double>(), 12.34);
  EXPECT_EQ(doc[1]["name"].get<std::string>(), "q\"b\\n\nt\tc\x01");
  EXPECT_EQ(doc[2]["name"].get<std::string>(), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_TRUE(first["flag"].is_boolean());
  EXPECT_TRUE(doc[2]["flag"].is_null());
  // Timestamps and dates are strings.
  EXPECT_EQ(first["ts"].get<std::string>(), "2024-01-02 03:04:05.123456Z");
  // Lists are arrays, structs objects, maps arrays of {key, value}.
  EXPECT_EQ(first["tags"], nlohmann::json::parse("[1, null, 3]"));
  EXPECT_EQ(first["point"], nlohmann::json::parse(R"({"x": 1, "label": "a"})"));
  EXPECT_EQ(first["attrs"],
            nlohmann::json::parse(
                R"([{"key": "k1", "value": 1}, {"key": "k2", "value": null}])"));
  EXPECT_TRUE(doc[2]["tags"].is_null());
}

TEST(ResultWriterTest, JsonWritesNaNAndInfinityAsStrings) {
  auto schema = arrow::schema({arrow::field("d", arrow::float64()),
                               arrow::field("f", arrow::float32())});
  arrow::FloatBuilder floats;
  constexpr float kFloatInf = std::numeric_limits<float>::infinity();
  for (float v : {std::numeric_limits<float>::quiet_NaN(), kFloatInf, -kFloatInf, 0.5f}) {
    ASSERT_TRUE(floats.Append(v).ok());
  }
  auto table = arrow::Table::Make(
      schema, {Doubles({kNaN, kInf, -kInf, 1e300}), floats.Finish().ValueOrDie()});
  const std::string text = WriteText(table, ResultFormat::kJson);
  EXPECT_EQ(text,
            "[\n"
            R"({"d":"nan","f":"nan"},)" "\n"
            R"({"d":"inf","f":"inf"},)" "\n"
            R"({"d":"-inf","f":"-inf"},)" "\n"
            R"({"d":1e+300,"f":0.5})" "\n"
            "]\n");
  EXPECT_TRUE(nlohmann::json::accept(text));
}

TEST(ResultWriterTest, JsonOfNoRowsIsAnEmptyArray) {
  auto table = FlatTable()->Slice(0, 0);
  EXPECT_EQ(WriteText(table, ResultFormat::kJson), "[]\n");
}

TEST(ResultWriterTest, JsonKeepsColumnOrderAndDuplicateNames) {
  // SELECT 2 AS b, 1 AS a, 3 AS b: every column is written, in result order.
  auto schema = arrow::schema({arrow::field("b", arrow::int64()),
                               arrow::field("a", arrow::int64()),
                               arrow::field("b", arrow::int64())});
  auto table = arrow::Table::Make(schema, {FromJson(arrow::int64(), "[2]"),
                                           FromJson(arrow::int64(), "[1]"),
                                           FromJson(arrow::int64(), "[3]")});
  EXPECT_EQ(WriteText(table, ResultFormat::kJson), "[\n{\"b\":2,\"a\":1,\"b\":3}\n]\n");
}

TEST(ResultWriterTest, JsonEscapesColumnNamesAndKeepsItValidUtf8) {
  // Arrow strings should be UTF-8, but binary columns and names carry any bytes. A blob is
  // written as DuckDB's text of it (\xHH), whose bytes come back; not as U+FFFD.
  auto schema = arrow::schema({arrow::field("we\"ird\n\xff", arrow::utf8()),
                               arrow::field("bin", arrow::binary())});
  arrow::StringBuilder strings;
  ASSERT_TRUE(strings.Append("bad \xc3 byte").ok());
  arrow::BinaryBuilder binary;
  ASSERT_TRUE(binary.Append(std::string("\x01\xfe", 2)).ok());
  auto table = arrow::Table::Make(schema, {strings.Finish().ValueOrDie(),
                                           binary.Finish().ValueOrDie()});
  const std::string text = WriteText(table, ResultFormat::kJson);
  EXPECT_EQ(text,
            "[\n{\"we\\\"ird\\n\xef\xbf\xbd\":\"bad \xef\xbf\xbd byte\","
            "\"bin\":\"\\\\x01\\\\xFE\"}\n]\n");
  auto doc = nlohmann::json::parse(text);
  EXPECT_EQ(doc[0]["bin"].get<std::string>(), "\\x01\\xFE");
}

TEST(ResultWriterTest, JsonEscapesEveryControlCharacter) {
  auto table = arrow::Table::Make(
      arrow::schema({arrow::field("s", arrow::utf8())}),
      {FromJson(arrow::utf8(), R"(["\b\f\r\u001f\u007f/"])")});
  const std::string text = WriteText(table, ResultFormat::kJson);
  EXPECT_EQ(text, "[\n{\"s\":\"\\b\\f\\r\\u001f\x7f/\"}\n]\n");
  EXPECT_EQ(nlohmann::json::parse(text)[0]["s"].get<std::string>(), "\b\f\r\x1f\x7f/");
}

TEST(ResultWriterTest, TheTableFormatIsTheCliS) {
  auto table = arrow::Table::Make(arrow::schema({arrow::field("x", arrow::int64())}),
                                  {FromJson(arrow::int64(), "[1]")});
  arrow::TableBatchReader reader(*table);
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  EXPECT_TRUE(WriteResult(&reader, ResultFormat::kTable, sink).status().IsInvalid());
}

TEST(ResultWriterTest, AnErrorFromTheReaderFailsTheWrite) {
  auto schema = arrow::schema({arrow::field("x", arrow::int64())});
  class Failing : public arrow::RecordBatchReader {
   public:
    explicit Failing(std::shared_ptr<arrow::Schema> schema)
        : schema_(std::move(schema)) {}
    std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
    arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
      if (sent_) return arrow::Status::IOError("query failed midway");
      sent_ = true;
      *out = arrow::RecordBatch::Make(schema_, 1, {FromJson(arrow::int64(), "[1]")});
      return arrow::Status::OK();
    }
   private:
    std::shared_ptr<arrow::Schema> schema_;
    bool sent_ = false;
  };
  for (auto format : {ResultFormat::kArrowStream, ResultFormat::kArrowFile,
                      ResultFormat::kParquet, ResultFormat::kCsv, ResultFormat::kJson}) {
    Failing reader(schema);
    auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
    auto rows = WriteResult(&reader, format, sink);
    ASSERT_FALSE(rows.ok()) << static_cast<int>(format);
    EXPECT_EQ(rows.status().message(), "query failed midway");
  }
}

}  // namespace result_writer_test
}  // namespace arrowport::query
