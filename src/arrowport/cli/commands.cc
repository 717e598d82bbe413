#include "arrowport/cli/commands.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "arrow/io/interfaces.h"
#include "arrow/record_batch.h"
#include "arrowport/cli/bench.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/file_io.h"
#include "arrowport/cli/generate.h"
#include "arrowport/config/config.h"
#include "arrowport/query/result_writer.h"
#include "arrowport/server/server.h"

extern char** environ;

namespace arrowport::cli {

namespace {

constexpr int kOk = 0;
constexpr int kRuntimeError = 1;
constexpr int kUsageError = 2;
constexpr const char* kDefaultServer = "grpc://localhost:8815";

int Fail(const arrow::Status& status, int code = kRuntimeError) {
  // gRPC appends transport debug context; users need the server's message.
  std::string message = status.message();
  const auto debug = message.find(". gRPC client debug context");
  if (debug != std::string::npos) message.resize(debug);
  std::fprintf(stderr, "arrowport: error: %s\n", message.c_str());
  return code;
}

std::vector<std::string> EnvironEntries() {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) out.emplace_back(*e);
  return out;
}

int Serve(const std::string& config_path, const config::Overrides& overrides) {
  server::ServerSetup setup;
  setup.config_path = config_path;
  setup.environ_entries = EnvironEntries();
  setup.overrides = overrides;
  auto config = config::Load(config_path, setup.environ_entries, overrides);
  if (!config.ok()) return Fail(config.status(), kUsageError);
  setup.config = *config;
  auto server = server::Server::Start(setup);
  if (!server.ok()) return Fail(server.status());
  std::printf("%s\n", (*server)->ReadyLine().c_str());
  std::fflush(stdout);
  auto st = (*server)->ServeUntilSignal();
  if (!st.ok()) return Fail(st);
  return kOk;
}

int Ingest(const std::vector<std::string>& files, const std::string& stream,
           const std::string& table, const std::string& mode, const std::string& commit,
           const std::string& server_url, int64_t batch_rows) {
  auto conn = ConnectDataClient(server_url);
  if (!conn.ok()) return Fail(conn.status());
  int64_t total = 0;
  for (const auto& file : files) {
    auto reader = OpenDataFile(file, batch_rows);
    if (!reader.ok()) return Fail(reader.status());
    nlohmann::json command = {{"stream", stream}};
    if (!table.empty()) command["table"] = table;
    // Only the first file may create/replace; later files append to it.
    command["mode"] = (&file == &files.front()) ? mode : "append";
    if (!commit.empty()) command["commit"] = commit;
    auto summary = (*conn)->Put(command.dump(), *reader);
    if (!summary.ok()) return Fail(summary.status().WithMessage(file, ": ", summary.status().message()));
    auto doc = nlohmann::json::parse(*summary, nullptr, false);
    const int64_t rows = doc.is_object() ? doc.value("rows", int64_t{0}) : 0;
    total += rows;
    std::fprintf(stderr, "%s: %lld rows -> %s\n", file.c_str(), static_cast<long long>(rows),
                 doc.is_object() ? doc.value("table", std::string("?")).c_str() : "?");
    std::printf("%s\n", summary->c_str());
  }
  if (files.size() > 1) std::fprintf(stderr, "total: %lld rows\n", static_cast<long long>(total));
  return kOk;
}

int Query(const std::string& sql, const std::string& format_name, const std::string& output,
          const std::string& server_url) {
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
  auto conn = ConnectDataClient(server_url);
  if (!conn.ok()) return Fail(conn.status());
  auto reader = (*conn)->Get(nlohmann::json{{"sql", sql}}.dump());
  if (!reader.ok()) return Fail(reader.status());
  auto sink = OpenOutput(output);
  if (!sink.ok()) return Fail(sink.status());
  auto rows = query::WriteResult(reader->get(), *format, *sink);
  if (!rows.ok()) return Fail(rows.status());
  auto closed = (*sink)->Close();
  if (!closed.ok()) return Fail(closed);
  if (!output.empty() && output != "-") {
    std::fprintf(stderr, "%lld rows -> %s\n", static_cast<long long>(*rows), output.c_str());
  }
  return kOk;
}

int Tables(const std::string& server_url) {
  auto conn = FlightConnection::Connect(server_url);
  if (!conn.ok()) return Fail(conn.status());
  auto tables = (*conn)->ListTables();
  if (!tables.ok()) return Fail(tables.status());
  for (const auto& t : *tables) {
    std::printf("%s\t%lld rows\n", t.name.c_str(), static_cast<long long>(t.rows));
  }
  return kOk;
}

int Streams(const std::string& server_url) {
  auto conn = FlightConnection::Connect(server_url);
  if (!conn.ok()) return Fail(conn.status());
  auto body = (*conn)->Action("list_streams");
  if (!body.ok()) return Fail(body.status());
  auto doc = nlohmann::json::parse(*body, nullptr, false);
  std::printf("%s\n", doc.is_discarded() ? body->c_str() : doc.dump(2).c_str());
  return kOk;
}

int Generate(int64_t rows, const std::string& output, int64_t batch_rows, uint64_t seed) {
  auto reader = MakeSampleReader(rows, batch_rows, seed);
  auto format = query::ParseResultFormat(FormatForPath(output));
  if (!format.ok()) return Fail(format.status(), kUsageError);
  auto sink = OpenOutput(output);
  if (!sink.ok()) return Fail(sink.status());
  auto written = query::WriteResult(reader.get(), *format, *sink);
  if (!written.ok()) return Fail(written.status());
  auto closed = (*sink)->Close();
  if (!closed.ok()) return Fail(closed);
  std::fprintf(stderr, "%lld rows -> %s\n", static_cast<long long>(*written), output.c_str());
  return kOk;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"Arrowport: move Apache Arrow data in and out of DuckDB over the network",
               "arrowport"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("arrowport ") + ARROWPORT_VERSION);

