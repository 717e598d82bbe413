// The bench's servers as child processes (bench_servers.h).
#include "arrowport/bench/bench_servers.h"

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "arrow/flight/client.h"
#include "arrow/flight/server.h"
#include "arrow/table.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/bench/duckdb_ceilings.h"

namespace arrowport::bench {

namespace fs = std::filesystem;
namespace fl = arrow::flight;

namespace {

// A server opens its database and both listeners before its ready line; a 10M-row file
// left by an earlier part may take a while to remove and open.
constexpr double kReadyTimeoutSeconds = 120;

// The value after `key` ("flight=") in a ready line, up to the next space.
std::string ReadyField(const std::string& line, const std::string& key) {
  const size_t at = line.find(" " + key);
  if (at == std::string::npos) return "";
  const size_t start = at + 1 + key.size();
  return line.substr(start, line.find(' ', start) - start);
}

// Arrow's CPU pool (Parquet's column encoding, CSV's text) gets as many threads as DuckDB
// in the child too: a 1-thread figure is one thread for all of the server's work.
std::vector<std::string> PoolEnvironment(int threads) {
  if (threads <= 0) return {};
  return {"OMP_NUM_THREADS=" + std::to_string(threads)};
}

constexpr char kCreateTableAs[] = "create_table_as";

// The DuckDB alone child's server: one action, CTAS from the table's Arrow stream +
// CHECKPOINT, answered with the rows created. A Flight action only starts it: the CPU the
// bench reads of this process is DuckDB's.
class DuckDBAloneServer : public fl::FlightServerBase {
 public:
  DuckDBAloneServer(std::shared_ptr<arrow::Table> table, std::unique_ptr<DuckDBOnly> duckdb)
      : table_(std::move(table)), duckdb_(std::move(duckdb)) {}

  // The same CTAS + CHECKPOINT from an upload as it arrives: Arrow Flight's own reader of
  // the stream handed to DuckDB's Arrow scan, none of the server's code between them (the
  // bench exports the reader as an Arrow C stream, as for its other DuckDB alone figures).
  arrow::Status DoPut(const fl::ServerCallContext&, std::unique_ptr<fl::FlightMessageReader> reader,
                      std::unique_ptr<fl::FlightMetadataWriter>) override {
    ARROW_ASSIGN_OR_RAISE(auto batches, fl::MakeRecordBatchReader(std::move(reader)));
    return duckdb_->CreateTableAs("ctas", std::move(batches)).status();
  }

