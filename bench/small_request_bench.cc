// Where a small request spends its time, piece by piece, in process: DuckDB's cost per
// SQL statement, the storage append alone, the whole ingest pipeline, and a 1,000-row
// query through the query pipeline beside DuckDB alone running it to Arrow.
// Run: bin/microbench (Release build). File-database figures include the WAL fsync.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdio>

#include <filesystem>
#include <optional>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrowport/bench/bench_servers.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/bench/duckdb_ceilings.h"
#include "arrowport/cli/generate.h"
#include "arrowport/config/config.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/query/query_pipeline.h"
#include "arrowport/storage/database/database.h"

namespace {

using arrowport::storage::Database;

// A database that removes its files when done; arg 0 = in memory, 1 = file.
struct BenchDatabase {
  explicit BenchDatabase(bool file) {
    arrowport::storage::DatabaseOptions options;
    if (file) {
      path = (std::filesystem::temp_directory_path() /
              ("arrowport-microbench-" + std::to_string(::getpid()) + ".duckdb"))
                 .string();
      Remove();
      options.path = path;
    } else {
      options.path = ":memory:";
    }
    db = *Database::Open(options);
  }
  ~BenchDatabase() {
    db.reset();
    Remove();
  }
  void Remove() const {
    if (path.empty()) return;
    std::filesystem::remove(path);
    std::filesystem::remove(path + ".wal");
  }
  std::string path;
  std::unique_ptr<Database> db;
};

// DuckDB's fixed cost of one SQL statement (parse, bind, optimise, execute, commit).
void BM_SqlStatement(benchmark::State& state, const char* sql) {
  BenchDatabase bench(false);
  auto conn = *bench.db->Connect();
  (void)conn->Execute("CREATE TABLE s (a BIGINT, b VARCHAR)");
  for (auto _ : state) {
    auto st = conn->Execute(sql);
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
  }
}
BENCHMARK_CAPTURE(BM_SqlStatement, select_1, "SELECT 1")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_SqlStatement, insert_1_row, "INSERT INTO s VALUES (1, 'x')")
    ->Unit(benchmark::kMicrosecond);

