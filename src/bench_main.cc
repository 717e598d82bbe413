// The arrowport-bench executable: the end-to-end benchmark (docs/benchmark.md), apart from
// the server binary so that `arrowport serve` compiles none of it. `./bin/arrowport bench`
// builds and runs it.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "arrowport/bench/bench.h"
#include "arrowport/bench/bench_servers.h"
#include "arrowport/bench/child_process.h"
#include "arrowport/cli/commands.h"
#include "arrowport/cli/exit_status.h"

int main(int argc, char** argv) {
  // Hidden: the bench runs its servers as children of its own executable, so that their
  // CPU is theirs alone (bench_servers.h). `serve` is the CLI's own serve command, the
  // same code as `arrowport serve`.
  const std::string first = argc > 1 ? argv[1] : "";
  if (first == "serve") return arrowport::cli::Main(argc, argv);
  if (first == "--serve-plain-flight") {
    return arrowport::bench::ServePlainFlightMain({argv + 2, argv + argc});
  }
  if (first == "--serve-duckdb-alone") {
    return arrowport::bench::ServeDuckDBAloneMain({argv + 2, argv + argc});
  }
  CLI::App app{"Measure ingest and read throughput against ceilings measured in the same run",
               "arrowport bench"};
  arrowport::bench::BenchOptions options;
  std::vector<int64_t> rows;
  app.add_option("--rows", rows, "Row counts (default 1000000 10000000)")
      ->check(CLI::PositiveNumber);
  app.add_option("--repeat", options.repeat, "Best of N runs")->check(CLI::PositiveNumber);
  app.add_option("--batch-rows", options.batch_rows, "Client batch size")
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", options.threads,
                 "duckdb.threads of the throughput runs, 0 = all cores (default 1 0)")
      ->check(CLI::Range(0, 1024));
  app.add_flag("!--no-seed-schema", options.seed_schema,
               "Skip the seed's 2-column schema in the throughput part");
  app.add_option("--dir", options.work_dir, "Directory for the benchmark database");
  app.add_option("--only", options.only,
                 "Run one part: throughput, latency, concurrency, transfer, metrics, quack, "
                 "tls, lake, backup")
      ->check(CLI::IsMember({"throughput", "latency", "concurrency", "transfer", "metrics",
                             "quack", "tls", "lake", "backup"}));
  app.add_option("--python", options.python,
                 "Python with deltalake for the lake part's delta-rs peer "
                 "(default: .venv/bin/python, else python3)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!rows.empty()) options.rows = rows;
  auto self = arrowport::bench::SelfCommand(argc);
  if (!self.ok()) return arrowport::cli::Fail(self.status());
  options.self_command = *self;
  const arrow::Status status = arrowport::bench::RunBench(options);
  return status.ok() ? 0 : arrowport::cli::Fail(status);
}
