// arrowport bench: throughput of ingest and reads against their ceilings.
#include <arrow/flight/api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>
#include <vector>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrow/util/byte_size.h"
#include "arrow/util/thread_pool.h"
#include "arrowport/bench/duckdb_ceilings.h"
#include "arrowport/bench/bench.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/flight_sql_client.h"
#include "arrowport/cli/generate.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/ingest/validating_reader.h"
#include "arrowport/query/query_pipeline.h"

namespace arrowport::bench {

namespace {

struct Measurement {
  std::string what;
  double seconds = 0;
  double ratio = -1;
};

}  // namespace

arrow::Result<DuckDBAlone> MeasureDuckDBAlone(const BenchOptions& options, int64_t rows,
                                              bool two_columns, int threads,
                                              const std::string& db_path) {
  ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, options.batch_rows, two_columns));
  auto table_reader = [&] { return std::make_shared<arrow::TableBatchReader>(table); };
  DuckDBAlone c;
  const std::string path = db_path + ".duckdb-only";
  RemoveDatabaseFiles(path);
  ARROW_ASSIGN_OR_RAISE(auto duckdb_only, DuckDBOnly::Open(path, threads));
  ARROW_ASSIGN_OR_RAISE(c.ingest, BestSeconds(options.repeat, rows, [&] {
    return duckdb_only->CreateTableAs("ctas", table_reader());
  }));
  ARROW_ASSIGN_OR_RAISE(c.export_, BestSeconds(options.repeat, rows, [&] {
    return duckdb_only->ExportArrow("SELECT * FROM ctas", query::QueryPipeline::kDefaultBatchRows);
  }));
  duckdb_only.reset();
  RemoveDatabaseFiles(path);
  ARROW_ASSIGN_OR_RAISE(auto in_memory, DuckDBOnly::Open(":memory:", threads));
  ARROW_ASSIGN_OR_RAISE(c.ingest_mem, BestSeconds(options.repeat, rows, [&] {
    return in_memory->CreateTableAs("ctas", table_reader());
  }));
  return c;
}

namespace {

// The other ceilings of one table, in this process: plain Flight (none of our code), and
// our pipelines without the network (labelled ours).
struct Ceilings {
  double pipeline = 0;      // ours: the ingest pipeline in process, no network
  double validation = 0;    // ours: full batch validation alone
  double export_ = 0;       // ours: DuckDB export through the query pipeline
  double transfer_get = 0;  // plain Flight DoGet of the in-memory table
  double transfer_put = 0;  // plain Flight DoPut, discarded
};

arrow::Result<Ceilings> MeasureCeilings(const BenchOptions& options,
                                        const std::shared_ptr<arrow::Table>& table,
                                        int64_t rows, int threads, const std::string& db_path) {
  Ceilings c;
  auto table_reader = [&] { return std::make_shared<arrow::TableBatchReader>(table); };
  ARROW_ASSIGN_OR_RAISE(auto ceiling, CeilingDatabase::Open(db_path, threads));
  ARROW_ASSIGN_OR_RAISE(c.validation, BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
    auto reader = ingest::MakeValidatingReader(table_reader(), int64_t{1} << 40);
    return Drain(reader.get());
  }));
  ingest::StreamRouter router(config::Config{});
  ingest::IngestPipeline ingest(ceiling->database.get(), &router);
  query::QueryPipeline query(ceiling->database.get());
  ingest::IngestRequest replace;
  replace.stream = "bench";
  replace.mode = ingest::WriteMode::kReplace;
  ARROW_ASSIGN_OR_RAISE(c.pipeline, BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
    ARROW_ASSIGN_OR_RAISE(auto r, ingest.Ingest(replace, table_reader()));
    return r.rows;
  }));
  ARROW_ASSIGN_OR_RAISE(c.export_, BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
    query::QueryRequest request;
    request.table = "bench";
    ARROW_ASSIGN_OR_RAISE(auto reader, query.Execute(request));
    return Drain(reader.get());
  }));
  ARROW_ASSIGN_OR_RAISE(auto plain, InMemoryFlightServer::Start(table));
  ARROW_ASSIGN_OR_RAISE(auto plain_client, FlightConnection::Connect(plain->uri()));
  ARROW_ASSIGN_OR_RAISE(c.transfer_get, BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
    ARROW_ASSIGN_OR_RAISE(auto reader, plain_client->Get("all"));
    return Drain(reader.get());
  }));
  ARROW_ASSIGN_OR_RAISE(c.transfer_put, BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
    ARROW_RETURN_NOT_OK(plain_client->Put("{}", table_reader()).status());
    return rows;
  }));
  ARROW_RETURN_NOT_OK(plain->Shutdown());
  return c;
}

