#pragma once

// What the lake bench (bench_lake.cc) measures per scenario, and its table.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/status.h"

namespace arrowport::bench {

/// One timed run: wall seconds and the CPU seconds it cost (see each scenario).
struct Measured {
  double seconds = 0;
  double cpu_seconds = 0;
};

/// One line of the lake table: its runs and the fastest.
struct Scenario {
  std::string label;
  int64_t rows_per_run = 0;  ///< rows one run lands (two nodes: twice the table)
  std::function<arrow::Result<Measured>(int round)> run;
  Measured best{1e300, 0};  ///< the fastest run, with its CPU seconds
};

/// Wall and CPU seconds of `run` in this process: the CPU of all its threads, less what
/// `run` adds to `*client_cpu` (the CPU its clients' calling threads spent), so that an
/// in-process server's share is what remains.
arrow::Result<Measured> MeasureInProcess(
    const std::function<arrow::Status(double* client_cpu)>& run);

/// The CPU seconds the calling thread has used.
double ThreadCpuSeconds();

/// The Markdown table: each measured scenario in `order` with its rate, CPU seconds and
/// ratios.
void PrintLakeTable(const std::map<std::string, Scenario>& scenarios,
                    const std::vector<std::string>& order, int64_t rows, int repeat,
                    double bytes_per_row);

}  // namespace arrowport::bench
