// The lake bench's measurements and table (bench_lake.h).
#include <time.h>

#include <cstdio>

#include "arrowport/bench/bench_lake.h"
#include "arrowport/bench/bench_support.h"

namespace arrowport::bench {

namespace {

double CpuSeconds(clockid_t clock) {
  timespec now{};
  ::clock_gettime(clock, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

}  // namespace

double ThreadCpuSeconds() { return CpuSeconds(CLOCK_THREAD_CPUTIME_ID); }

arrow::Result<Measured> MeasureInProcess(
    const std::function<arrow::Status(double* client_cpu)>& run) {
  double client_cpu = 0;
  const double cpu_before = CpuSeconds(CLOCK_PROCESS_CPUTIME_ID);
  ARROW_ASSIGN_OR_RAISE(const double seconds, SecondsOf([&] { return run(&client_cpu); }));
  return Measured{seconds, CpuSeconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_before - client_cpu};
}

void PrintLakeTable(const std::map<std::string, Scenario>& scenarios,
                    const std::vector<std::string>& order, int64_t rows, int repeat,
                    double bytes_per_row) {
  auto has = [&](const std::string& key) { return scenarios.count(key) > 0; };
  auto rate = [&](const std::string& key) {
    const auto& s = scenarios.at(key);
    return static_cast<double>(s.rows_per_run) / s.best.seconds;
  };
  // "1.23 x what", after a "; " when `ratio` has one already; nothing without `peer`.
  auto add_ratio = [&](std::string* ratio, const std::string& key, const std::string& peer,
                       const char* what) {
    if (!has(peer)) return;
    char text[96];
    std::snprintf(text, sizeof(text), "%s%.2f x %s", ratio->empty() ? "" : "; ",
                  rate(key) / rate(peer), what);
    *ratio += text;
  };
  std::printf("\n| lake ingest, %lld rows x 5 columns, best of %d | rows/s | MB/s | CPU-s "
              "| ratio |\n|---|---:|---:|---:|---|\n",
              static_cast<long long>(rows), repeat);
  for (const auto& key : order) {
    if (!has(key)) continue;
    std::string ratio;
    if (key == "ours_local") {
      add_ratio(&ratio, key, "deltars_local", "delta-rs");
      add_ratio(&ratio, key, "copy", "DuckDB COPY");
    } else if (key == "ours_s3") {
      add_ratio(&ratio, key, "deltars_s3", "delta-rs");
    } else if (key == "ours_ducklake") {
      add_ratio(&ratio, key, "ducklake_peer", "DuckDB 1.5.5 ducklake");
      add_ratio(&ratio, key, "ours_local", "our Delta");
    } else if (key == "pair_local" || key == "pair_s3") {
      add_ratio(&ratio, key, key == "pair_local" ? "ours_local" : "ours_s3", "one node");
    }
    std::printf("| %s | %.2f M | %.0f | %.3f | %s |\n", scenarios.at(key).label.c_str(),
                rate(key) / 1e6, rate(key) * bytes_per_row / 1e6,
                scenarios.at(key).best.cpu_seconds, ratio.c_str());
  }
}

}  // namespace arrowport::bench