// The same table through the server, end to end over loopback.
struct EndToEnd {
  double flight_put = 0, flight_get = 0, http_put = 0, http_get = 0;
  double flight_put_mem = 0;  // Flight DoPut into a server on an in-memory database
  double sql_put = 0, sql_get = 0;  // Flight SQL (ADBC/JDBC/Polars): bulk ingest, fetch
  double http_parquet = 0, http_csv = 0;  // HTTP reads in the other formats
  double seed_json = -1;  // measured at 1M rows and below
};

arrow::Result<EndToEnd> MeasureEndToEnd(const BenchOptions& options,
                                        const std::shared_ptr<arrow::Table>& table,
                                        int64_t rows, int threads,
                                        const std::string& db_path) {
  ARROW_ASSIGN_OR_RAISE(auto srv, StartBenchServer(db_path, {}, true, threads));
  ARROW_ASSIGN_OR_RAISE(auto flight, FlightConnection::Connect(srv->flight_uri()));
  ARROW_ASSIGN_OR_RAISE(auto http, ConnectDataClient(srv->http_uri()));
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
  EndToEnd e;
  ARROW_ASSIGN_OR_RAISE(e.flight_put, put_seconds(flight.get()));
  ARROW_ASSIGN_OR_RAISE(e.flight_get, get_seconds(flight.get()));
  ARROW_ASSIGN_OR_RAISE(e.http_put, put_seconds(http.get()));
  ARROW_ASSIGN_OR_RAISE(e.http_get, get_seconds(http.get()));
  for (auto [format, seconds] : {std::pair{"parquet", &e.http_parquet}, {"csv", &e.http_csv}}) {
    ARROW_ASSIGN_OR_RAISE(*seconds, BestSeconds(options.repeat, rows, [&, format = format] {
      return DownloadRows(srv->http_uri(), "bench", format);
    }));
  }
  // Flight SQL, the protocol of ADBC/JDBC/Polars: a statement fetch and a bulk ingest.
  ARROW_ASSIGN_OR_RAISE(auto flight_sql, FlightSqlConnection::Connect(srv->flight_uri()));
  ARROW_ASSIGN_OR_RAISE(e.sql_get, BestSeconds(options.repeat, rows, [&]() {
    return flight_sql->Fetch("SELECT * FROM bench");
  }));
  ARROW_ASSIGN_OR_RAISE(e.sql_put, BestSeconds(options.repeat, rows, [&]() {
    return flight_sql->IngestReplace("bench", std::make_shared<arrow::TableBatchReader>(table));
  }));
  flight_sql.reset();
  if (rows <= 1'000'000) {
    ARROW_ASSIGN_OR_RAISE(auto body, SeedJsonBody(*table));
    ARROW_ASSIGN_OR_RAISE(e.seed_json, BestSeconds(options.repeat, rows, [&]() -> arrow::Result<int64_t> {
      return PostSeedJson(srv->http_uri(), body);
    }));
  }
  ARROW_RETURN_NOT_OK(srv->Shutdown());
  srv.reset();
  ARROW_ASSIGN_OR_RAISE(auto in_memory, StartBenchServer(":memory:", {}, true, threads));
  ARROW_ASSIGN_OR_RAISE(auto memory_flight, FlightConnection::Connect(in_memory->flight_uri()));
  ARROW_ASSIGN_OR_RAISE(e.flight_put_mem, put_seconds(memory_flight.get()));
  memory_flight.reset();
  ARROW_RETURN_NOT_OK(in_memory->Shutdown());
  return e;
}

}  // namespace

