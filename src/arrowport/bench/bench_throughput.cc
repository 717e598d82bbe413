// arrowport bench: throughput of ingest and reads against their ceilings.
#include <arrow/flight/api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrow/util/byte_size.h"
#include "arrow/util/thread_pool.h"
#include "arrowport/bench/duckdb_ceilings.h"
#include "arrowport/bench/bench.h"
#include "arrowport/bench/bench_servers.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/bench/child_process.h"
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
  Timing timing;
  double ratio = -1;      // the ceiling's wall seconds over this figure's (higher: faster)
  double cpu_ratio = -1;  // this figure's CPU seconds over the ceiling's (lower: cheaper)
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
  // The table the export reads. Its CTAS is measured by turns with our server's upload
  // (MeasureEndToEnd).
  ARROW_RETURN_NOT_OK(duckdb_only->CreateTableAs("ctas", table_reader()).status());
  ARROW_ASSIGN_OR_RAISE(c.export_, BestRun(options.repeat, rows, SelfCpuSeconds, [&] {
    return duckdb_only->ExportArrow("SELECT * FROM ctas", query::QueryPipeline::kDefaultBatchRows);
  }));
  duckdb_only.reset();
  RemoveDatabaseFiles(path);
  ARROW_ASSIGN_OR_RAISE(auto in_memory, DuckDBOnly::Open(":memory:", threads));
  ARROW_ASSIGN_OR_RAISE(c.ingest_mem, BestRun(options.repeat, rows, SelfCpuSeconds, [&] {
    return in_memory->CreateTableAs("ctas", table_reader());
  }));
  return c;
}

