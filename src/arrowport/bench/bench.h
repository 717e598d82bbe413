#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/status.h"

namespace arrowport::bench {

struct BenchOptions {
  std::vector<int64_t> rows = {1'000'000, 10'000'000};
  int repeat = 3;             ///< best of N runs per measurement
  int64_t batch_rows = 65536; ///< client batch size
  std::string work_dir;       ///< where the file database goes ("" = a temp dir)
  bool seed_schema = true;    ///< also run the seed's 2-column schema
  bool concurrency = true;    ///< concurrent producers and 1,000-row round trips
  /// "" (all), "throughput", "latency", "concurrency", "transfer", "metrics", "quack",
  /// "tls", "lake" or "backup"
  std::string only;
  /// The interpreter of the lake part's delta-rs peer ("": .venv/bin/python, else python3)
  std::string python;
  /// duckdb.threads of the throughput runs, ceilings and server alike (0 = all cores);
  /// with two or more, a scaling table follows (each figure over its 1-thread figure).
  std::vector<int> threads = {1, 0};
  /// How to run this executable again (SelfCommand): the end-to-end servers and the plain
  /// Flight ceiling run as its children, so that their CPU is theirs alone.
  std::vector<std::string> self_command;
};

/// One throughput figure of a run, kept for the scaling table.
struct ThroughputFigure {
  std::string schema;
  int64_t rows = 0;
  int threads = 0;
  std::string what;
  double rows_per_second = 0;
};

/// One measured figure: the best wall seconds of the runs, and the least CPU seconds the
/// process that did the work (the server, or this process for work done in it) spent in
/// one of them (0 when not measured).
struct Timing {
  double seconds = 0;
  double cpu_seconds = 0;
};

/// The parts of the benchmark (bench_throughput.cc, bench_latency.cc,
/// bench_concurrency.cc); RunBench runs those `options` ask for.
/// DuckDB's own fastest paths for one table, DuckDB alone (bench_ceilings): measured
/// before anything of ours opened a database in this process, so that no allocation
/// guard of the server's is installed yet (storage/memory/allocation_guard.h).
/// Each figure: best wall seconds of the runs, least CPU seconds of this process
/// (DuckDB's workers included) in one of them.
struct DuckDBAlone {
  Timing ingest_mem;  ///< CTAS from the Arrow stream into an in-memory database
  Timing export_;     ///< materialised parallel Arrow export
};
arrow::Result<DuckDBAlone> MeasureDuckDBAlone(const BenchOptions& options, int64_t rows,
                                              bool two_columns, int threads,
                                              const std::string& db_path);

/// One schema and row count at `threads`; prints its rows and appends them to `figures`.
arrow::Status BenchOne(const BenchOptions& options, const std::string& label, int64_t rows,
                       bool two_columns, int threads, const DuckDBAlone& alone,
                       const std::string& db_path, bool print_header,
                       std::vector<ThroughputFigure>* figures);
/// The scaling table: each figure at `most` threads (0: all cores) over the same figure
/// at `fewest`.
void PrintScaling(const std::vector<ThroughputFigure>& figures, int fewest, int most);
/// One kind of small request, called many times in a row: median and p99 of its round
/// trip, and the CPU per call of the process that served it (its whole run's CPU over
/// the calls), in milliseconds.
struct CallLatency {
  double median_ms = 0;
  double p99_ms = 0;
  double cpu_ms = 0;
};
/// 1,000-row requests to DuckDB alone: the latency part's ceilings, measured in the
/// DuckDB-alone phase (CPU: this process's, DuckDB's workers included).
struct LatencyAlone {
  CallLatency append;  ///< appender of an Arrow batch, committed (file)
  CallLatency query;   ///< the query collected as Arrow
  /// The same with DuckDB's late materialization off, as the server runs it by default.
  CallLatency query_no_late_materialization;
  CallLatency insert;  ///< a one-row INSERT statement, autocommitted (file)
};
arrow::Result<LatencyAlone> MeasureLatencyAlone(const std::string& db_path, int passes);
arrow::Status BenchLatency(const BenchOptions& options, const std::string& db_path,
                           const LatencyAlone& alone);
arrow::Status BenchConcurrency(const BenchOptions& options, const std::string& db_path);
/// DoExchange and server-to-server copy of the largest row count (bench_transfer.cc).
arrow::Status BenchTransfer(const BenchOptions& options, const std::string& db_path);
/// Push and pull beside DuckDB's quack protocol, per row count (bench_quack.cc).
arrow::Status BenchQuack(const BenchOptions& options, const std::string& db_path);
/// Reads of the largest row count over TLS beside the same reads in the clear: HTTPS and
/// grpc+tls against HTTP and grpc (bench_tls.cc).
arrow::Status BenchTls(const BenchOptions& options, const std::string& db_path);
/// Lake ingest (Delta Lake in a directory and on MinIO) beside delta-rs and DuckDB's COPY
/// to Parquet, and two nodes at once, per row count (bench_lake.cc).
arrow::Status BenchLake(const BenchOptions& options, const std::string& db_path);
/// Our online backup of a database per row count beside DuckDB's COPY FROM DATABASE and
/// EXPORT DATABASE of the same file, and a producer's ingest during a backup
/// (bench_backup.cc).
arrow::Status BenchBackup(const BenchOptions& options, const std::string& db_path);
/// What metric updates cost: the same ingest with metrics on and off (bench_metrics.cc).
arrow::Status BenchMetrics(const BenchOptions& options, const std::string& db_path);

/// \brief Runs the in-process benchmark (design section 10) and prints a Markdown table:
/// ceilings measured in the same run, then end-to-end Flight figures with their ratios.
arrow::Status RunBench(const BenchOptions& options);

}  // namespace arrowport::bench
