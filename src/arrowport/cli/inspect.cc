#include "arrowport/cli/inspect.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "arrowport/cli/client.h"
#include "arrowport/cli/exit_status.h"
#include "arrowport/cli/human_format.h"
#include "arrowport/cli/terminal_text.h"
#include "arrowport/cli/text_table.h"

namespace arrowport::cli {

namespace {

using json = nlohmann::json;

// Table output: asked for, or chosen because stdout is a terminal.
arrow::Result<bool> WantsTable(const std::string& format) {
  if (format == "table") return true;
  if (format == "json") return false;
  if (format.empty()) return ::isatty(STDOUT_FILENO) != 0;
  return arrow::Status::Invalid("--format must be table or json, got '", format, "'");
}

// A server's answer is read defensively: a field of another type, or a value out of range,
// reads as nothing (0, "", null), never as an exception or undefined behaviour.
const json& Member(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  const auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

double Num(const json& object, const char* key) {
  const json& value = Member(object, key);
  const double number = value.is_number() ? value.get<double>() : 0;
  return std::isfinite(number) ? number : 0;
}

int64_t Int(const json& object, const char* key) {
  const json& value = Member(object, key);
  if (value.is_number_unsigned()) {
    const auto n = value.get<uint64_t>();
    return n <= static_cast<uint64_t>(INT64_MAX) ? static_cast<int64_t>(n) : 0;
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  const double number = Num(object, key);
  return std::fabs(number) < 9.2e18 ? static_cast<int64_t>(number) : 0;
}

// Strings are made Printable: an answer can neither break lines nor drive the terminal.
std::string Str(const json& object, const char* key) {
  const json& value = Member(object, key);
  return value.is_string() ? Printable(value.get<std::string>()) : "";
}

// The objects of array `key` (anything else in it is skipped).
std::vector<const json*> Objects(const json& object, const char* key) {
  std::vector<const json*> out;
  const json& items = Member(object, key);
  if (!items.is_array()) return out;
  for (const auto& item : items) {
    if (item.is_object()) out.push_back(&item);
  }
  return out;
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
      const double value = series[j].is_number() ? series[j].get<double>() : 0;
      if (std::isfinite(value) && value > 0) sum += value;
    }
    sums.push_back(std::isfinite(sum) ? sum : 0);
  }
  const double max = *std::max_element(sums.begin(), sums.end());
  std::string out;
  for (const double sum : sums) {
    const int block = max <= 0 || sum <= 0 ? 0 : 1 + static_cast<int>((sum / max) * 7.999);
    out += kBlocks[std::clamp(block, 0, 8)];
  }
  return out;
}

double RecentRate(const json& series, size_t seconds) {
  if (!series.is_array() || series.empty()) return 0;
  const size_t n = std::min(series.size(), seconds);
  double sum = 0;
  for (size_t i = series.size() - n; i < series.size(); ++i) {
    const double value = series[i].is_number() ? series[i].get<double>() : 0;
    if (std::isfinite(value) && value > 0) sum += value;
  }
  return std::isfinite(sum) ? sum / static_cast<double>(n) : 0;
}

int Print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace

int RunTables(const InspectArgs& args) {
  auto table_output = WantsTable(args.format);
  if (!table_output.ok()) return Fail(table_output.status(), kUsageError);
  auto conn = FlightConnection::Connect(args.server_url, args.tls_ca, args.connect_wait);
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
  auto conn = FlightConnection::Connect(args.server_url, args.tls_ca, args.connect_wait);
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
  if (!s.is_object()) return "(not a status report)\n";
  const TextTableLimits limits{width, 0};
  std::string out = "Arrowport " + Str(s, "version") + " (DuckDB " + Str(s, "duckdb_version") +
                    ", Arrow " + Str(s, "arrow_version") + "), up " +
                    Duration(Num(s, "uptime_s")) + "\n";
  const json& listeners = Member(s, "listeners");
  for (const auto& [name, label] : {std::pair<const char*, const char*>{"flight", "Flight  "},
                                    {"http", "HTTP    "},
                                    {"metrics", "Metrics "}}) {
    const std::string url = Str(listeners, name);
    if (!url.empty()) out += std::string(label) + " " + url + "\n";
  }
  const json& db = Member(s, "database");
  const auto bytes = [](int64_t n) { return HumanBytes(static_cast<double>(n)); };
  // Null for a user limited to some tables or streams; the path is for admins only.
  if (db.is_object()) {
    const std::string path = Str(db, "path");
    const int64_t wal = Int(db, "wal_bytes");
    out += "Database " + (path.empty() ? std::string() : path + ", ") +
           bytes(Int(db, "size_bytes")) + (wal ? " + WAL " + bytes(wal) : std::string()) +
           "; DuckDB memory " + bytes(Int(db, "memory_bytes")) + " of " +
           Str(db, "memory_limit") + "; process RSS " +
           bytes(Int(Member(s, "process"), "rss_bytes")) + "\n";
  }

  out += "\nStreams (rows/s over the last 10 s; chart: last 5 minutes)\n";
  TextTable streams({"stream", "table", "commit", "rows", "rows/s", "last 5 minutes",
                     "requests", "errors", "last write"},
                    {false, false, false, true, true, false, true, true, false});
  for (const json* st : Objects(s, "streams")) {
    const json& series = Member(*st, "rows_per_second");
    // The latest request's mode, which may differ from the configured one.
    const std::string commit = Str(*st, "last_commit");
    streams.Add({Str(*st, "stream"), Str(*st, "target_table"),
                 commit.empty() ? Str(*st, "commit") : commit,
                 Grouped(Int(*st, "rows")), HumanCount(RecentRate(series, 10)),
                 Sparkline(series, 300, 10), Grouped(Int(*st, "requests")),
                 Grouped(Int(*st, "errors")), Str(*st, "last_write")});
  }
  out += streams.rows() ? streams.Render(limits, false) : "  none yet\n";

  out += "\nTables\n";
  TextTable tables({"name", "kind", "rows", "size"}, {false, false, true, true});
  for (const json* t : Objects(s, "tables")) {
    const int64_t rows = Int(*t, "rows"), size = Int(*t, "bytes");
    tables.Add({Str(*t, "name"), Str(*t, "kind"), rows < 0 ? "-" : Grouped(rows),
                size < 0 ? "-" : bytes(size)});
  }
  out += tables.rows() ? tables.Render(limits, false) : "  none\n";

  out += "\nActive requests\n";
  TextTable calls({"protocol", "method", "user", "target", "rows", "bytes", "running"},
                  {false, false, false, false, true, true, true});
  for (const json* c : Objects(s, "active_calls")) {
    calls.Add({Str(*c, "protocol"), Str(*c, "method"), Str(*c, "user"), Str(*c, "target"),
               Grouped(Int(*c, "rows")), bytes(Int(*c, "bytes")), Duration(Num(*c, "seconds"))});
  }
  out += calls.rows() ? calls.Render(limits, false) : "  none\n";

  out += "\nRecent errors\n";
  if (!Member(s, "recent_errors").is_array()) {
    out += "  shown to admins\n";
  } else if (Objects(s, "recent_errors").empty()) {
    out += "  none\n";
  } else {
    TextTable table({"time", "protocol", "method", "code", "user", "message"});
    for (const json* e : Objects(s, "recent_errors")) {
      table.Add({Str(*e, "time"), Str(*e, "protocol"), Str(*e, "method"), Str(*e, "code"),
                 Str(*e, "user"), Str(*e, "message")});
    }
    out += table.Render(limits, false);
  }
  return out;
}

int RunStatus(const InspectArgs& args) {
  // Text unless JSON is asked for: the summary reads well in a file too.
  if (auto checked = WantsTable(args.format); !checked.ok()) {
    return Fail(checked.status(), kUsageError);
  }
  auto conn = ConnectDataClient(args.server_url, args.tls_ca, args.connect_wait);
  if (!conn.ok()) return Fail(conn.status());
  if (args.ready) {  // a health check: the answer as is, the exit code says it all
    auto ready = (*conn)->Ready();
    if (!ready.ok()) return Fail(ready.status());
    return Print(*ready + (!ready->empty() && ready->back() == '\n' ? "" : "\n"));
  }
  auto status = (*conn)->Status();
  if (!status.ok()) return Fail(status.status());
  // The JSON as the server sent it, checked to be JSON (nothing else reaches the terminal).
  if (args.format == "json") {
    auto doc = json::parse(*status, nullptr, false);
    if (doc.is_discarded()) return Fail(arrow::Status::IOError("the status is not JSON"));
    return Print(doc.dump(2, ' ', true) + "\n");
  }
  return Print(StatusText(*status, StdoutLimits().width));
}

}  // namespace arrowport::cli
