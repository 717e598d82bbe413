#include "arrowport/cli/bench.h"

#include <arrow/flight/api.h>
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <algorithm>
#include <functional>
#include <thread>

#include "arrow/io/memory.h"
#include "arrow/ipc/writer.h"
#include "arrow/record_batch.h"
#include "arrow/util/base64.h"
#include "arrow/table.h"
#include "arrow/util/byte_size.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/flight_sql_client.h"
#include "arrowport/cli/generate.h"
#include "arrowport/common/logger.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/ingest/validating_reader.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/server/server.h"
#include "arrowport/storage/database.h"

namespace arrowport::cli {

namespace fl = arrow::flight;

namespace {

// The "plain Flight transfer" ceiling: a server that only streams an in-memory table.
class InMemoryFlightServer : public fl::FlightServerBase {
 public:
  explicit InMemoryFlightServer(std::shared_ptr<arrow::Table> table) : table_(std::move(table)) {}
  /// Listening on a free loopback port.
  static arrow::Result<std::unique_ptr<InMemoryFlightServer>> Start(
      std::shared_ptr<arrow::Table> table) {
    auto server = std::make_unique<InMemoryFlightServer>(std::move(table));
    ARROW_ASSIGN_OR_RAISE(auto location, fl::Location::ForGrpcTcp("127.0.0.1", 0));
    ARROW_RETURN_NOT_OK(server->Init(fl::FlightServerOptions(location)));
    return server;
  }
  std::string uri() const { return "grpc://127.0.0.1:" + std::to_string(port()); }
  arrow::Status DoGet(const fl::ServerCallContext&, const fl::Ticket&,
                      std::unique_ptr<fl::FlightDataStream>* stream) override {
    auto reader = std::make_shared<arrow::TableBatchReader>(table_);
    *stream = std::make_unique<fl::RecordBatchStream>(reader);
    return arrow::Status::OK();
  }
  arrow::Status DoPut(const fl::ServerCallContext&, std::unique_ptr<fl::FlightMessageReader> reader,
                      std::unique_ptr<fl::FlightMetadataWriter>) override {
    for (;;) {
      ARROW_ASSIGN_OR_RAISE(auto chunk, reader->Next());
      if (!chunk.data) break;
    }
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::Table> table_;
};

// A DuckDB file and its WAL, gone.
void RemoveDatabaseFiles(const std::string& path) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  std::filesystem::remove(path + ".wal", ignored);
}

// The ceilings' database: a second file beside the server's, the same code paths, no
// network. Its files are removed when it goes, whatever the benchmark's outcome.
struct CeilingDatabase {
  static arrow::Result<std::unique_ptr<CeilingDatabase>> Open(const std::string& db_path) {
    auto ceiling = std::make_unique<CeilingDatabase>();
    ceiling->path = db_path + ".ceiling";
    RemoveDatabaseFiles(ceiling->path);
    storage::DatabaseOptions options;
    options.path = ceiling->path;
    ARROW_ASSIGN_OR_RAISE(ceiling->database, storage::Database::Open(options));
    return ceiling;
  }
  ~CeilingDatabase() {
    database.reset();
    RemoveDatabaseFiles(path);
  }
  std::string path;
  std::unique_ptr<storage::Database> database;
};

struct Measurement {
  std::string what;
  double seconds = 0;
  double ratio = -1;
};

// Best of `repeat` runs; each run returns the rows it moved (checked against `rows`).
arrow::Result<double> BestSeconds(int repeat, int64_t rows,
                                  const std::function<arrow::Result<int64_t>()>& run) {
  double best = 1e300;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    ARROW_ASSIGN_OR_RAISE(auto moved, run());
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (moved != rows) {
      return arrow::Status::Invalid("benchmark moved ", moved, " rows, expected ", rows);
    }
    best = std::min(best, s);
  }
  return best;
}

// The seed endpoint's request: schema and data as base64 Arrow IPC inside JSON.
arrow::Result<std::string> SeedJsonBody(const arrow::Table& table) {
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create());
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(sink, table.schema()));
  ARROW_RETURN_NOT_OK(writer->WriteTable(table));
  ARROW_RETURN_NOT_OK(writer->Close());
  ARROW_ASSIGN_OR_RAISE(auto bytes, sink->Finish());
  const std::string data = arrow::util::base64_encode(bytes->ToString());
  return R"({"config": {"target_table": "bench_seed"}, "batch": {"data": ")" + data + "\"}}";
}