namespace {

// The other ceilings of one table: plain Flight (none of our code; a process of its own),
// and our pipelines in this process without the network (labelled ours).
struct Ceilings {
  Timing pipeline;      // ours: the ingest pipeline in process, no network
  Timing validation;    // ours: full batch validation alone
  Timing export_;       // ours: DuckDB export through the query pipeline
  Timing transfer_get;  // plain Flight DoGet of the in-memory table
  Timing transfer_put;  // plain Flight DoPut, discarded
};

arrow::Result<Ceilings> MeasureCeilings(const BenchOptions& options,
                                        const std::shared_ptr<arrow::Table>& table,
                                        int64_t rows, bool two_columns, int threads,
                                        const std::string& db_path) {
  Ceilings c;
  auto table_reader = [&] { return std::make_shared<arrow::TableBatchReader>(table); };
  auto in_process = [&](const std::function<arrow::Result<int64_t>()>& run) {
    return BestRun(options.repeat, rows, SelfCpuSeconds, run);
  };
  ARROW_ASSIGN_OR_RAISE(auto ceiling, CeilingDatabase::Open(db_path, threads));
  ARROW_ASSIGN_OR_RAISE(c.validation, in_process([&]() -> arrow::Result<int64_t> {
    auto reader = ingest::MakeValidatingReader(table_reader(), int64_t{1} << 40);
    return Drain(reader.get());
  }));
  ingest::StreamRouter router(config::Config{});
  ingest::IngestPipeline ingest(ceiling->database.get(), &router);
  query::QueryPipeline query(ceiling->database.get());
  ingest::IngestRequest replace;
  replace.stream = "bench";
  replace.mode = ingest::WriteMode::kReplace;
  ARROW_ASSIGN_OR_RAISE(c.pipeline, in_process([&]() -> arrow::Result<int64_t> {
    ARROW_ASSIGN_OR_RAISE(auto r, ingest.Ingest(replace, table_reader()));
    return r.rows;
  }));
  ARROW_ASSIGN_OR_RAISE(c.export_, in_process([&]() -> arrow::Result<int64_t> {
    query::QueryRequest request;
    request.table = "bench";
    ARROW_ASSIGN_OR_RAISE(auto reader, query.Execute(request));
    return Drain(reader.get());
  }));
  ceiling.reset();
  const std::string dir = std::filesystem::path(db_path).parent_path().string();
  ARROW_ASSIGN_OR_RAISE(auto plain,
                        ServerChild::StartPlainFlight(options, rows, two_columns, dir));
  const CpuClock plain_cpu = [&] { return plain->CpuSeconds(); };
  ARROW_ASSIGN_OR_RAISE(auto plain_client, FlightConnection::Connect(plain->flight_uri()));
  ARROW_ASSIGN_OR_RAISE(c.transfer_get, BestRun(options.repeat, rows, plain_cpu,
                                                [&]() -> arrow::Result<int64_t> {
    ARROW_ASSIGN_OR_RAISE(auto reader, plain_client->Get("all"));
    return Drain(reader.get());
  }));
  ARROW_ASSIGN_OR_RAISE(c.transfer_put, BestRun(options.repeat, rows, plain_cpu,
                                                [&]() -> arrow::Result<int64_t> {
    ARROW_RETURN_NOT_OK(plain_client->Put("{}", table_reader()).status());
    return rows;
  }));
  plain_client.reset();
  ARROW_RETURN_NOT_OK(plain->Stop());
  return c;
}

// The same table through the server, end to end over loopback.
struct EndToEnd {
  Timing alone_ingest;  // DuckDB alone's CTAS + CHECKPOINT, by turns with flight_put
  Timing alone_streamed;  // the same CTAS from the uploaded Flight stream, by turns too
  Timing flight_put, flight_get, http_put, http_get;
  Timing flight_put_mem;  // Flight DoPut into a server on an in-memory database
  Timing sql_put, sql_get;  // Flight SQL (ADBC/JDBC/Polars): bulk ingest, fetch
  Timing http_parquet, http_csv;  // HTTP reads in the other formats
  Timing seed_json{-1, -1};  // measured at 1M rows and below
};

// Flight DoPut into a server on an in-memory database.
arrow::Result<Timing> MeasureInMemoryPut(const BenchOptions& options,
                                         const std::shared_ptr<arrow::Table>& table,
                                         int64_t rows, int threads,
                                         const std::string& db_path) {
  ARROW_ASSIGN_OR_RAISE(auto in_memory,
                        ServerChild::StartOurs(options, {db_path, true, true, threads}));
  ARROW_ASSIGN_OR_RAISE(auto flight, FlightConnection::Connect(in_memory->flight_uri()));
  ARROW_ASSIGN_OR_RAISE(const Timing put, BestRun(options.repeat, rows,
                                                  [&] { return in_memory->CpuSeconds(); },
                                                  [&]() -> arrow::Result<int64_t> {
    auto reader = std::make_shared<arrow::TableBatchReader>(table);
    ARROW_RETURN_NOT_OK(
        flight->Put(R"({"stream": "bench", "mode": "replace"})", reader).status());
    return rows;
  }));
  flight.reset();
  ARROW_RETURN_NOT_OK(in_memory->Stop());
  return put;
}

// A measured run: the CPU clock it is read by, and the run.
struct Contender {
  CpuClock cpu;
  std::function<arrow::Result<int64_t>()> run;
};

// The contenders run by turns, `repeat` times each, the best of each kept: this VM's CPU
// per unit of the same work drifts by a third within an hour, which a ceiling measured
// minutes before ours put into the ratio. Each round starts one contender later, so that
// none always follows the same one.
arrow::Result<std::vector<Timing>> ByTurns(int repeat, int64_t rows,
                                           const std::vector<Contender>& contenders) {
  std::vector<Timing> best(contenders.size(), Timing{1e300, 1e300});
  for (int i = 0; i < repeat; ++i) {
    for (size_t turn = 0; turn < contenders.size(); ++turn) {
      const size_t k = (turn + static_cast<size_t>(i)) % contenders.size();
      ARROW_ASSIGN_OR_RAISE(const Timing t,
                            BestRun(1, rows, contenders[k].cpu, contenders[k].run));
      best[k] = {std::min(best[k].seconds, t.seconds),
                 std::min(best[k].cpu_seconds, t.cpu_seconds)};
    }
  }
  return best;
}

arrow::Result<EndToEnd> MeasureEndToEnd(const BenchOptions& options,
                                        const std::shared_ptr<arrow::Table>& table,
                                        int64_t rows, bool two_columns, int threads,
                                        const std::string& db_path) {
  // DuckDB alone in a process of its own, as our server is: the same table, its own file.
  const std::string alone_path = db_path + ".duckdb-only";
  ARROW_ASSIGN_OR_RAISE(auto alone, ServerChild::StartDuckDBAlone(options, rows, two_columns,
                                                                  threads, alone_path));
  ARROW_ASSIGN_OR_RAISE(auto srv,
                        ServerChild::StartOurs(options, {db_path, false, true, threads}));
  const CpuClock server_cpu = [&] { return srv->CpuSeconds(); };
  auto measure = [&](const std::function<arrow::Result<int64_t>()>& run) {
    return BestRun(options.repeat, rows, server_cpu, run);
  };
  ARROW_ASSIGN_OR_RAISE(auto flight, FlightConnection::Connect(srv->flight_uri()));
  ARROW_ASSIGN_OR_RAISE(auto http, ConnectDataClient(srv->http_uri()));
  auto upload = [&](DataClient* protocol) {
    return [&, protocol]() -> arrow::Result<int64_t> {
      auto reader = std::make_shared<arrow::TableBatchReader>(table);
      ARROW_RETURN_NOT_OK(
          protocol->Put(R"({"stream": "bench", "mode": "replace"})", reader).status());
      return rows;
    };
  };
  auto put = [&](DataClient* protocol) { return measure(upload(protocol)); };
  auto get = [&](DataClient* protocol) {
    return measure([&]() -> arrow::Result<int64_t> {
      ARROW_ASSIGN_OR_RAISE(auto reader, protocol->Get(R"({"table": "bench"})"));
      return Drain(reader.get());
    });
  };
  EndToEnd e;
  ARROW_ASSIGN_OR_RAISE(auto alone_flight, FlightConnection::Connect(alone->flight_uri()));
  const CpuClock alone_cpu = [&] { return alone->CpuSeconds(); };
  ARROW_ASSIGN_OR_RAISE(
      const auto turns,
      ByTurns(options.repeat, rows,
              {{alone_cpu, [&] { return alone->RunDuckDBAlone(); }},
               {alone_cpu, upload(alone_flight.get())},
               {server_cpu, upload(flight.get())}}));
  e.alone_ingest = turns[0];
  e.alone_streamed = turns[1];
  e.flight_put = turns[2];
  alone_flight.reset();
  ARROW_RETURN_NOT_OK(alone->Stop());
  alone.reset();
  RemoveDatabaseFiles(alone_path);
  ARROW_ASSIGN_OR_RAISE(e.flight_get, get(flight.get()));
  ARROW_ASSIGN_OR_RAISE(e.http_put, put(http.get()));
  ARROW_ASSIGN_OR_RAISE(e.http_get, get(http.get()));
  for (auto [format, timing] : {std::pair{"parquet", &e.http_parquet}, {"csv", &e.http_csv}}) {
    ARROW_ASSIGN_OR_RAISE(*timing, measure([&, format = format] {
      return DownloadRows(srv->http_uri(), "bench", format);
    }));
  }
  // Flight SQL, the protocol of ADBC/JDBC/Polars: a statement fetch and a bulk ingest.
  ARROW_ASSIGN_OR_RAISE(auto flight_sql, FlightSqlConnection::Connect(srv->flight_uri()));
  ARROW_ASSIGN_OR_RAISE(e.sql_get, measure([&]() {
    return flight_sql->Fetch("SELECT * FROM bench");
  }));
  ARROW_ASSIGN_OR_RAISE(e.sql_put, measure([&]() {
    return flight_sql->IngestReplace("bench", std::make_shared<arrow::TableBatchReader>(table));
  }));
  flight_sql.reset();
  if (rows <= 1'000'000) {
    ARROW_ASSIGN_OR_RAISE(auto body, SeedJsonBody(*table));
    ARROW_ASSIGN_OR_RAISE(e.seed_json, measure([&]() -> arrow::Result<int64_t> {
      return PostSeedJson(srv->http_uri(), body);
    }));
  }
  flight.reset();
  http.reset();
  ARROW_RETURN_NOT_OK(srv->Stop());
  srv.reset();
  ARROW_ASSIGN_OR_RAISE(e.flight_put_mem,
                        MeasureInMemoryPut(options, table, rows, threads, db_path));
  return e;
}

// `what` at `t` beside a ceiling of `ceiling_seconds` wall and `ceiling_cpu` CPU seconds.
Measurement Vs(std::string what, const Timing& t, double ceiling_seconds,
               double ceiling_cpu) {
  return {std::move(what), t, ceiling_seconds / t.seconds,
          ceiling_cpu > 0 ? t.cpu_seconds / ceiling_cpu : -1};
}

// Every figure of one table, with its ratios. CPU ceilings of a transfer add plain
// Flight's server CPU for the same direction to DuckDB alone's (issue 40's definition).
std::vector<Measurement> Results(const DuckDBAlone& alone, const Ceilings& c,
                                 const EndToEnd& e) {
  // A read is bounded by the slower of DuckDB's export and the plain transfer.
  const double read_ceiling = std::max(alone.export_.seconds, c.transfer_get.seconds);
  const double put_cpu = e.alone_ingest.cpu_seconds + c.transfer_put.cpu_seconds;
  const double put_mem_cpu = alone.ingest_mem.cpu_seconds + c.transfer_put.cpu_seconds;
  const double get_cpu = alone.export_.cpu_seconds + c.transfer_get.cpu_seconds;
  std::vector<Measurement> results = {
      {"ceiling: DuckDB alone, CTAS from the Arrow stream + CHECKPOINT (file; by turns "
       "with Flight DoPut)",
       e.alone_ingest},
      {"ceiling: DuckDB alone, CTAS from the uploaded Flight stream + CHECKPOINT (Arrow "
       "Flight's reader handed to DuckDB; file; by turns with Flight DoPut)",
       e.alone_streamed},
      {"ceiling: DuckDB alone, CTAS from the Arrow stream (in memory)", alone.ingest_mem},
      {"ceiling: DuckDB alone, materialised parallel Arrow export", alone.export_},
      {"ceiling: plain Flight DoGet of in-memory table", c.transfer_get},
      {"ceiling: plain Flight DoPut, discarded", c.transfer_put},
      Vs("ours: ingest pipeline in process, no network (validation included)", c.pipeline,
         e.alone_ingest.seconds, e.alone_ingest.cpu_seconds),
      // Its share of the pipeline's wall time and CPU, not a speed: lower is cheaper.
      {"ours: full validation of the batches alone (runs beside DuckDB; ratios: its share "
       "of the pipeline's)",
       c.validation, c.validation.seconds / c.pipeline.seconds,
       c.pipeline.cpu_seconds > 0 ? c.validation.cpu_seconds / c.pipeline.cpu_seconds : -1},
      Vs("ours: DuckDB export through the query pipeline, in process", c.export_,
         alone.export_.seconds, alone.export_.cpu_seconds),
      Vs("Flight DoPut -> DuckDB file (end to end)", e.flight_put, e.alone_ingest.seconds,
         put_cpu),
      Vs("Flight DoPut -> DuckDB file (ratios: vs DuckDB alone's CTAS from the uploaded "
         "stream)",
         e.flight_put, e.alone_streamed.seconds, e.alone_streamed.cpu_seconds),
      Vs("Flight DoPut -> DuckDB in memory (end to end)", e.flight_put_mem,
         alone.ingest_mem.seconds, put_mem_cpu),
      Vs("Flight DoGet <- DuckDB (end to end)", e.flight_get, read_ceiling, get_cpu),
      Vs("HTTP POST /ingest -> DuckDB (end to end)", e.http_put, e.alone_ingest.seconds,
         put_cpu),
      Vs("HTTP GET /tables (Arrow) <- DuckDB (end to end)", e.http_get,
         alone.export_.seconds, get_cpu),
      Vs("HTTP GET /tables?format=parquet <- DuckDB (ratio: vs the Arrow read)",
         e.http_parquet, e.http_get.seconds, e.http_get.cpu_seconds),
      Vs("HTTP GET /tables?format=csv <- DuckDB (ratio: vs the Arrow read)", e.http_csv,
         e.http_get.seconds, e.http_get.cpu_seconds),
      Vs("Flight SQL ingest -> DuckDB (ratio: vs Flight DoPut)", e.sql_put,
         e.flight_put.seconds, e.flight_put.cpu_seconds),
      Vs("Flight SQL statement fetch <- DuckDB (ratio: vs Flight DoGet)", e.sql_get,
         e.flight_get.seconds, e.flight_get.cpu_seconds),
  };
  if (e.seed_json.seconds > 0) {
    results.push_back(Vs("HTTP POST /stream (seed JSON, base64; ratio: vs HTTP /ingest)",
                         e.seed_json, e.http_put.seconds, e.http_put.cpu_seconds));
  }
  return results;
}

void PrintHeader() {
  std::printf(
      "ratio to ceiling: our rows/s over the ceiling's (higher is better). CPU: the server "
      "process's utime + stime (end to end), this process's (in process), least of the "
      "runs; CPU ratio: ours over the ceiling's (lower is better), a transfer's ceiling "
      "being DuckDB alone's CPU plus the plain Flight server's for the same direction.\n\n");
  std::printf(
      "| schema | rows | threads | measurement | rows/s | MB/s | ratio to ceiling | "
      "CPU s per M rows | CPU ratio to ceiling |\n");
  std::printf("|---|---:|---:|---|---:|---:|---:|---:|---:|\n");
}

}  // namespace

