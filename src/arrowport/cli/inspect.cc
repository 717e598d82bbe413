#include "arrowport/cli/inspect.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "arrowport/cli/client.h"
#include "arrowport/cli/commands.h"
#include "arrowport/cli/human_format.h"
#include "arrowport/cli/text_table.h"

namespace arrowport::cli {

namespace {

using json = nlohmann::json;

constexpr int kUsageError = 2;

// Table output: asked for, or chosen because stdout is a terminal.
arrow::Result<bool> WantsTable(const std::string& format) {
  if (format == "table") return true;
  if (format == "json") return false;
  if (format.empty()) return ::isatty(STDOUT_FILENO) != 0;
  return arrow::Status::Invalid("--format must be table or json, got '", format, "'");
}

int64_t Int(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<int64_t>() : 0;
}

std::string Str(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// The rates of the last `seconds` as one line of block characters, one per `step` seconds.
std::string Sparkline(const json& series, size_t seconds, size_t step) {
  static const char* kBlocks[] = {" ", "\xE2\x96\x81", "\xE2\x96\x82", "\xE2\x96\x83",
                                  "\xE2\x96\x84", "\xE2\x96\x85", "\xE2\x96\x86",
                                  "\xE2\x96\x87", "\xE2\x96\x88"};
  if (!series.is_array() || series.empty()) return "";
  const size_t n = series.size();
  const size_t from = n > seconds ? n - seconds : 0;
  std::vector<double> sums;
  for (size_t i = from; i < n; i += step) {
    double sum = 0;
    for (size_t j = i; j < std::min(n, i + step); ++j) {
      sum += series[j].is_number() ? series[j].get<double>() : 0;
    }
    sums.push_back(sum);
  }
  const double max = *std::max_element(sums.begin(), sums.end());
  std::string out;
  for (const double sum : sums) {
    out += kBlocks[max <= 0 ? 0 : sum <= 0 ? 0 : 1 + static_cast<int>((sum / max) * 7.999)];
  }
  return out;
}

double RecentRate(const json& series, size_t seconds) {
  if (!series.is_array() || series.empty()) return 0;
  const size_t n = std::min(series.size(), seconds);
  double sum = 0;
  for (size_t i = series.size() - n; i < series.size(); ++i) {
    sum += series[i].is_number() ? series[i].get<double>() : 0;
  }
  return sum / static_cast<double>(n);
}

int Print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace

int RunTables(const InspectArgs& args) {
  auto table_output = WantsTable(args.format);
  if (!table_output.ok()) return Fail(table_output.status(), kUsageError);
  auto conn = FlightConnection::Connect(args.server_url, args.tls_ca);
  if (!conn.ok()) return Fail(conn.status());
  auto tables = (*conn)->ListTables();
  if (!tables.ok()) return Fail(tables.status());
  if (*table_output) {
    TextTable out({"name", "rows", "columns"}, {false, true, false});
    for (const auto& t : *tables) {
      std::string columns = t.schema;  // Arrow writes a field per line
      for (size_t at = columns.find('\n'); at != std::string::npos; at = columns.find('\n')) {
        columns.replace(at, 1, ", ");
      }
      out.Add({t.name, t.rows < 0 ? "-" : Grouped(t.rows), columns});
    }
    return Print(out.Render(StdoutLimits(), /*count_line=*/false));
  }
  if (args.format == "json") {
    json list = json::array();
    for (const auto& t : *tables) {
      list.push_back({{"name", t.name}, {"rows", t.rows}, {"schema", t.schema}});
    }
    return Print(json{{"tables", list}}.dump(2) + "\n");
  }
  for (const auto& t : *tables) {
    std::printf("%s\t%lld rows\n", t.name.c_str(), static_cast<long long>(t.rows));
  }
  return 0;
}

int RunStreams(const InspectArgs& args) {
  auto table_output = WantsTable(args.format);
  if (!table_output.ok()) return Fail(table_output.status(), kUsageError);
  auto conn = FlightConnection::Connect(args.server_url, args.tls_ca);
  if (!conn.ok()) return Fail(conn.status());
  auto body = (*conn)->Action("list_streams");
  if (!body.ok()) return Fail(body.status());
  auto doc = json::parse(*body, nullptr, false);
  if (doc.is_discarded() || !doc.contains("streams")) return Print(*body + "\n");
  if (!*table_output) return Print(doc.dump(2) + "\n");
  TextTable out({"stream", "table", "commit", "schema_policy", "rows", "batches", "requests",
                 "errors", "last write"},
                {false, false, false, false, true, true, true, true, false});
  for (const auto& s : doc["streams"]) {
    out.Add({Str(s, "stream"), Str(s, "target_table"), Str(s, "commit"),
             Str(s, "schema_policy"), Grouped(Int(s, "rows")), Grouped(Int(s, "batches")),
             Grouped(Int(s, "requests")), Grouped(Int(s, "errors")), Str(s, "last_write")});
  }
  return Print(out.Render(StdoutLimits(), /*count_line=*/false));
}

std::string StatusText(const std::string& status_json, size_t width) {
  auto s = json::parse(status_json, nullptr, false);
  if (!s.is_object()) return status_json + "\n";
  const TextTableLimits limits{width, 0};
  std::string out = "Arrowport " + Str(s, "version") + " (DuckDB " + Str(s, "duckdb_version") +
                    ", Arrow " + Str(s, "arrow_version") + "), up " +
                    Duration(s.value("uptime_s", 0.0)) + "\n";
  const json listeners = s.value("listeners", json::object());
  for (const auto& [name, label] : {std::pair<const char*, const char*>{"flight", "Flight  "},
                                    {"http", "HTTP    "},
                                    {"metrics", "Metrics "}}) {
    const std::string url = Str(listeners, name);
    if (!url.empty()) out += std::string(label) + " " + url + "\n";
  }
  const json db = s.value("database", json::object());
  const json process = s.value("process", json::object());
  out += "Database " + Str(db, "path") + ", " +
         HumanBytes(static_cast<double>(Int(db, "size_bytes"))) +
         (Int(db, "wal_bytes") ? " + WAL " + HumanBytes(static_cast<double>(Int(db, "wal_bytes")))
                               : std::string()) +
         "; DuckDB memory " + HumanBytes(static_cast<double>(Int(db, "memory_bytes"))) + " of " +
         Str(db, "memory_limit") + "; process RSS " +
         HumanBytes(static_cast<double>(Int(process, "rss_bytes"))) + "\n";

  out += "\nStreams (rows/s over the last 10 s; chart: last 5 minutes)\n";
  TextTable streams({"stream", "table", "commit", "rows", "rows/s", "last 5 minutes",
                     "requests", "errors", "last write"},
                    {false, false, false, true, true, false, true, true, false});
  for (const auto& st : s.value("streams", json::array())) {
    const json series = st.value("rows_per_second", json::array());
    streams.Add({Str(st, "stream"), Str(st, "target_table"), Str(st, "commit"),
                 Grouped(Int(st, "rows")), HumanCount(RecentRate(series, 10)),
                 Sparkline(series, 300, 10), Grouped(Int(st, "requests")),
                 Grouped(Int(st, "errors")), Str(st, "last_write")});
  }
  out += streams.rows() ? streams.Render(limits, false) : "  none yet\n";

  out += "\nTables\n";
  TextTable tables({"name", "kind", "rows", "size"}, {false, false, true, true});
  for (const auto& t : s.value("tables", json::array())) {
    const int64_t rows = Int(t, "rows"), bytes = Int(t, "bytes");
    tables.Add({Str(t, "name"), Str(t, "kind"), rows < 0 ? "-" : Grouped(rows),
                bytes < 0 ? "-" : HumanBytes(static_cast<double>(bytes))});
  }
  out += tables.rows() ? tables.Render(limits, false) : "  none\n";

  out += "\nActive requests\n";
  TextTable calls({"protocol", "method", "user", "target", "rows", "bytes", "running"},
                  {false, false, false, false, true, true, true});
  for (const auto& c : s.value("active_calls", json::array())) {
    calls.Add({Str(c, "protocol"), Str(c, "method"), Str(c, "user"), Str(c, "target"),
               Grouped(Int(c, "rows")), HumanBytes(static_cast<double>(Int(c, "bytes"))),
               Duration(c.value("seconds", 0.0))});
  }
  out += calls.rows() ? calls.Render(limits, false) : "  none\n";

  const json errors = s.value("recent_errors", json());
  out += "\nRecent errors\n";
  if (!errors.is_array()) {
    out += "  shown to admins\n";
  } else if (errors.empty()) {
    out += "  none\n";
  } else {
    TextTable table({"time", "protocol", "method", "code", "user", "message"});
    for (const auto& e : errors) {
      table.Add({Str(e, "time"), Str(e, "protocol"), Str(e, "method"), Str(e, "code"),
                 Str(e, "user"), Str(e, "message")});
    }
    out += table.Render(limits, false);
  }
  return out;
}

int RunStatus(const InspectArgs& args) {
  if (!args.format.empty() && args.format != "table" && args.format != "json") {
    return Fail(arrow::Status::Invalid("--format must be table or json, got '", args.format,
                                       "'"),
                kUsageError);
  }
  auto conn = ConnectDataClient(args.server_url, args.tls_ca);
  if (!conn.ok()) return Fail(conn.status());
  auto status = (*conn)->Status();
  if (!status.ok()) return Fail(status.status());
  if (args.format == "json") return Print(*status + "\n");
  return Print(StatusText(*status, StdoutLimits().width));
}

}  // namespace arrowport::cli