arrow::Result<int64_t> PostSeedJson(const std::string& url, const std::string& body) {
  httplib::Client client(url);
  client.set_read_timeout(std::chrono::minutes(10));
  auto result = client.Post("/stream/bench_seed", body, "application/json");
  if (!result || result->status != 200) {
    return arrow::Status::IOError("seed endpoint failed: ",
                                  result ? result->body : httplib::to_string(result.error()));
  }
  auto pos = result->body.find("\"rows_processed\":");
  if (pos == std::string::npos) return arrow::Status::IOError("unexpected seed reply");
  return std::stoll(result->body.substr(pos + 17));
}

arrow::Result<int64_t> Drain(arrow::RecordBatchReader* reader) {
  int64_t rows = 0;
  for (;;) {
    ARROW_ASSIGN_OR_RAISE(auto batch, reader->Next());
    if (!batch) break;
    rows += batch->num_rows();
  }
  return rows;
}

// An in-process server on loopback, on a fresh file database.
arrow::Result<std::unique_ptr<server::Server>> StartBenchServer(const std::string& db_path) {
  RemoveDatabaseFiles(db_path);
  server::ServerSetup setup;
  setup.config.db_path = db_path;
  setup.config.flight.port = 0;
  setup.config.http.port = 0;
  setup.config.log_level = "warn";
  return server::Server::Start(setup);
}

