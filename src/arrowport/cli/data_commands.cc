#include "arrowport/cli/data_commands.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>

#include "arrow/io/interfaces.h"
#include "arrow/record_batch.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/exit_status.h"
#include "arrowport/cli/file_io.h"
#include "arrowport/cli/generate.h"
#include "arrowport/cli/progress.h"
#include "arrowport/cli/query_progress.h"
#include "arrowport/cli/terminal_text.h"
#include "arrowport/cli/text_table.h"
#include "arrowport/query/result_writer.h"

namespace arrowport::cli {

namespace {

/// The server's summary of one file's upload, checked: the CLI reports what the server
/// says it committed, or fails. A call that ended OK without a summary (another Flight
/// server, a reply lost) leaves the outcome unknown: a retry could store the rows twice.
arrow::Result<nlohmann::json> CommittedSummary(const std::string& file,
                                               const std::string& summary) {
  auto doc = nlohmann::json::parse(summary, nullptr, false);
  // A per_batch acknowledgement has rows too: the summary is the one naming the table.
  if (doc.is_object() && doc.contains("rows") && doc["rows"].is_number_integer() &&
      doc.contains("table") && doc["table"].is_string() &&
      doc.value("committed", false) == true) {
    return doc;
  }
  const std::string seen = summary.empty() ? std::string("none") : "'" + summary + "'";
  return arrow::Status::IOError(
      file, ": the server ended the upload without a summary of committed rows (got ",
      seen, "), so whether its rows were stored is unknown; check the table (SELECT "
      "count(*)) before sending the file again");
}

}  // namespace

int Ingest(const std::vector<std::string>& files, const std::string& stream,
           const std::string& table, const std::string& mode, const std::string& commit,
           const std::string& server_url, const std::string& tls_ca, int64_t batch_rows,
           double connect_wait) {
  auto conn = ConnectDataClient(server_url, tls_ca, connect_wait);
  if (!conn.ok()) return Fail(conn.status());
  int64_t total = 0;
  for (const auto& file : files) {
    auto reader = OpenDataFile(file, batch_rows);
    if (!reader.ok()) return Fail(reader.status());
    Progress progress("ingesting " + file);
    nlohmann::json command = {{"stream", stream}};
    if (!table.empty()) command["table"] = table;
    // Only the first file may create/replace; later files append to it.
    command["mode"] = (&file == &files.front()) ? mode : "append";
    if (!commit.empty()) command["commit"] = commit;
    // Committed only once the file was read to its end (an end marker after the last
    // batch): a file that fails to read midway leaves nothing behind.
    command["sealed"] = true;
    auto summary = (*conn)->Put(command.dump(), progress.Counting(*reader));
    progress.Stop();
    if (!summary.ok()) return Fail(summary.status().WithMessage(file, ": ", summary.status().message()));
    auto doc = CommittedSummary(file, *summary);
    if (!doc.ok()) return Fail(doc.status());
    const int64_t rows = (*doc)["rows"].get<int64_t>();
    total += rows;
    const std::string line = file + ": " + std::to_string(rows) + " rows -> " +
                             doc->value("table", std::string("?"));
    std::fprintf(stderr, "%s\n", ForTerminal(line, STDERR_FILENO).c_str());
    std::printf("%s\n", ForTerminal(*summary, STDOUT_FILENO).c_str());
  }
  if (files.size() > 1) std::fprintf(stderr, "total: %lld rows\n", static_cast<long long>(total));
  return kOk;
}

int Query(const std::string& sql, const std::string& format_name, const std::string& output,
          const std::string& server_url, const std::string& tls_ca, double connect_wait) {
  std::string name = format_name;
  if (name.empty()) name = output.empty() || output == "-" ? "table" : FormatForPath(output);
  auto format = query::ParseResultFormat(name);
  if (!format.ok()) return Fail(format.status(), kUsageError);
  if (output.empty() && (*format == query::ResultFormat::kParquet ||
                         *format == query::ResultFormat::kArrowStream ||
                         *format == query::ResultFormat::kArrowFile) &&
      isatty(STDOUT_FILENO)) {
    return Fail(arrow::Status::Invalid("refusing to write binary ", name,
                                       " to a terminal; use -o FILE or a pipe"),
                kUsageError);
  }
  auto conn = ConnectDataClient(server_url, tls_ca, connect_wait);
  if (!conn.ok()) return Fail(conn.status());
  const bool to_file = !output.empty() && output != "-";
  // On a terminal the rows come out above the progress line as they are printed (the
  // table's first rows at once); in a pipe (a pager, head) nothing is drawn beside them.
  std::optional<Progress> progress;
  if (to_file) {
    progress.emplace("query -> " + output);
  } else if (isatty(STDOUT_FILENO)) {
    progress.emplace("query");
  }
  // Before its first row, a query's line says how far DuckDB is (a sort of millions of
  // rows said "0 rows" for its seconds): asked of a Flight server (query_progress).
  auto* flight = dynamic_cast<FlightConnection*>(conn->get());
  std::optional<QueryProgressPoller> poller;
  if (progress && progress->shown() && flight != nullptr) {
    poller.emplace([flight](const std::string& body) {
      return flight->Action("query_progress", body, QueryProgressPoller::kAskTimeoutS);
    }, &*progress);
  }
  // An error is printed once the line is gone.
  const auto fail = [&](const arrow::Status& status) {
    poller.reset();
    if (progress) progress->Stop();
    return Fail(status);
  };
  const std::string ticket = nlohmann::json{{"sql", sql}}.dump();
  auto reader = poller ? flight->Get(ticket, poller->key()) : (*conn)->Get(ticket);
  if (!reader.ok()) return fail(reader.status());
  auto sink = OpenOutput(output);
  if (!sink.ok()) return fail(sink.status());
  std::shared_ptr<arrow::RecordBatchReader> result = *reader;
  std::shared_ptr<arrow::io::OutputStream> out = *sink;
  if (poller) result = poller->UntilFirstRows(std::move(result));
  if (progress) result = progress->Counting(std::move(result));
  if (progress && !to_file) out = progress->Above(out);
  // A table is fitted to the terminal it is shown on; in a file or a pipe it is whole.
  auto rows = WriteFormatted(result.get(), *format, out,
                             to_file ? TextTableLimits{} : StdoutLimits());
  if (progress) progress->Stop();
  if (!rows.ok()) return Fail(rows.status());
  auto closed = (*sink)->Close();
  if (!closed.ok()) return Fail(closed);
  if (to_file) {
    std::fprintf(stderr, "%lld rows -> %s\n", static_cast<long long>(*rows), output.c_str());
  }
  return kOk;
}

int Generate(int64_t rows, const std::string& output, int64_t batch_rows, uint64_t seed,
             const std::string& preset_name) {
  auto preset = ParseSamplePreset(preset_name);
  if (!preset.ok()) return Fail(preset.status(), kUsageError);
  auto reader = MakeSampleReader(rows, batch_rows, seed, *preset);
  auto format = query::ParseResultFormat(FormatForPath(output));
  if (!format.ok()) return Fail(format.status(), kUsageError);
  auto sink = OpenOutput(output);
  if (!sink.ok()) return Fail(sink.status());
  Progress progress("generating " + output);
  auto written = WriteFormatted(progress.Counting(reader).get(), *format, *sink);
  progress.Stop();
  if (!written.ok()) return Fail(written.status());
  auto closed = (*sink)->Close();
  if (!closed.ok()) return Fail(closed);
  std::fprintf(stderr, "%lld rows -> %s\n", static_cast<long long>(*written), output.c_str());
  return kOk;
}

}  // namespace arrowport::cli