  arrow::Status DoAction(const fl::ServerCallContext&, const fl::Action& action,
                         std::unique_ptr<fl::ResultStream>* result) override {
    if (action.type != kCreateTableAs) {
      return arrow::Status::NotImplemented("no action ", action.type);
    }
    ARROW_ASSIGN_OR_RAISE(const int64_t rows,
                          duckdb_->CreateTableAs(
                              "ctas", std::make_shared<arrow::TableBatchReader>(table_)));
    std::vector<fl::Result> results(1);
    results[0].body = arrow::Buffer::FromString(std::to_string(rows));
    *result = std::make_unique<fl::SimpleResultStream>(std::move(results));
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::Table> table_;
  std::unique_ptr<DuckDBOnly> duckdb_;
};

}  // namespace

arrow::Result<std::unique_ptr<ServerChild>> ServerChild::StartOurs(
    const BenchOptions& options, const BenchServerOptions& settings) {
  if (options.self_command.empty()) {
    return arrow::Status::Invalid("the bench does not know how to run itself again");
  }
  RemoveDatabaseFiles(settings.db_path);
  const fs::path dir = fs::path(settings.db_path).parent_path();
  const std::string name =
      settings.in_memory ? "arrowport-server-memory" : "arrowport-server";
  const fs::path config = dir / (name + ".yaml");
  {
    std::ofstream out(config);
    out << "log: {level: warn}\n"
        << "metrics: {enabled: " << (settings.metrics ? "true" : "false") << "}\n"
        << "duckdb: {threads: " << settings.threads << "}\n";
    if (!out) return arrow::Status::IOError("cannot write ", config.string());
  }
  std::vector<std::string> argv = options.self_command;
  const std::vector<std::string> serve = {
      "serve", "--config", config.string(), "--host", "127.0.0.1",
      "--db", settings.in_memory ? ":memory:" : settings.db_path,
      "--flight-port", "0", "--http-port", "0"};
  argv.insert(argv.end(), serve.begin(), serve.end());
  ARROW_ASSIGN_OR_RAISE(auto process, ChildProcess::Start(
                                          argv, PoolEnvironment(settings.threads), dir, name));
  ARROW_ASSIGN_OR_RAISE(const std::string line,
                        process->WaitForLine("arrowport ready ", kReadyTimeoutSeconds));
  std::unique_ptr<ServerChild> child(new ServerChild(std::move(process)));
  child->flight_uri_ = ReadyField(line, "flight=");
  child->http_uri_ = ReadyField(line, "http=");
  if (child->flight_uri_.empty() || child->http_uri_.empty()) {
    return arrow::Status::IOError("unexpected ready line of the server: ", line);
  }
  return child;
}

arrow::Result<std::unique_ptr<ServerChild>> ServerChild::StartCeiling(
    const BenchOptions& options, const std::vector<std::string>& args,
    const std::vector<std::string>& environment, const std::string& dir,
    const std::string& name, const std::string& ready) {
  if (options.self_command.empty()) {
    return arrow::Status::Invalid("the bench does not know how to run itself again");
  }
  std::vector<std::string> argv = options.self_command;
  argv.insert(argv.end(), args.begin(), args.end());
  ARROW_ASSIGN_OR_RAISE(auto process, ChildProcess::Start(argv, environment, dir, name));
  ARROW_ASSIGN_OR_RAISE(const std::string line,
                        process->WaitForLine(ready, kReadyTimeoutSeconds));
  std::unique_ptr<ServerChild> child(new ServerChild(std::move(process)));
  child->flight_uri_ = line.substr(ready.size());
  return child;
}

arrow::Result<std::unique_ptr<ServerChild>> ServerChild::StartPlainFlight(
    const BenchOptions& options, int64_t rows, bool two_columns, const std::string& dir) {
  return StartCeiling(options,
                      {"--serve-plain-flight", std::to_string(rows),
                       std::to_string(options.batch_rows), two_columns ? "2" : "5"},
                      {}, dir, "plain-flight", "plain Flight ready ");
}

arrow::Result<std::unique_ptr<ServerChild>> ServerChild::StartDuckDBAlone(
    const BenchOptions& options, int64_t rows, bool two_columns, int threads,
    const std::string& db_path) {
  RemoveDatabaseFiles(db_path);
  return StartCeiling(options,
                      {"--serve-duckdb-alone", std::to_string(rows),
                       std::to_string(options.batch_rows), two_columns ? "2" : "5",
                       std::to_string(threads), db_path},
                      PoolEnvironment(threads), fs::path(db_path).parent_path().string(),
                      "duckdb-alone", "DuckDB alone ready ");
}

arrow::Result<int64_t> ServerChild::RunDuckDBAlone() const {
  ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::Parse(flight_uri_));
  ARROW_ASSIGN_OR_RAISE(auto client, fl::FlightClient::Connect(location));
  ARROW_ASSIGN_OR_RAISE(auto results, client->DoAction(fl::Action{kCreateTableAs, nullptr}));
  ARROW_ASSIGN_OR_RAISE(auto result, results->Next());
  if (result == nullptr || result->body == nullptr) {
    return arrow::Status::IOError("the DuckDB alone child answered nothing");
  }
  return std::stoll(result->body->ToString());
}

int ServePlainFlightMain(const std::vector<std::string>& args) {
  int64_t rows = 0, batch_rows = 0;
  int columns = 0;
  std::istringstream words(args.size() == 3 ? args[0] + " " + args[1] + " " + args[2] : "");
  if (!(words >> rows >> batch_rows >> columns) || rows <= 0 || batch_rows <= 0 ||
      (columns != 5 && columns != 2)) {
    std::fprintf(stderr, "usage: arrowport-bench --serve-plain-flight ROWS BATCH_ROWS 5|2\n");
    return 2;
  }
  auto served = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, batch_rows, columns == 2));
    ARROW_ASSIGN_OR_RAISE(auto server, InMemoryFlightServer::Start(std::move(table)));
    ARROW_RETURN_NOT_OK(server->SetShutdownOnSignals({SIGTERM, SIGINT}));
    std::printf("plain Flight ready %s\n", server->uri().c_str());
    std::fflush(stdout);
    return server->Serve();
  }();
  if (served.ok()) return 0;
  std::fprintf(stderr, "plain Flight server: %s\n", served.ToString().c_str());
  return 1;
}

int ServeDuckDBAloneMain(const std::vector<std::string>& args) {
  int64_t rows = 0, batch_rows = 0;
  int columns = 0, threads = -1;
  std::string path;
  std::istringstream words;
  if (args.size() == 5) {
    words.str(args[0] + " " + args[1] + " " + args[2] + " " + args[3]);
    path = args[4];
  }
  if (!(words >> rows >> batch_rows >> columns >> threads) || rows <= 0 || batch_rows <= 0 ||
      (columns != 5 && columns != 2) || threads < 0 || path.empty()) {
    std::fprintf(stderr,
                 "usage: arrowport-bench --serve-duckdb-alone ROWS BATCH_ROWS 5|2 THREADS PATH\n");
    return 2;
  }
  auto served = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, batch_rows, columns == 2));
    ARROW_ASSIGN_OR_RAISE(auto duckdb, DuckDBOnly::Open(path, threads));
    DuckDBAloneServer server(std::move(table), std::move(duckdb));
    ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::ForGrpcTcp("127.0.0.1", 0));
    ARROW_RETURN_NOT_OK(server.Init(fl::FlightServerOptions(location)));
    ARROW_RETURN_NOT_OK(server.SetShutdownOnSignals({SIGTERM, SIGINT}));
    std::printf("DuckDB alone ready grpc://127.0.0.1:%d\n", server.port());
    std::fflush(stdout);
    return server.Serve();
  }();
  if (served.ok()) return 0;
  std::fprintf(stderr, "DuckDB alone: %s\n", served.ToString().c_str());
  return 1;
}

}  // namespace arrowport::bench