arrow::Status BenchOne(const BenchOptions& options, const std::string& label, int64_t rows,
                       bool two_columns, int threads, const DuckDBAlone& alone,
                       const std::string& db_path, bool print_header,
                       std::vector<ThroughputFigure>* figures) {
  ARROW_ASSIGN_OR_RAISE(auto table, MakeBenchTable(rows, options.batch_rows, two_columns));
  const double bytes = static_cast<double>(arrow::util::TotalBufferSize(*table));
  // Arrow's CPU pool (Parquet's column encoding, CSV's text) gets as many threads as
  // DuckDB: a 1-thread figure is one thread for all of the work done in this process
  // (the servers' children get the same through OMP_NUM_THREADS).
  const int pool_before = arrow::GetCpuThreadPoolCapacity();
  ARROW_RETURN_NOT_OK(arrow::SetCpuThreadPoolCapacity(
      threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))));
  auto measured = [&]() -> arrow::Result<std::pair<Ceilings, EndToEnd>> {
    ARROW_ASSIGN_OR_RAISE(
        auto c, MeasureCeilings(options, table, rows, two_columns, threads, db_path));
    ARROW_ASSIGN_OR_RAISE(auto e, MeasureEndToEnd(options, table, rows, two_columns, threads, db_path));
    return std::make_pair(c, e);
  }();
  ARROW_RETURN_NOT_OK(arrow::SetCpuThreadPoolCapacity(pool_before));
  ARROW_RETURN_NOT_OK(measured.status());
  const auto& [c, e] = *measured;
  if (print_header) PrintHeader();
  for (const auto& m : Results(alone, c, e)) {
    char ratio[32] = "", cpu_ratio[32] = "";
    if (m.ratio >= 0) std::snprintf(ratio, sizeof(ratio), "%.2f x", m.ratio);
    if (m.cpu_ratio >= 0) std::snprintf(cpu_ratio, sizeof(cpu_ratio), "%.2f x", m.cpu_ratio);
    const double seconds = m.timing.seconds;
    std::printf("| %s | %lld | %s | %s | %.2f M | %.0f | %s | %.3f | %s |\n", label.c_str(),
                static_cast<long long>(rows), ThreadsLabel(threads).c_str(), m.what.c_str(),
                rows / seconds / 1e6, bytes / seconds / 1e6, ratio,
                m.timing.cpu_seconds / (rows / 1e6), cpu_ratio);
    figures->push_back({label, rows, threads, m.what, rows / seconds});
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
