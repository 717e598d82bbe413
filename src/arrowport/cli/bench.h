#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arrow/status.h"

namespace arrowport::cli {

struct BenchOptions {
  std::vector<int64_t> rows = {1'000'000, 10'000'000};
  int repeat = 3;             ///< best of N runs per measurement
  int64_t batch_rows = 65536; ///< client batch size
  std::string work_dir;       ///< where the file database goes ("" = a temp dir)
  bool seed_schema = true;    ///< also run the seed's 2-column schema
  bool concurrency = true;    ///< concurrent producers and 1,000-row round trips
  /// "" (all), "throughput", "latency", "concurrency", "transfer" or "metrics"
  std::string only;
};

/// The parts of the benchmark (bench_throughput.cc, bench_latency.cc,
/// bench_concurrency.cc); RunBench runs those `options` ask for.
arrow::Status BenchOne(const BenchOptions& options, const std::string& label, int64_t rows,
                       bool two_columns, const std::string& db_path, bool print_header);
arrow::Status BenchLatency(const std::string& db_path);
arrow::Status BenchConcurrency(const BenchOptions& options, const std::string& db_path);
/// DoExchange and server-to-server copy of the largest row count (bench_transfer.cc).
arrow::Status BenchTransfer(const BenchOptions& options, const std::string& db_path);
/// What metric updates cost: the same ingest with metrics on and off (bench_metrics.cc).
arrow::Status BenchMetrics(const BenchOptions& options, const std::string& db_path);

/// \brief Runs the in-process benchmark (design section 10) and prints a Markdown table:
/// ceilings measured in the same run, then end-to-end Flight figures with their ratios.
arrow::Status RunBench(const BenchOptions& options);

}  // namespace arrowport::cli
