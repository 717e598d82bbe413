#pragma once

// Shared by the parts of `arrowport bench` (throughput, latency, concurrency, tls, ...).

#include <arrow/flight/api.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "arrow/record_batch.h"
#include "arrow/result.h"
#include "arrow/table.h"
#include "arrowport/bench/bench.h"
#include "arrowport/cli/client.h"
#include "arrowport/cli/flight_sql_client.h"
#include "arrowport/cli/generate.h"
#include "arrowport/server/server.h"
#include "arrowport/storage/database/database.h"

namespace arrowport::bench {

// The bench drives servers through the CLI's own clients, with the CLI's sample data.
using cli::ConnectDataClient;
using cli::DataClient;
using cli::FlightConnection;
using cli::FlightSqlConnection;
using cli::MakeBenchTable;

/// The "plain Flight transfer" ceiling: a server that only streams an in-memory table
/// (DoGet) or discards what it receives (DoPut).
class InMemoryFlightServer : public arrow::flight::FlightServerBase {
 public:
  explicit InMemoryFlightServer(std::shared_ptr<arrow::Table> table) : table_(std::move(table)) {}
  /// Listening on a free loopback port; over TLS with `tls`'s certificate and key when
  /// they are set (the TLS bench's ceiling: Arrow Flight's own TLS, none of our code).
  static arrow::Result<std::unique_ptr<InMemoryFlightServer>> Start(
      std::shared_ptr<arrow::Table> table, const config::Config::Tls& tls = {});
  std::string uri() const {
    return (tls_ ? "grpc+tls://127.0.0.1:" : "grpc://127.0.0.1:") + std::to_string(port());
  }
  /// One endpoint: the whole table.
  arrow::Status GetFlightInfo(const arrow::flight::ServerCallContext&,
                              const arrow::flight::FlightDescriptor& descriptor,
                              std::unique_ptr<arrow::flight::FlightInfo>* info) override;
  arrow::Status DoGet(const arrow::flight::ServerCallContext&, const arrow::flight::Ticket&,
                      std::unique_ptr<arrow::flight::FlightDataStream>* stream) override;
  arrow::Status DoPut(const arrow::flight::ServerCallContext&,
                      std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                      std::unique_ptr<arrow::flight::FlightMetadataWriter>) override;

 private:
  std::shared_ptr<arrow::Table> table_;
  bool tls_ = false;
};

/// The ceilings' database: a second file beside the server's, the same code paths, no
/// network. Its files are removed when it goes, whatever the benchmark's outcome.
struct CeilingDatabase {
  static arrow::Result<std::unique_ptr<CeilingDatabase>> Open(const std::string& db_path,
                                                              int threads = 0);
  ~CeilingDatabase();
  std::string path;
  std::unique_ptr<storage::Database> database;
};

/// A DuckDB file and its WAL, gone.
void RemoveDatabaseFiles(const std::string& path);

/// The seconds `run` took, or its error.
arrow::Result<double> SecondsOf(const std::function<arrow::Status()>& run);

/// Best of `repeat` runs; each run returns the rows it moved (checked against `rows`).
arrow::Result<double> BestSeconds(int repeat, int64_t rows,
                                  const std::function<arrow::Result<int64_t>()>& run);

/// The CPU seconds one process has used so far (ProcessCpuSeconds of a server child,
/// SelfCpuSeconds for work done in this process).
using CpuClock = std::function<arrow::Result<double>()>;

/// `cpu` once its process has gone quiet (an interval of 50 ms costing under 2 ms of CPU;
/// at most 5 s): work a run leaves behind, a checkpoint or a deferred free, is charged to
/// that run and not to the next.
arrow::Result<double> SettledCpuSeconds(const CpuClock& cpu);

/// Writes the kernel still holds for the disk (the writes just measured) written out:
/// their write-back, on the machine's two cores, otherwise runs beside the next part and
/// raised a 1,000-row read's CPU per call by 23-43 % for a second or two after a write
/// phase, in some runs (the reading process's caches and cores shared with the kernel's flusher).
void LetWritesLand();

/// BestSeconds with `cpu` read, settled, before and after each run (cpu_seconds 0
/// without a clock); the wall time is the run's alone.
arrow::Result<Timing> BestRun(int repeat, int64_t rows, const CpuClock& cpu,
                              const std::function<arrow::Result<int64_t>()>& run);

/// Reads `reader` to its end; returns the rows read.
arrow::Result<int64_t> Drain(arrow::RecordBatchReader* reader);

/// The setup of an in-process server on loopback (free ports, warnings only) on a fresh
/// file database `db_path` (removed first).
server::ServerSetup BenchServerSetup(const std::string& db_path);
/// An in-process server on loopback, on a fresh file database; `allowed_peers`: its
/// transfer.allowed_peers; `metrics`: its metrics.enabled; `threads`: its duckdb.threads.
/// `tls`: both listeners' certificate and key (empty: plaintext).
arrow::Result<std::unique_ptr<server::Server>> StartBenchServer(
    const std::string& db_path, std::vector<std::string> allowed_peers = {},
    bool metrics = true, int threads = 0, const config::Config::Tls& tls = {});

/// "all" for 0, else the number.
std::string ThreadsLabel(int threads);

/// Downloads table `table` from `url` (the HTTP gateway) as `format` ("parquet" or "csv",
/// uncompressed) and returns the rows it holds: a Parquet file's footer count, a CSV's
/// lines after its header (the bench's values hold no line breaks).
arrow::Result<int64_t> DownloadRows(const std::string& url, const std::string& table,
                                    const std::string& format);

/// The seed endpoint's request: schema and data as base64 Arrow IPC inside JSON.
arrow::Result<std::string> SeedJsonBody(const arrow::Table& table);
/// Posts it to `url`/stream/bench_seed; returns the rows the server processed.
arrow::Result<int64_t> PostSeedJson(const std::string& url, const std::string& body);

}  // namespace arrowport::bench