arrow::Status BenchOne(const BenchOptions& options, const std::string& label, int64_t rows,
                       bool two_columns, const std::string& db_path, bool print_header) {
  ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, options.batch_rows, two_columns));
  const double bytes = static_cast<double>(arrow::util::TotalBufferSize(*table));
  // The server under test, in this process, on loopback, on a file database.
  ARROW_ASSIGN_OR_RAISE(auto srv, StartBenchServer(db_path));
  ARROW_ASSIGN_OR_RAISE(auto client, FlightConnection::Connect(srv->flight_uri()));

  ARROW_ASSIGN_OR_RAISE(auto ceiling, CeilingDatabase::Open(db_path));
  ingest::StreamRouter router(config::Config{});
  ingest::IngestPipeline ingest(ceiling->database.get(), &router);
  query::QueryPipeline query(ceiling->database.get());

  ingest::IngestRequest replace;
  replace.stream = "bench";
  replace.mode = ingest::WriteMode::kReplace;

  std::vector<Measurement> results;
  // DuckDB alone: CREATE TABLE AS from the Arrow stream, then CHECKPOINT (the data on disk).
  ARROW_ASSIGN_OR_RAISE(double duckdb_ceiling,
                        BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
                          ARROW_ASSIGN_OR_RAISE(auto conn, ceiling->database->Connect());
                          auto reader = std::make_shared<arrow::TableBatchReader>(table);
                          ARROW_ASSIGN_OR_RAISE(auto relation,
                                                conn->RegisterArrowStream(reader, nullptr));
                          auto st = conn->Execute("CREATE OR REPLACE TABLE ctas AS SELECT * FROM " +
                                                  relation);
                          conn->DropArrowStream(relation);
                          ARROW_RETURN_NOT_OK(st);
                          ARROW_RETURN_NOT_OK(conn->Execute("CHECKPOINT"));
                          return rows;
                        }));
  // Our full validation of every incoming batch (Arrow's ValidateFull), alone.
  ARROW_ASSIGN_OR_RAISE(double validation,
                        BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
                          auto reader = ingest::MakeValidatingReader(
                              std::make_shared<arrow::TableBatchReader>(table), int64_t{1} << 40);
                          return Drain(reader.get());
                        }));
  ARROW_ASSIGN_OR_RAISE(double ingest_ceiling,
                        BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
                          auto reader = std::make_shared<arrow::TableBatchReader>(table);
                          ARROW_ASSIGN_OR_RAISE(auto r, ingest.Ingest(replace, reader));
                          return r.rows;
                        }));
  ARROW_ASSIGN_OR_RAISE(double export_ceiling,
                        BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
                          query::QueryRequest request;
                          request.table = "bench";
                          ARROW_ASSIGN_OR_RAISE(auto reader, query.Execute(request));
                          return Drain(reader.get());
                        }));
  ARROW_ASSIGN_OR_RAISE(auto plain, InMemoryFlightServer::Start(table));
  ARROW_ASSIGN_OR_RAISE(auto plain_client, FlightConnection::Connect(plain->uri()));
  ARROW_ASSIGN_OR_RAISE(double transfer_get,
                        BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
                          ARROW_ASSIGN_OR_RAISE(auto reader, plain_client->Get("all"));
                          return Drain(reader.get());
                        }));
  ARROW_ASSIGN_OR_RAISE(double transfer_put,
                        BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
                          auto reader = std::make_shared<arrow::TableBatchReader>(table);
                          ARROW_RETURN_NOT_OK(plain_client->Put("{}", reader).status());
                          return rows;
                        }));
  ARROW_RETURN_NOT_OK(plain->Shutdown());

  // End to end, the same measurements over each protocol.
  auto put_seconds = [&](DataClient* protocol) {
    return BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
      auto reader = std::make_shared<arrow::TableBatchReader>(table);
      ARROW_RETURN_NOT_OK(
          protocol->Put(R"({"stream": "bench", "mode": "replace"})", reader).status());
      return rows;
    });
  };
  auto get_seconds = [&](DataClient* protocol) {
    return BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
      ARROW_ASSIGN_OR_RAISE(auto reader, protocol->Get(R"({"table": "bench"})"));
      return Drain(reader.get());
    });
  };
  ARROW_ASSIGN_OR_RAISE(auto http, ConnectDataClient(srv->http_uri()));
  ARROW_ASSIGN_OR_RAISE(double flight_put, put_seconds(client.get()));
  ARROW_ASSIGN_OR_RAISE(double flight_get, get_seconds(client.get()));
  // Flight SQL, the protocol of ADBC/JDBC/Polars: a statement fetch and a bulk ingest.
  ARROW_ASSIGN_OR_RAISE(auto flight_sql, FlightSqlConnection::Connect(srv->flight_uri()));
  ARROW_ASSIGN_OR_RAISE(double sql_get, BestSeconds(options.repeat, rows, [&]() {
                          return flight_sql->Fetch("SELECT * FROM bench");
                        }));
  ARROW_ASSIGN_OR_RAISE(double sql_put, BestSeconds(options.repeat, rows, [&]() {
                          return flight_sql->IngestReplace(
                              "bench", std::make_shared<arrow::TableBatchReader>(table));
                        }));
  ARROW_ASSIGN_OR_RAISE(double http_put, put_seconds(http.get()));
  ARROW_ASSIGN_OR_RAISE(double http_get, get_seconds(http.get()));
  double seed_json = -1;
  if (rows <= 1'000'000) {
    ARROW_ASSIGN_OR_RAISE(auto body, SeedJsonBody(*table));
    ARROW_ASSIGN_OR_RAISE(seed_json, BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
      return PostSeedJson(srv->http_uri(), body);
    }));
  }
  const double read_ceiling = std::max(export_ceiling, transfer_get);  // slower = lower rate
  results.push_back({"ceiling: DuckDB CTAS from the Arrow stream + CHECKPOINT", duckdb_ceiling});
  results.push_back({"ours: ingest pipeline in process, no network (validation included)",
                     ingest_ceiling});
  results.push_back({"ours: full validation of the batches alone (runs beside DuckDB)",
                     validation, validation / ingest_ceiling});
  results.push_back({"ours: DuckDB export through the query pipeline, in process", export_ceiling});
  results.push_back({"ceiling: plain Flight DoGet of in-memory table", transfer_get});
  results.push_back({"ceiling: plain Flight DoPut, discarded", transfer_put});
  results.push_back({"Flight DoPut -> DuckDB (end to end)", flight_put, duckdb_ceiling / flight_put});
  results.push_back({"Flight DoGet <- DuckDB (end to end)", flight_get, read_ceiling / flight_get});
  results.push_back({"Flight SQL ingest -> DuckDB (ratio: vs Flight DoPut)", sql_put,
                     flight_put / sql_put});
  results.push_back({"Flight SQL statement fetch <- DuckDB (ratio: vs Flight DoGet)", sql_get,
                     flight_get / sql_get});
  results.push_back({"HTTP POST /ingest -> DuckDB (end to end)", http_put, duckdb_ceiling / http_put});
  results.push_back({"HTTP GET /tables (Arrow) <- DuckDB (end to end)", http_get,
                     export_ceiling / http_get});
  if (seed_json > 0) results.push_back({"HTTP POST /stream (seed JSON, base64)", seed_json});

  if (print_header) {
    std::printf("| schema | rows | measurement | rows/s | MB/s | ratio to ceiling |\n");
    std::printf("|---|---:|---|---:|---:|---:|\n");
  }
  for (const auto& m : results) {
    char ratio[32] = "";
    if (m.ratio >= 0) std::snprintf(ratio, sizeof(ratio), "%.2f x", m.ratio);
    std::printf("| %s | %lld | %s | %.2f M | %.0f | %s |\n", label.c_str(),
                static_cast<long long>(rows), m.what.c_str(), rows / m.seconds / 1e6,
                bytes / m.seconds / 1e6, ratio);
  }
  std::fflush(stdout);
  return srv->Shutdown();
}

