// Where a small ingest request spends its time, piece by piece, in process: DuckDB's cost
// per SQL statement, the storage append alone, and the whole ingest pipeline.
// Run: bin/microbench (Release build). File-database figures include the WAL fsync.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <filesystem>
#include <optional>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrowport/cli/generate.h"
#include "arrowport/config/config.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/metrics/server_metrics.h"
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

}  // namespace

BENCHMARK_MAIN();
