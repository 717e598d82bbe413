// Where a small (1,000-row) ingest request spends its time, piece by piece, in process.
// Run: ./bin/arrowport-microbench  (Release build; results vary with the disk's fsync).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>

#include "arrow/record_batch.h"
#include "arrow/table.h"
#include "arrowport/cli/generate.h"
#include "arrowport/config/config.h"
#include "arrowport/ingest/ingest_pipeline.h"
#include "arrowport/ingest/stream_router.h"
#include "arrowport/storage/database.h"

namespace {

using arrowport::storage::Database;

std::shared_ptr<arrow::Table> SmallTable(int64_t rows = 1000) {
  return *arrowport::cli::MakeBenchTable(rows, rows, false);
}

std::string FreshPath(const char* name) {
  auto path = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove(path);
  std::filesystem::remove(path.string() + ".wal");
  return path.string();
}

std::unique_ptr<Database> OpenDatabase(bool file) {
  arrowport::storage::DatabaseOptions options;
  if (const char* sql = std::getenv("MICRO_INIT_SQL")) options.init_sql.push_back(sql);
  options.path = file ? FreshPath("arrowport-microbench.duckdb") : ":memory:";
  return *Database::Open(options);
}

void BM_Connect(benchmark::State& state) {
  auto db = OpenDatabase(false);
  for (auto _ : state) benchmark::DoNotOptimize(db->Connect());
}
BENCHMARK(BM_Connect);

// The appender path alone: one connection, rows straight into an existing table.
void BM_Append1000(benchmark::State& state) {
  auto db = OpenDatabase(state.range(0) != 0);
  auto table = SmallTable(state.range(1));
  auto conn = *db->Connect();
  std::string ddl = "CREATE TABLE t (";
  std::vector<std::string> names;
  auto batch = *table->CombineChunksToBatch();
  for (int i = 0; i < batch->num_columns(); ++i) names.push_back(batch->schema()->field(i)->name());
  (void)conn;
  arrowport::config::Config config;
  arrowport::ingest::StreamRouter router(config);
  arrowport::ingest::IngestPipeline pipeline(db.get(), &router);
  arrowport::ingest::IngestRequest request;
  request.stream = "t";
  (void)*pipeline.Ingest(request, std::make_shared<arrow::TableBatchReader>(table));
  for (auto _ : state) {
    auto rows = conn->AppendBatches("t", names, {batch});
    if (!rows.ok()) state.SkipWithError(rows.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations() * state.range(1));
}
BENCHMARK(BM_Append1000)->ArgsProduct({{0, 1}, {10, 1000}})->Unit(benchmark::kMicrosecond);

// The whole ingest pipeline for one small request (what Flight and HTTP call).
void BM_Ingest1000(benchmark::State& state) {
  auto db = OpenDatabase(state.range(0) != 0);
  auto table = SmallTable();
  arrowport::config::Config config;
  arrowport::ingest::StreamRouter router(config);
  arrowport::ingest::IngestPipeline pipeline(db.get(), &router);
  arrowport::ingest::IngestRequest request;
  request.stream = "t";
  for (auto _ : state) {
    auto result = pipeline.Ingest(request, std::make_shared<arrow::TableBatchReader>(table));
    if (!result.ok()) state.SkipWithError(result.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_Ingest1000)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_Sql(benchmark::State& state, const char* sql) {
  auto db = OpenDatabase(false);
  auto conn = *db->Connect();
  (void)conn->Execute("CREATE TABLE s (a BIGINT, b VARCHAR)");
  for (auto _ : state) {
    auto st = conn->Execute(sql);
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
  }
}
BENCHMARK_CAPTURE(BM_Sql, select1, "SELECT 1")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sql, insert1, "INSERT INTO s VALUES (1, 'x')")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Sql, count, "SELECT count(*) FROM s")->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