// Concurrent producers and small-request latency (ingest you can trust: issue 4).
// Round trip of a 1,000-row request, sequential, on one connection. Runs first, on a
// quiet machine and database: no bulk load's WAL checkpoint or write-back competes with
// the commits being timed.
arrow::Status BenchLatency(const std::string& db_path) {
  constexpr int kRequests = 300;
  ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(1000, 1000, false));
  // Median and p99 of `kRequests` sequential calls, in milliseconds.
  auto latency = [&](const std::function<arrow::Status()>& request)
      -> arrow::Result<std::pair<double, double>> {
    std::vector<double> ms;
    for (int i = 0; i < kRequests; ++i) {
      const auto start = std::chrono::steady_clock::now();
      ARROW_RETURN_NOT_OK(request());
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(ms.begin(), ms.end());
    return std::make_pair(ms[ms.size() / 2], ms[ms.size() * 99 / 100]);
  };
  auto put = [&](DataClient* client) {
    return [client, &table]() {
      return client->Put(R"({"stream": "rt"})", std::make_shared<arrow::TableBatchReader>(table))
          .status();
    };
  };

  // Ceilings: the same request into the same pipeline without a network, and the same
  // bytes over Flight into a server that discards them.
  std::pair<double, double> in_process, transport;
  {
    ARROW_ASSIGN_OR_RAISE(auto ceiling, CeilingDatabase::Open(db_path));
    ingest::StreamRouter router(config::Config{});
    ingest::IngestPipeline pipeline(ceiling->database.get(), &router);
    ingest::IngestRequest request;
    request.stream = "rt";
    ARROW_ASSIGN_OR_RAISE(in_process, latency([&]() {
      return pipeline.Ingest(request, std::make_shared<arrow::TableBatchReader>(table)).status();
    }));
    ceiling.reset();

    ARROW_ASSIGN_OR_RAISE(auto plain, InMemoryFlightServer::Start(table));
    ARROW_ASSIGN_OR_RAISE(auto client, FlightConnection::Connect(plain->uri()));
    ARROW_ASSIGN_OR_RAISE(transport, latency(put(client.get())));
    ARROW_RETURN_NOT_OK(plain->Shutdown());
  }

  ARROW_ASSIGN_OR_RAISE(auto srv, StartBenchServer(db_path));
  ARROW_ASSIGN_OR_RAISE(auto one, ConnectDataClient(srv->flight_uri()));
  ARROW_ASSIGN_OR_RAISE(auto http, ConnectDataClient(srv->http_uri()));
  ARROW_ASSIGN_OR_RAISE(auto flight_rt, latency(put(one.get())));
  ARROW_ASSIGN_OR_RAISE(auto http_rt, latency(put(http.get())));
  // Flight SQL: a prepared query returning the 1,000 rows just written, run repeatedly.
  ARROW_ASSIGN_OR_RAISE(auto flight_sql, FlightSqlConnection::Connect(srv->flight_uri()));
  ARROW_RETURN_NOT_OK(flight_sql->Prepare("SELECT * FROM rt LIMIT 1000"));
  ARROW_ASSIGN_OR_RAISE(auto prepared_rt,
                        latency([&]() { return flight_sql->RunPrepared().status(); }));
  std::printf("\n| 1,000-row request round trip (%d sequential, file database) | median | p99 |\n",
              kRequests);
  std::printf("|---|---:|---:|\n");
  auto row = [](const char* what, const std::pair<double, double>& v) {
    std::printf("| %s | %.2f ms | %.2f ms |\n", what, v.first, v.second);
  };
  row("ours: ingest pipeline, in process (DuckDB commit included)", in_process);
  row("ceiling: plain Flight DoPut, discarded", transport);
  row("Flight DoPut -> DuckDB, one connection (end to end)", flight_rt);
  row("HTTP POST /ingest -> DuckDB, new connection each (end to end)", http_rt);
  row("Flight SQL prepared query of 1,000 rows (GetFlightInfo + DoGet)", prepared_rt);
  flight_sql.reset();
  std::fflush(stdout);
  return srv->Shutdown();
}

