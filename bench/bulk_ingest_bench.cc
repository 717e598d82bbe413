// Issue 40's bulk part in process: the CPU of a 10M-row ingest of the bench's table
// (5 columns, 65,536-row batches) into a file database, DuckDB alone (the ceiling:
// CREATE TABLE AS from the Arrow stream, then CHECKPOINT) beside the ingest pipeline
// (mode replace, metrics on, as a DoPut runs it without the network) and beside the
// pipeline's full batch validation alone. Process CPU, DuckDB's workers included.
// Run: bin/microbench --benchmark_filter=Bulk --benchmark_min_time=1x
// --benchmark_repetitions=3 (docs/benchmark-history.md, "Bulk DoPut CPU"); under callgrind, the
// difference between --benchmark_min_time=2x and 1x is one ingest (all threads).
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "arrow/table.h"
#include "arrowport/bench/bench_support.h"
#include "arrowport/bench/duckdb_ceilings.h"
#include "arrowport/cli/generate.h"
#include "arrowport/config/config.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/ingest/validating_reader.h"
#include "arrowport/metrics/server_metrics.h"
#include "arrowport/storage/database/database.h"

namespace {

constexpr int64_t kBulkRows = 10'000'000;
constexpr int64_t kBulkBatchRows = 65'536;  // arrowport bench's client batches

std::shared_ptr<arrow::Table> BulkTable(int64_t rows = kBulkRows) {
  return *arrowport::cli::MakeBenchTable(rows, kBulkBatchRows, false);
}

std::string BulkPath(const char* what) {
  const std::string name = "arrowport-microbench-" + std::string(what) + "-" +
                           std::to_string(::getpid()) + ".duckdb";
  return (std::filesystem::temp_directory_path() / name).string();
}

// The ceiling: DuckDB alone, through its own API.
// Arg: rows (1M for a run under callgrind).
void BM_BulkCreateTableAsAlone(benchmark::State& state) {
  const int64_t rows = state.range(0);
  const auto table = BulkTable(rows);
  const std::string path = BulkPath("bulk-alone");
  arrowport::bench::RemoveDatabaseFiles(path);
  {
    auto duckdb = *arrowport::bench::DuckDBOnly::Open(path, 0);
    for (auto _ : state) {
      auto made =
          duckdb->CreateTableAs("t", std::make_shared<arrow::TableBatchReader>(table));
      if (!made.ok() || *made != rows) state.SkipWithError("CREATE TABLE AS failed");
    }
  }
  arrowport::bench::RemoveDatabaseFiles(path);
  state.SetItemsProcessed(state.iterations() * rows);
}
BENCHMARK(BM_BulkCreateTableAsAlone)
    ->ArgName("rows")
    ->Arg(kBulkRows)
    ->Arg(1'000'000)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

// Ours without the network: the whole ingest pipeline, replacing the table each time.
void BM_BulkIngestPipeline(benchmark::State& state) {
  const auto table = BulkTable();
  const std::string path = BulkPath("bulk-ours");
  arrowport::bench::RemoveDatabaseFiles(path);
  {
    arrowport::storage::DatabaseOptions options;
    options.path = path;
    auto database = *arrowport::storage::Database::Open(options);
    arrowport::ingest::StreamRouter router(arrowport::config::Config{});
    arrowport::metrics::ServerMetrics metrics;
    arrowport::ingest::IngestPipeline pipeline(database.get(), &router,
                                               int64_t{256} << 20, &metrics);
    arrowport::ingest::IngestRequest request;
    request.stream = "t";
    request.mode = arrowport::ingest::WriteMode::kReplace;
    for (auto _ : state) {
      auto result =
          pipeline.Ingest(request, std::make_shared<arrow::TableBatchReader>(table));
      if (!result.ok() || result->rows != kBulkRows) {
        const std::string error = result.ok() ? "rows lost" : result.status().ToString();
        state.SkipWithError(error.c_str());
      }
    }
  }
  arrowport::bench::RemoveDatabaseFiles(path);
  state.SetItemsProcessed(state.iterations() * kBulkRows);
}
BENCHMARK(BM_BulkIngestPipeline)
    ->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond);

// The pipeline's full validation of the batches alone (ValidatingReader).
void BM_BulkValidation(benchmark::State& state) {
  const auto table = BulkTable();
  for (auto _ : state) {
    auto reader = arrowport::ingest::MakeValidatingReader(
        std::make_shared<arrow::TableBatchReader>(table), int64_t{256} << 20);
    auto rows = arrowport::bench::Drain(reader.get());
    if (!rows.ok() || *rows != kBulkRows) state.SkipWithError("validation failed");
  }
  state.SetItemsProcessed(state.iterations() * kBulkRows);
}
BENCHMARK(BM_BulkValidation)->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);

}  // namespace
