#include "arrowport/cli/text_table.h"

#include <gtest/gtest.h>

#include <functional>
#include <sstream>

#include "arrow/api.h"
#include "arrow/io/memory.h"
#include "arrow/json/from_string.h"
#include "arrowport/cli/human_format.h"
#include "arrowport/cli/inspect.h"
#include "arrowport/cli/progress.h"
#include "arrowport/cli/terminal_text.h"

namespace arrowport::cli {
namespace text_table_test {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(TextTableTest, AlignsColumnsAndNumbers) {
  TextTable table({"name", "rows"}, {false, true});
  table.Add({"sensors", "1,000"});
  table.Add({"x", "7"});
  EXPECT_EQ(table.Render({}), "name    | rows\n"
                              "--------+------\n"
                              "sensors | 1,000\n"
                              "x       |     7\n"
                              "(2 rows)\n");
}

TEST(TextTableTest, FitsTheWidthByCuttingTheWidestColumns) {
  TextTable table({"id", "text"});
  table.Add({"1", std::string(100, 'a')});
  table.Add({"2", "short"});
  const auto lines = Lines(table.Render({30, 0}));
  for (const auto& line : lines) EXPECT_LE(DisplayWidth(line), 30u) << line;
  EXPECT_EQ(lines[2], "1  | " + std::string(24, 'a') + "\xE2\x80\xA6");
  EXPECT_EQ(lines[3], "2  | short");
}

TEST(TextTableTest, LeavesOutColumnsThatCannotFitAndSaysWhich) {
  TextTable table({"a", "b", "c", "d"});
  table.Add({"aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc", "dddddddddd"});
  const auto lines = Lines(table.Render({20, 0}, /*count_line=*/false));
  for (const auto& line : lines) EXPECT_LE(DisplayWidth(line), 20u) << line;
  EXPECT_NE(lines.back().find("more column"), std::string::npos) << lines.back();
}

TEST(TextTableTest, ARowLimitShowsTheFirstAndLastRows) {
  TextTable table({"n"}, {true});
  table.KeepRows(4);
  for (int i = 0; i < 100; ++i) table.Add({std::to_string(i)});
  const auto lines = Lines(table.Render({0, 4}));
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_EQ(lines[2], " 0");
  EXPECT_EQ(lines[3], " 1");
  EXPECT_EQ(lines[4], "\xE2\x80\xA6");
  EXPECT_EQ(lines[5], "98");
  EXPECT_EQ(lines[6], "99");
  EXPECT_EQ(lines[7], "(100 rows, 4 shown)");
}

TEST(TextTableTest, CountsCharactersNotBytesAndFlattensLineBreaks) {
  TextTable table({"city"});
  table.Add({"Zürich\nnorth"});
  table.Add({"Oslo"});
  const auto lines = Lines(table.Render({}, false));
  EXPECT_EQ(lines[1], "------------");
  EXPECT_EQ(lines[2], "Zürich north");
  EXPECT_EQ(DisplayWidth(lines[2]), 12u);
}

TEST(TerminalTextTest, ControlsAndBrokenUtf8NeverReachTheTerminal) {
  // C0 (escape, bell, line breaks), DEL and C1 (U+009B, a one-character CSI) become spaces.
  EXPECT_EQ(Printable("a\x1b]0;title\x07" "b\nc\x7f\xc2\x9b" "2J"), "a ]0;title b c  2J");
  // Bytes that are not UTF-8 (a BLOB's, an overlong form) become U+FFFD.
  EXPECT_EQ(Printable("\xff\xfe"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(Printable("\xc0\xaf"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(Printable("Zürich 東京 🙂"), "Zürich 東京 🙂");
}

TEST(TerminalTextTest, LinesKeepTheirBreaksAndLoseTheirControls) {
  EXPECT_EQ(PrintableLines("\"a\x1b[31m\",1\r\nb\x07,2\n"), "\"a [31m\",1 \nb ,2\n");
  EXPECT_EQ(PrintableLines("\n\nend"), "\n\nend");
  EXPECT_EQ(PrintableLines(""), "");
}

TEST(TerminalTextTest, WidthsCountTerminalColumns) {
  EXPECT_EQ(DisplayWidth("Zürich"), 6u);
  EXPECT_EQ(DisplayWidth("東京"), 4u);
  EXPECT_EQ(DisplayWidth("🙂"), 2u);
  EXPECT_EQ(DisplayWidth("e\xcc\x81"), 1u);  // e + a combining acute accent
  EXPECT_EQ(CutToWidth("東京タワー", 5), "東京\xE2\x80\xA6");
  EXPECT_EQ(CutToWidth("short", 10), "short");
}

TEST(TextTableTest, WithoutLimitsLongResultsAreWrittenAsTheyCome) {
  auto schema = arrow::schema({arrow::field("n", arrow::int64()),
                               arrow::field("s", arrow::utf8())});
  arrow::Int64Builder numbers;
  arrow::StringBuilder strings;
  for (int64_t i = 0; i < 2500; ++i) {
    ASSERT_TRUE(numbers.Append(i).ok());
    ASSERT_TRUE(strings.Append(i == 2000 ? std::string(50, 'w') : "x").ok());
  }
  auto batch = arrow::RecordBatch::Make(schema, 2500, {numbers.Finish().ValueOrDie(),
                                                      strings.Finish().ValueOrDie()});
  auto reader = arrow::RecordBatchReader::Make({batch}, schema).ValueOrDie();
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  auto rows = WriteTextTable(reader.get(), sink, {});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, 2500);
  const auto lines = Lines(sink->Finish().ValueOrDie()->ToString());
  ASSERT_EQ(lines.size(), 2503u);
  EXPECT_EQ(lines[0], "n   | s");
  EXPECT_EQ(lines[2], "  0 | x");
  // Widths come from the first 1,000 rows; a later, longer value is written whole.
  EXPECT_EQ(lines[2002], "2000 | " + std::string(50, 'w'));
  EXPECT_EQ(lines.back(), "(2500 rows)");
}

std::string WriteTable(const std::shared_ptr<arrow::Table>& table, TextTableLimits limits) {
  arrow::TableBatchReader reader(*table);
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  auto rows = WriteTextTable(&reader, sink, limits);
  EXPECT_TRUE(rows.ok()) << rows.status();
  return sink->Finish().ValueOrDie()->ToString();
}

std::shared_ptr<arrow::Array> Json(const std::shared_ptr<arrow::DataType>& type,
                                   const std::string& json) {
  return arrow::json::ArrayFromJSONString(type, json).ValueOrDie();
}

TEST(TextTableTest, WritesAResultWithNullsListsAndARowCount) {
  auto table = arrow::Table::Make(
      arrow::schema({arrow::field("id", arrow::int64()),
                     arrow::field("long_name", arrow::utf8()),
                     arrow::field("tags", arrow::list(arrow::int32()))}),
      {Json(arrow::int64(), "[1, 22222, null]"),
       Json(arrow::utf8(), R"(["x", null, "a longer value"])"),
       Json(arrow::list(arrow::int32()), "[[1, 2], null, []]")});
  EXPECT_EQ(WriteTable(table, {}),
            "id    | long_name      | tags\n"
            "------+----------------+------------------------\n"
            "    1 | x              | list<item: int32>[1, 2]\n"
            "22222 | NULL           | NULL\n"
            " NULL | a longer value | list<item: int32>[]\n"
            "(3 rows)\n");
  EXPECT_EQ(WriteTable(table->Slice(0, 0), {}),
            "id | long_name | tags\n"
            "---+-----------+-----\n"
            "(0 rows)\n");
}

TEST(TextTableTest, AnErrorFromTheReaderFailsTheWrite) {
  auto schema = arrow::schema({arrow::field("x", arrow::int64())});
  class Failing : public arrow::RecordBatchReader {
   public:
    explicit Failing(std::shared_ptr<arrow::Schema> schema) : schema_(std::move(schema)) {}
    std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
    arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
      return arrow::Status::IOError("query failed midway");
    }

   private:
    std::shared_ptr<arrow::Schema> schema_;
  };
  Failing reader(schema);
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  auto rows = WriteTextTable(&reader, sink, {});
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().message(), "query failed midway");
}

// Batches of 0..total-1 in `sizes`, one row each, handed out one at a time; `before_each`
// runs before each batch is given (and once more before the end).
class CountingBatches : public arrow::RecordBatchReader {
 public:
  CountingBatches(std::vector<int64_t> sizes, std::function<void(size_t)> before_each)
      : sizes_(std::move(sizes)), before_each_(std::move(before_each)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    before_each_(next_);
    if (next_ == sizes_.size()) {
      *out = nullptr;
      return arrow::Status::OK();
    }
    arrow::Int64Builder numbers;
    for (int64_t i = 0; i < sizes_[next_]; ++i) ARROW_RETURN_NOT_OK(numbers.Append(first_ + i));
    first_ += sizes_[next_];
    ARROW_ASSIGN_OR_RAISE(auto column, numbers.Finish());
    *out = arrow::RecordBatch::Make(schema_, sizes_[next_++], {column});
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::Schema> schema_ = arrow::schema({arrow::field("n", arrow::int64())});
  std::vector<int64_t> sizes_;
  std::function<void(size_t)> before_each_;
  size_t next_ = 0;
  int64_t first_ = 0;
};

// A long result on a terminal: its first rows are written as soon as rows are sure to be
// left out, not when the result ends; the last rows and the count follow at the end.
TEST(TextTableTest, ARowLimitWritesTheFirstRowsBeforeTheResultEnds) {
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  std::vector<std::string> written_before;  // what the sink held before each batch
  CountingBatches reader({3, 1, 50, 7, 39}, [&](size_t) {
    auto tell = sink->Tell().ValueOrDie();
    written_before.push_back(std::to_string(tell));
  });
  auto rows = WriteTextTable(&reader, sink, {0, 4});
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, 100);
  // Nothing before 5 rows came; the header and two first rows once they had (after the
  // third batch), nothing more until the end.
  ASSERT_EQ(written_before.size(), 6u);
  EXPECT_EQ(written_before[0], "0");
  EXPECT_EQ(written_before[2], "0");
  EXPECT_EQ(written_before[3], std::to_string(std::string("n\n-\n0\n1\n").size()));
  EXPECT_EQ(written_before[5], written_before[3]);
  // The last rows were not measured with the first: wider, they push their line.
  EXPECT_EQ(sink->Finish().ValueOrDie()->ToString(),
            "n\n-\n0\n1\n\xE2\x80\xA6\n98\n99\n(100 rows, 4 shown)\n");
}

TEST(TextTableTest, ARowLimitCountsEveryRowWhateverTheBatches) {
  for (const std::vector<int64_t>& sizes :
       std::vector<std::vector<int64_t>>{{100}, {1, 1, 98}, {97, 1, 1, 1}, {2, 2, 96}, {5}}) {
    int64_t total = 0;
    for (int64_t size : sizes) total += size;
    CountingBatches reader(sizes, [](size_t) {});
    auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
    auto rows = WriteTextTable(&reader, sink, {0, 4});
    ASSERT_TRUE(rows.ok()) << rows.status();
    EXPECT_EQ(*rows, total);
    const auto lines = Lines(sink->Finish().ValueOrDie()->ToString());
    if (total > 4) {
      ASSERT_EQ(lines.size(), 8u);
      EXPECT_EQ(lines[5], std::to_string(total - 2));
      EXPECT_EQ(lines[6], std::to_string(total - 1));
      EXPECT_EQ(lines[7], "(" + std::to_string(total) + " rows, 4 shown)");
    } else {
      EXPECT_EQ(lines.back(), "(" + std::to_string(total) + " rows)");
    }
  }
}

TEST(HumanFormatTest, GroupsEveryInt64) {
  EXPECT_EQ(Grouped(0), "0");
  EXPECT_EQ(Grouped(-1234567), "-1,234,567");
  EXPECT_EQ(Grouped(INT64_MIN), "-9,223,372,036,854,775,808");
}

TEST(StatusTextTest, AMalformedAnswerIsReadAsNothing) {
  for (const char* answer :
       {R"({"uptime_s": "x"})", R"({"streams": [1, 2, "a", null]})",
        R"({"streams": [{"stream": "s", "rows_per_second": [1e308, 1e308, 1e308]}]})",
        R"({"tables": [{"name": "t", "rows": 1e300, "bytes": -1e300}]})",
        R"({"version": "[2J", "listeners": [1]})", R"([1, 2])", "not json"}) {
    std::string text;
    try {
      text = StatusText(answer, 80);
    } catch (const std::exception& e) {
      ADD_FAILURE() << answer << ": " << e.what();
    }
    EXPECT_EQ(text.find('\x1b'), std::string::npos) << answer;
  }
}

TEST(ProgressTest, TheLineSaysRowsBytesRateAndTime) {
  EXPECT_EQ(Progress::Line("ingesting a.parquet", true, 2500000, 100 << 20, 2.0),
            "ingesting a.parquet: 2,500,000 rows, 100.0 MiB, 1.25 M rows/s, 50.0 MiB/s, 0:02");
  EXPECT_EQ(Progress::Line("copying t", false, 0, 0, 3725), "copying t: 1:02:05");
}

TEST(ProgressTest, BeforeTheFirstRowTheLineSaysHowFarTheQueryIs) {
  EXPECT_EQ(Progress::Line("query", true, 0, 0, 7.0, 42.4),
            "query: 42% of the query done, 0:07");
  // Once rows come, they are the news.
  EXPECT_EQ(Progress::Line("query", true, 10, 80, 2.0, 99.0),
            "query: 10 rows, 80 B, 5 rows/s, 40 B/s, 0:02");
}

TEST(StatusTextTest, SummarisesTheStatusJson) {
  const std::string json = R"({"version": "0.1.0", "duckdb_version": "v2.0.0",
    "arrow_version": "25.0.0", "uptime_s": 125,
    "listeners": {"flight": "grpc://h:1", "http": "http://h:2", "metrics": null},
    "database": {"path": "a.duckdb", "size_bytes": 1048576, "wal_bytes": 0,
                 "memory_bytes": 2048, "memory_limit": "1.0 GiB"},
    "process": {"rss_bytes": 10485760},
    "streams": [{"stream": "sensors", "target_table": "readings", "commit": "per_batch",
                 "rows": 1200, "requests": 3, "errors": 1, "last_write": "2026-11-23T10:00:00Z",
                 "rows_per_second": [0, 0, 100, 100]}],
    "tables": [{"name": "readings", "kind": "table", "rows": 1200, "bytes": 262144}],
    "active_calls": [], "recent_errors": null})";
  const std::string text = StatusText(json, 200);
  EXPECT_NE(text.find("Arrowport 0.1.0 (DuckDB v2.0.0, Arrow 25.0.0), up 2m 05s"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Flight   grpc://h:1"), std::string::npos);
  EXPECT_EQ(text.find("Metrics"), std::string::npos);
  EXPECT_NE(text.find("sensors | readings | per_batch | 1,200 |"), std::string::npos);
  EXPECT_NE(text.find("readings | table | 1,200 | 256.0 KiB"), std::string::npos);
  EXPECT_NE(text.find("shown to admins"), std::string::npos);
}

}  // namespace text_table_test
}  // namespace arrowport::cli
