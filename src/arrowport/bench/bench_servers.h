#pragma once

// The servers the bench measures end to end, each a process of its own so that its CPU
// (utime + stime of /proc/PID/stat) is the server's alone: ours (this executable's hidden
// `serve`, the CLI's own serve command), the plain Flight ceiling (its hidden
// `--serve-plain-flight`) and DuckDB alone's CTAS on request (`--serve-duckdb-alone`).

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arrow/result.h"
#include "arrow/status.h"
#include "arrowport/bench/bench.h"
#include "arrowport/bench/child_process.h"

namespace arrowport::bench {

/// The settings of one server of ours, as the in-process bench servers had them.
struct BenchServerOptions {
  std::string db_path;     ///< the bench's file database (removed first); its folder
                           ///< holds the server's config and output
  bool in_memory = false;  ///< ":memory:" instead of `db_path`
  bool metrics = true;  ///< metrics.enabled
  int threads = 0;      ///< duckdb.threads (0: all cores); also the child's Arrow CPU pool
};

/// A server measured from outside: its URLs and its process's CPU so far.
class ServerChild {
 public:
  /// Ours: `options.self_command` + `serve --config FILE ...` with a YAML config written
  /// beside `settings.db_path` (log.level warn, metrics.enabled, duckdb.threads), the
  /// database and free loopback ports on the command line; returns once its ready line
  /// says both listeners accept.
  static arrow::Result<std::unique_ptr<ServerChild>> StartOurs(
      const BenchOptions& options, const BenchServerOptions& settings);
  /// The plain Flight ceiling: a server of the bench's table of `rows` rows (`two_columns`:
  /// the seed's schema) that streams it (DoGet, GetFlightInfo) and discards uploads
  /// (DoPut); `dir` holds its output files.
  static arrow::Result<std::unique_ptr<ServerChild>> StartPlainFlight(
      const BenchOptions& options, int64_t rows, bool two_columns, const std::string& dir);

  /// DuckDB alone, none of our code: the bench's table of `rows` rows in memory and a
  /// DuckDB file database at `db_path` (removed first) with `threads` threads (0: all
  /// cores); each RunDuckDBAlone() has it run CREATE TABLE AS from the table's Arrow stream
  /// + CHECKPOINT, which the bench alternates with our server's run of the same upload;
  /// a DoPut to it runs the same CTAS + CHECKPOINT from the uploaded stream as it arrives.
  static arrow::Result<std::unique_ptr<ServerChild>> StartDuckDBAlone(
      const BenchOptions& options, int64_t rows, bool two_columns, int threads,
      const std::string& db_path);
  /// One CTAS + CHECKPOINT of the DuckDB alone child; the rows it created.
  arrow::Result<int64_t> RunDuckDBAlone() const;

  const std::string& flight_uri() const { return flight_uri_; }
  const std::string& http_uri() const { return http_uri_; }  ///< "" for plain Flight
  /// The server process's utime + stime so far, in seconds.
  arrow::Result<double> CpuSeconds() const { return ProcessCpuSeconds(process_->pid()); }
  /// SIGTERM and the wait (the destructor does the same, errors ignored).
  arrow::Status Stop() { return process_->Stop(); }

 private:
  /// A ceiling's child: this executable again with `args` and `environment`, ready once
  /// it prints `ready` followed by its Flight URI.
  static arrow::Result<std::unique_ptr<ServerChild>> StartCeiling(
      const BenchOptions& options, const std::vector<std::string>& args,
      const std::vector<std::string>& environment, const std::string& dir,
      const std::string& name, const std::string& ready);
  explicit ServerChild(std::unique_ptr<ChildProcess> process)
      : process_(std::move(process)) {}
  std::unique_ptr<ChildProcess> process_;
  std::string flight_uri_, http_uri_;
};

/// `arrowport-bench --serve-plain-flight ROWS BATCH_ROWS COLUMNS` (COLUMNS 5 or 2): serves
/// the plain Flight ceiling until SIGTERM or SIGINT, after printing "plain Flight ready
/// URI". Returns the exit code.
int ServePlainFlightMain(const std::vector<std::string>& args);

/// `arrowport-bench --serve-duckdb-alone ROWS BATCH_ROWS COLUMNS THREADS PATH`: the DuckDB
/// alone child, whose Flight action "create_table_as" runs one CTAS + CHECKPOINT (and a
/// DoPut the same from its upload), until SIGTERM or SIGINT, after printing "DuckDB alone
/// ready URI". Returns the exit code.
int ServeDuckDBAloneMain(const std::vector<std::string>& args);

}  // namespace arrowport::bench