  // serve
  auto* serve = app.add_subcommand("serve", "Run the server (Flight on one port)");
  std::string config_path;
  std::string db, flight_host, log_format;
  int flight_port = -1, http_port = -1;
  serve->add_option("--config,-c", config_path, "YAML config file")->envname("ARROWPORT_CONFIG");
  serve->add_option("--db", db, "Database file, or :memory:");
  serve->add_option("--host", flight_host, "Address to bind (default 127.0.0.1)");
  serve->add_option("--flight-port", flight_port, "Flight gRPC port (0 = any free port)")
      ->check(CLI::Range(0, 65535));
  serve->add_option("--http-port", http_port, "HTTP port (0 = any free port)")
      ->check(CLI::Range(0, 65535));
  serve->add_option("--log-format", log_format, "text or json")
      ->check(CLI::IsMember({"text", "json"}));

  // ingest
  auto* ingest = app.add_subcommand("ingest", "Send Parquet, Arrow IPC or CSV files to a stream");
  std::vector<std::string> files;
  std::string stream, table, mode = "append", commit, server_url = kDefaultServer;
  int64_t batch_rows = 65536;
  ingest->add_option("files", files, "Input files (.parquet, .arrow/.arrows/.feather, .csv)")
      ->required()->check(CLI::ExistingFile);
  ingest->add_option("--stream,-s", stream, "Stream name")->required();
  ingest->add_option("--table,-t", table, "Target table (default: the stream's routing)");
  ingest->add_option("--mode,-m", mode, "append, create or replace")
      ->check(CLI::IsMember({"append", "create", "replace"}));
  ingest->add_option("--commit", commit, "per_request or per_batch")
      ->check(CLI::IsMember({"per_request", "per_batch"}));
  ingest->add_option("--server", server_url, "Server URL")->envname("ARROWPORT_SERVER");
  ingest->add_option("--batch-rows", batch_rows, "Rows per batch read from files")
      ->check(CLI::PositiveNumber);

  // query
  auto* query = app.add_subcommand("query", "Run SQL on a server and print or save the result");
  std::string sql, format, output;
  query->add_option("sql", sql, "SQL text")->required();
  query->add_option("--format,-f", format, "table, csv, json, parquet, arrow, arrow-file");
  query->add_option("--output,-o", output, "Output file (default stdout)");
  query->add_option("--server", server_url, "Server URL")->envname("ARROWPORT_SERVER");

  auto* tables = app.add_subcommand("tables", "List the server's tables and views");
  tables->add_option("--server", server_url, "Server URL")->envname("ARROWPORT_SERVER");
  auto* streams = app.add_subcommand("streams", "Show stream routing and live counters");
  streams->add_option("--server", server_url, "Server URL")->envname("ARROWPORT_SERVER");

  // generate
  auto* generate = app.add_subcommand("generate", "Write sample data to a file");
  int64_t rows = 1'000'000;
  uint64_t seed = 42;
  generate->add_option("--rows,-n", rows, "Number of rows")->check(CLI::NonNegativeNumber);
  generate->add_option("--output,-o", output, "Output file (.parquet, .arrow, .csv, .json)")
      ->required();
  generate->add_option("--seed", seed, "Random seed");
  generate->add_option("--batch-rows", batch_rows, "Rows per batch")->check(CLI::PositiveNumber);

  // bench
  auto* bench = app.add_subcommand("bench", "Measure ingest/read throughput against ceilings");
  BenchOptions bench_options;
  std::vector<int64_t> bench_rows;
  bench->add_option("--rows", bench_rows, "Row counts (default 1000000 10000000)")
      ->check(CLI::PositiveNumber);
  bench->add_option("--repeat", bench_options.repeat, "Best of N runs")->check(CLI::PositiveNumber);
  bench->add_option("--batch-rows", bench_options.batch_rows, "Client batch size")
      ->check(CLI::PositiveNumber);
  bench->add_option("--dir", bench_options.work_dir, "Directory for the benchmark database");
  bench->add_option("--only", bench_options.only, "Run one part: throughput, latency, concurrency")
      ->check(CLI::IsMember({"throughput", "latency", "concurrency"}));

  app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kOk : kUsageError;
  }

  if (serve->parsed()) {
    config::Overrides overrides;
    if (!db.empty()) overrides.db_path = db;
    if (!flight_host.empty()) overrides.flight_host = flight_host;
    if (!flight_host.empty()) overrides.http_host = flight_host;
    if (flight_port >= 0) overrides.flight_port = flight_port;
    if (http_port >= 0) overrides.http_port = http_port;
    if (!log_format.empty()) overrides.log_format = log_format;
    return Serve(config_path, overrides);
  }
  if (ingest->parsed()) return Ingest(files, stream, table, mode, commit, server_url, batch_rows);
  if (query->parsed()) return Query(sql, format, output, server_url);
  if (tables->parsed()) return Tables(server_url);
  if (streams->parsed()) return Streams(server_url);
  if (generate->parsed()) return Generate(rows, output, batch_rows, seed);
  if (bench->parsed()) {
    if (!bench_rows.empty()) bench_options.rows = bench_rows;
    auto st = RunBench(bench_options);
    return st.ok() ? kOk : Fail(st);
  }
  std::printf("arrowport %s\n", ARROWPORT_VERSION);
  return kOk;
}

}  // namespace arrowport::cli
