#include "arrowport/cli/bench.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace arrowport::cli {

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
  std::vector<ThroughputFigure> figures;
  for (int64_t rows : options.rows) {
    if (!st.ok() || !wanted("throughput")) break;
    for (int threads : options.threads) {
      st = BenchOne(options, "5 columns", rows, false, threads, db_path, header, &figures);
      header = false;
      if (!st.ok()) break;
      if (options.seed_schema) {
        st = BenchOne(options, "seed: id, value", rows, true, threads, db_path, false,
                      &figures);
        if (!st.ok()) break;
      }
    }
  }
  if (st.ok() && options.threads.size() > 1 && !figures.empty()) PrintScaling(figures);
  if (st.ok() && options.concurrency && wanted("concurrency")) {
    st = BenchConcurrency(options, db_path);
  }
  if (st.ok() && wanted("transfer")) st = BenchTransfer(options, db_path);
  if (st.ok() && wanted("metrics")) st = BenchMetrics(options, db_path);
  if (st.ok() && wanted("quack")) st = BenchQuack(options, db_path);
  std::error_code ignored;
  if (temporary) std::filesystem::remove_all(dir, ignored);
  return st;
}

}  // namespace arrowport::cli
