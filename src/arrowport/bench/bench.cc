#include "arrowport/bench/bench.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <tuple>

namespace arrowport::bench {

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
  // DuckDB alone first: before any database of ours installs its allocation guard.
  std::map<std::tuple<int64_t, bool, int>, DuckDBAlone> alone;
  if (wanted("throughput")) {
    for (int64_t rows : options.rows) {
      for (int threads : options.threads) {
        for (bool two_columns : {false, true}) {
          if (two_columns && !options.seed_schema) continue;
          auto measured = MeasureDuckDBAlone(options, rows, two_columns, threads, db_path);
          if (!measured.ok()) return measured.status();
          alone[{rows, two_columns, threads}] = *measured;
        }
      }
    }
  }
  if (options.concurrency && wanted("latency")) {
    auto alone_latency = MeasureLatencyAlone(db_path, options.repeat);
    if (!alone_latency.ok()) return alone_latency.status();
    st = BenchLatency(options, db_path, *alone_latency);
  }
  bool header = true;
  std::vector<ThroughputFigure> figures;
  for (int64_t rows : options.rows) {
    if (!st.ok() || !wanted("throughput")) break;
    for (int threads : options.threads) {
      st = BenchOne(options, "5 columns", rows, false, threads, alone[{rows, false, threads}],
                    db_path, header, &figures);
      header = false;
      if (!st.ok()) break;
      if (options.seed_schema) {
        st = BenchOne(options, "seed: id, value", rows, true, threads,
                      alone[{rows, true, threads}], db_path, false, &figures);
        if (!st.ok()) break;
      }
    }
  }
  if (st.ok() && options.threads.size() > 1 && !figures.empty()) {
    // Fewest threads against most (0, all cores, counts as most).
    int fewest = options.threads.front(), most = options.threads.front();
    for (int t : options.threads) {
      if (t != 0 && (fewest == 0 || t < fewest)) fewest = t;
      if (t == 0 || (most != 0 && t > most)) most = t;
    }
    if (fewest != most) PrintScaling(figures, fewest, most);
  }
  if (st.ok() && options.concurrency && wanted("concurrency")) {
    st = BenchConcurrency(options, db_path);
  }
  if (st.ok() && wanted("transfer")) st = BenchTransfer(options, db_path);
  if (st.ok() && wanted("metrics")) st = BenchMetrics(options, db_path);
  if (st.ok() && wanted("quack")) st = BenchQuack(options, db_path);
  if (st.ok() && wanted("tls")) st = BenchTls(options, db_path);
  if (st.ok() && wanted("lake")) st = BenchLake(options, db_path);
  if (st.ok() && wanted("backup")) st = BenchBackup(options, db_path);
  std::error_code ignored;
  if (temporary) std::filesystem::remove_all(dir, ignored);
  return st;
}

}  // namespace arrowport::bench