arrow::Status BenchConcurrency(const BenchOptions& options, const std::string& db_path) {
  const int64_t rows = options.rows.empty() ? 1'000'000 : options.rows.front();
  ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, options.batch_rows, false));
  ARROW_ASSIGN_OR_RAISE(auto srv, StartBenchServer(db_path));

  ARROW_ASSIGN_OR_RAISE(auto one, ConnectDataClient(srv->flight_uri()));
  // Ceiling for this table, through a single in-process producer of the same server.
  ARROW_ASSIGN_OR_RAISE(double single, BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
    auto reader = std::make_shared<arrow::TableBatchReader>(table);
    ARROW_RETURN_NOT_OK(one->Put(R"({"stream": "conc", "mode": "replace"})", reader).status());
    return rows;
  }));
  std::printf("\n| concurrent producers (Flight DoPut, 5 columns) | rows | rows/s | vs 1 producer |\n");
  std::printf("|---|---:|---:|---:|\n");
  std::printf("| 1 producer | %lld | %.2f M | 1.00 x |\n", static_cast<long long>(rows),
              rows / single / 1e6);
  for (int producers : {4, 16}) {
    ARROW_ASSIGN_OR_RAISE(double seconds, BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
      std::vector<std::thread> threads;
      std::vector<arrow::Status> statuses(producers);
      const int64_t share = rows / producers;
      for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
          statuses[p] = [&]() -> arrow::Status {
            ARROW_ASSIGN_OR_RAISE(auto client, ConnectDataClient(srv->flight_uri()));
            const int64_t length = p == producers - 1 ? rows - share * p : share;
            auto part = table->Slice(share * p, length);
            auto reader = std::make_shared<arrow::TableBatchReader>(part);
            return client->Put(R"({"stream": "conc"})", reader).status();
          }();
        });
      }
      for (auto& t : threads) t.join();
      for (const auto& st : statuses) ARROW_RETURN_NOT_OK(st);
      return rows;
    }));
    std::printf("| %d producers, one table | %lld | %.2f M | %.2f x |\n", producers,
                static_cast<long long>(rows), rows / seconds / 1e6, single / seconds);
  }

  std::fflush(stdout);
  return srv->Shutdown();
}

}  // namespace

arrow::Status RunBench(const BenchOptions& options) {
  std::filesystem::path dir = options.work_dir;
  bool temporary = false;
  if (dir.empty()) {
    dir = std::filesystem::temp_directory_path() /
          ("arrowport-bench-" + std::to_string(::getpid()));
    temporary = true;
  }
  std::filesystem::create_directories(dir);
  const std::string db_path = (dir / "bench.duckdb").string();
  std::fprintf(stderr, "bench: file database %s, best of %d runs, client batches of %lld rows\n",
               db_path.c_str(), options.repeat, static_cast<long long>(options.batch_rows));
  auto wanted = [&](const char* part) { return options.only.empty() || options.only == part; };
  arrow::Status st;
  if (options.concurrency && wanted("latency")) st = BenchLatency(db_path);
  bool header = true;
  for (int64_t rows : options.rows) {
    if (!st.ok() || !wanted("throughput")) break;
    st = BenchOne(options, "5 columns", rows, false, db_path, header);
    header = false;
    if (!st.ok()) break;
    if (options.seed_schema) {
      st = BenchOne(options, "seed: id, value", rows, true, db_path, false);
      if (!st.ok()) break;
    }
  }
  if (st.ok() && options.concurrency && wanted("concurrency")) {
    st = BenchConcurrency(options, db_path);
  }
  std::error_code ignored;
  if (temporary) std::filesystem::remove_all(dir, ignored);
  return st;
}

}  // namespace arrowport::cli