// Connection::AppendBatches alone (direct storage append + commit); args: file, rows.
void BM_AppendBatches(benchmark::State& state) {
  BenchDatabase bench(state.range(0) != 0);
  auto table = *arrowport::cli::MakeBenchTable(state.range(1), state.range(1), false);
  auto batch = *table->CombineChunksToBatch();
  arrowport::ingest::StreamRouter router(arrowport::config::Config{});
  arrowport::ingest::IngestPipeline pipeline(bench.db.get(), &router);
  arrowport::ingest::IngestRequest create;
  create.stream = "t";
  (void)*pipeline.Ingest(create, std::make_shared<arrow::TableBatchReader>(table));
  std::vector<std::string> names;
  for (const auto& field : batch->schema()->fields()) names.push_back(field->name());
  auto conn = *bench.db->Connect();
  for (auto _ : state) {
    auto rows = conn->AppendBatches("t", names, {batch});
    if (!rows.ok()) state.SkipWithError(rows.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations() * state.range(1));
}
BENCHMARK(BM_AppendBatches)
    ->ArgNames({"file", "rows"})
    ->ArgsProduct({{0, 1}, {10, 1000}})
    ->Unit(benchmark::kMicrosecond);

// The whole ingest pipeline for one 1,000-row request (what Flight and HTTP call); with
// metrics, as the server counts it: the call's meter (the call runner's) and the
// pipeline's. Under callgrind (bin/microbench --callgrind) the two differ by exactly what
// counting costs, in instructions.
void BM_IngestRequest(benchmark::State& state) {
  BenchDatabase bench(state.range(0) != 0);
  auto table = *arrowport::cli::MakeBenchTable(1000, 1000, false);
  arrowport::ingest::StreamRouter router(arrowport::config::Config{});
  arrowport::metrics::ServerMetrics metrics;
  const bool metered = state.range(1) != 0;
  arrowport::ingest::IngestPipeline pipeline(bench.db.get(), &router, int64_t{256} << 20,
                                             metered ? &metrics : nullptr);
  arrowport::ingest::IngestRequest request;
  request.stream = "t";
  for (auto _ : state) {
    arrowport::CallContext call;
    std::optional<arrowport::metrics::CallMeter> meter;
    if (metered) {
      meter.emplace(metrics.BeginCall("flight", "do_put", "anonymous"));
      call.progress = meter->progress();
    }
    auto result =
        pipeline.Ingest(request, std::make_shared<arrow::TableBatchReader>(table), {}, call);
    if (!result.ok()) state.SkipWithError(result.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_IngestRequest)
    ->ArgNames({"file", "metrics"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Unit(benchmark::kMicrosecond);

// The ceiling of a 1,000-row DoPut: DuckDB alone converting the batch into its appender
// on a file database, committed (as `arrowport bench` measures it).
void BM_AppendAlone(benchmark::State& state) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("arrowport-microbench-append-" + std::to_string(::getpid()) +
                             ".duckdb")).string();
  {
    auto duckdb = *arrowport::bench::DuckDBOnly::Open(path, 0);
    auto table = *arrowport::cli::MakeBenchTable(1000, 1000, false);
    auto batch = *table->CombineChunksToBatch();
    (void)duckdb->CreateTableAs("t", std::make_shared<arrow::TableBatchReader>(table));
    for (auto _ : state) {
      auto st = duckdb->AppendCommitted("t", *batch);
      if (!st.ok()) state.SkipWithError(st.ToString().c_str());
    }
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".wal");
}
BENCHMARK(BM_AppendAlone)->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);

// The two queries of a 1,000-row read: a whole 1,000-row table (what a table ticket
// and `--callgrind-query` read), and `arrowport bench`'s SQL ticket, the first 1,000 rows
// of a 1M-row table (limit_of_1m:1; the bench's server has 2M rows there, its DuckDB
// alone 1M).
constexpr const char* kQuery = "SELECT * FROM t";
constexpr const char* kLimitQuery = "SELECT * FROM t LIMIT 1000";

const char* QueryOf(const benchmark::State& state) {
  return state.range(0) == 1 ? kLimitQuery : kQuery;
}

int64_t TableRowsOf(const benchmark::State& state) {
  return state.range(0) == 1 ? 1000000 : 1000;
}

// The ceiling of a 1,000-row read: DuckDB alone (its C++ API, no code of ours) running
// the query to Arrow (its ArrowFormat collector), on a file database, late
// materialization off as the server runs it.
void BM_QueryAlone(benchmark::State& state) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("arrowport-microbench-alone-" + std::to_string(::getpid()) +
                             ".duckdb")).string();
  {
    auto duckdb = *arrowport::bench::DuckDBOnly::Open(path, 0);
    auto table = *arrowport::cli::MakeBenchTable(TableRowsOf(state), 1000, false);
    (void)duckdb->CreateTableAs("t", std::make_shared<arrow::TableBatchReader>(table));
    (void)duckdb->Run("SET disabled_optimizers = 'late_materialization'");
    for (auto _ : state) {
      auto rows = duckdb->ExportArrow(QueryOf(state), 1000);
      if (!rows.ok() || *rows != 1000) state.SkipWithError("the query did not read 1,000 rows");
    }
  }
  std::filesystem::remove(path);
  std::filesystem::remove(path + ".wal");
}
BENCHMARK(BM_QueryAlone)
    ->ArgName("limit_of_1m")
    ->Arg(0)
    ->Arg(1)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMicrosecond);

// The same query as a DoGet by SQL ticket runs it, without the network: the query
// pipeline (the SQL sandbox, metering, every batch read), metrics on.
void BM_QueryRequest(benchmark::State& state) {
  BenchDatabase bench(true);
  auto table = *arrowport::cli::MakeBenchTable(TableRowsOf(state), 1000, false);
  arrowport::ingest::StreamRouter router(arrowport::config::Config{});
  arrowport::ingest::IngestPipeline ingest(bench.db.get(), &router);
  arrowport::ingest::IngestRequest create;
  create.stream = "t";
  (void)*ingest.Ingest(create, std::make_shared<arrow::TableBatchReader>(table));
  arrowport::metrics::ServerMetrics metrics;
  arrowport::query::QueryPipeline pipeline(
      bench.db.get(), arrowport::query::QueryPipeline::kDefaultBatchRows, &metrics);
  arrowport::query::QueryRequest request;
  request.sql = QueryOf(state);
  for (auto _ : state) {
    arrowport::CallContext call;
    call.protocol = "flight";
    auto reader = pipeline.Execute(request, call);
    auto read = reader.ok() ? (*reader)->ToTable() : reader.status();
    if (!read.ok()) state.SkipWithError(read.status().ToString().c_str());
  }
}
BENCHMARK(BM_QueryRequest)
    ->ArgName("limit_of_1m")
    ->Arg(0)
    ->Arg(1)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMicrosecond);

// `arrowport_microbench --plain-flight-server`: the plain Flight ceiling of `arrowport
// bench` as a process of its own, serving a 1,000-row table (DoGet, GetFlightInfo) and
// discarding uploads (DoPut), until SIGTERM or SIGINT: its CPU per call is read like the
// server's (tests/bench/per_call_cpu.py --plain). The same as `arrowport-bench
// --serve-plain-flight 1000 1000 5`, which the bench's latency part runs.
int ServePlainFlight() {
  return arrowport::bench::ServePlainFlightMain({"1000", "1000", "5"});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--plain-flight-server") return ServePlainFlight();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
