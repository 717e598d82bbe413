#include "arrowport/cli/text_table.h"

#include <gtest/gtest.h>

#include <sstream>

#include "arrowport/cli/inspect.h"
#include "arrowport/cli/progress.h"

namespace arrowport::cli {
namespace {

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

TEST(ProgressTest, TheLineSaysRowsBytesRateAndTime) {
  EXPECT_EQ(Progress::Line("ingesting a.parquet", true, 2500000, 100 << 20, 2.0),
            "ingesting a.parquet: 2,500,000 rows, 100.0 MiB, 1.25 M rows/s, 50.0 MiB/s, 0:02");
  EXPECT_EQ(Progress::Line("copying t", false, 0, 0, 3725), "copying t: 1:02:05");
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

}  // namespace
}  // namespace arrowport::cli