arrow::Status BenchOne(const BenchOptions& options, const std::string& label, int64_t rows,
                       bool two_columns, int threads, const DuckDBAlone& alone,
                       const std::string& db_path, bool print_header,
                       std::vector<ThroughputFigure>* figures) {
  ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, options.batch_rows, two_columns));
  const double bytes = static_cast<double>(arrow::util::TotalBufferSize(*table));
  // Arrow's CPU pool (Parquet's column encoding, CSV's text) gets as many threads as
  // DuckDB: a 1-thread figure is one thread for all of the server's work.
  const int pool_before = arrow::GetCpuThreadPoolCapacity();
  ARROW_RETURN_NOT_OK(arrow::SetCpuThreadPoolCapacity(
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))));
  auto measured = [&]() -> arrow::Result<std::pair<Ceilings, EndToEnd>> {
    ARROW_ASSIGN_OR_RAISE(auto c, MeasureCeilings(options, table, rows, threads, db_path));
    ARROW_ASSIGN_OR_RAISE(auto e, MeasureEndToEnd(options, table, rows, threads, db_path));
    return std::make_pair(c, e);
  }();
  ARROW_RETURN_NOT_OK(arrow::SetCpuThreadPoolCapacity(pool_before));
  ARROW_RETURN_NOT_OK(measured.status());
  const auto& [c, e] = *measured;
  // A read is bounded by the slower of DuckDB's export and the plain transfer.
  const double read_ceiling = std::max(alone.export_, c.transfer_get);
  std::vector<Measurement> results = {
      {"ceiling: DuckDB alone, CTAS from the Arrow stream + CHECKPOINT (file)", alone.ingest},
      {"ceiling: DuckDB alone, CTAS from the Arrow stream (in memory)", alone.ingest_mem},
      {"ceiling: DuckDB alone, materialised parallel Arrow export", alone.export_},
      {"ceiling: plain Flight DoGet of in-memory table", c.transfer_get},
      {"ceiling: plain Flight DoPut, discarded", c.transfer_put},
      {"ours: ingest pipeline in process, no network (validation included)", c.pipeline,
       alone.ingest / c.pipeline},
      {"ours: full validation of the batches alone (runs beside DuckDB)", c.validation,
       c.validation / c.pipeline},
      {"ours: DuckDB export through the query pipeline, in process", c.export_,
       alone.export_ / c.export_},
      {"Flight DoPut -> DuckDB file (end to end)", e.flight_put, alone.ingest / e.flight_put},
      {"Flight DoPut -> DuckDB in memory (end to end)", e.flight_put_mem,
       alone.ingest_mem / e.flight_put_mem},
      {"Flight DoGet <- DuckDB (end to end)", e.flight_get, read_ceiling / e.flight_get},
      {"HTTP POST /ingest -> DuckDB (end to end)", e.http_put, alone.ingest / e.http_put},
      {"HTTP GET /tables (Arrow) <- DuckDB (end to end)", e.http_get,
       alone.export_ / e.http_get},
      {"HTTP GET /tables?format=parquet <- DuckDB (ratio: vs the Arrow read)", e.http_parquet,
       e.http_get / e.http_parquet},
      {"HTTP GET /tables?format=csv <- DuckDB (ratio: vs the Arrow read)", e.http_csv,
       e.http_get / e.http_csv},
  };
  results.push_back({"Flight SQL ingest -> DuckDB (ratio: vs Flight DoPut)", e.sql_put,
                     e.flight_put / e.sql_put});
  results.push_back({"Flight SQL statement fetch <- DuckDB (ratio: vs Flight DoGet)", e.sql_get,
                     e.flight_get / e.sql_get});
  if (e.seed_json > 0) {
    results.push_back({"HTTP POST /stream (seed JSON, base64; ratio: vs HTTP /ingest)",
                       e.seed_json, e.http_put / e.seed_json});
  }
  if (print_header) {
    std::printf(
        "| schema | rows | threads | measurement | rows/s | MB/s | ratio to ceiling |\n");
    std::printf("|---|---:|---:|---|---:|---:|---:|\n");
  }
  for (const auto& m : results) {
    char ratio[32] = "";
    if (m.ratio >= 0) std::snprintf(ratio, sizeof(ratio), "%.2f x", m.ratio);
    std::printf("| %s | %lld | %s | %s | %.2f M | %.0f | %s |\n", label.c_str(),
                static_cast<long long>(rows), ThreadsLabel(threads).c_str(), m.what.c_str(),
                rows / m.seconds / 1e6, bytes / m.seconds / 1e6, ratio);
    figures->push_back({label, rows, threads, m.what, rows / m.seconds});
  }
  std::fflush(stdout);
  return arrow::Status::OK();
}

void PrintScaling(const std::vector<ThroughputFigure>& figures, int fewest, int most) {
  std::printf("\n| schema | rows | measurement | %s thread(s) | %s | scaling |\n",
              ThreadsLabel(fewest).c_str(),
              most == 0 ? "all cores" : (ThreadsLabel(most) + " threads").c_str());
  std::printf("|---|---:|---|---:|---:|---:|\n");
  for (const auto& low : figures) {
    if (low.threads != fewest) continue;
    for (const auto& high : figures) {
      if (high.threads != most || high.schema != low.schema || high.rows != low.rows ||
          high.what != low.what) {
        continue;
      }
      std::printf("| %s | %lld | %s | %.2f M | %.2f M | %.2f x |\n", low.schema.c_str(),
                  static_cast<long long>(low.rows), low.what.c_str(),
                  low.rows_per_second / 1e6, high.rows_per_second / 1e6,
                  high.rows_per_second / low.rows_per_second);
    }
  }
  std::fflush(stdout);
}

}  // namespace arrowport::bench
